import * as tfc from '@tensorflow/tfjs-core';
import { type Tensor, tensor4d, tidy, Variable, variableGrads } from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { formatModels, listModels } from '../src/commands/models.js';
import { ConfigError } from '../src/errors.js';
import {
  adaptInputConv,
  backbone,
  buildModel,
  countFlops,
  HEAD_DENSE,
  REGISTRY,
  resetHead,
} from '../src/models/index.js';

/** The backbone (no top) is built at the family's smallest input: its count does not depend on size. */
function firstConvKernelShape(m: LayersModel, name: string): number[] {
  const w = m.getLayer(name).weights[0];
  if (!w) throw new Error(`${name} has no kernel`);
  return w.shape.map(Number);
}

function trainableVariables(m: LayersModel): Variable[] {
  return m.trainableWeights.map((w) => {
    const v = w.read();
    if (!(v instanceof Variable)) throw new Error(`${w.name} is not a variable`);
    return v;
  });
}

/** Architectures whose full backprop fits in the test budget on the cpu backend. */
const GRADIENT_ARCHS = new Set(['mobilenet_v2', 'efficientnet_b0']);

describe.each(REGISTRY.map((s) => [s.name, s] as const))('%s', (_name, spec) => {
  it('has Keras parameter counts (with and without the top) and the registry FLOPs', () => {
    const size = spec.defaultSize;
    const top = spec.build({ inputShape: [size, size, 3], includeTop: true });
    try {
      expect(top.countParams()).toBe(spec.params);
      expect(countFlops(top)).toBe(spec.flops);
      expect(top.getLayer(spec.classifier).outputShape).toEqual([null, 1000]);
      expect(top.getLayer(spec.firstConv).getClassName()).toBe('Conv2D');
    } finally {
      top.dispose();
    }
    const s = spec.minSize;
    const notop = spec.build({ inputShape: [s, s, 3], head: false });
    try {
      expect(notop.countParams()).toBe(spec.paramsNoTop);
      expect(notop.layers.at(-1)?.name).toBe(spec.featureLayer);
    } finally {
      notop.dispose();
    }
  });

  it('ichdet head at the minimum input: shape [2, 6], values in (0, 1), no NaN', () => {
    const s = spec.minSize;
    const m = buildModel(spec.name, { inputShape: [s, s, 3], head: { dropout: 0.2 } });
    try {
      const out = tidy(
        () => m.predict(tfc.randomUniform([2, s, s, 3], 0, 1, 'float32', 1)) as Tensor,
      );
      expect(out.shape).toEqual([2, 6]);
      expect(Array.from(out.dataSync()).every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(
        true,
      );
      out.dispose();
    } finally {
      m.dispose();
    }
  });

  it('builds for 1 and 9 input channels with the first-conv kernel shaped for them', () => {
    const s = spec.minSize;
    for (const c of [1, 9]) {
      const m = spec.build({ inputShape: [s, s, c], head: false });
      try {
        const shape = firstConvKernelShape(m, spec.firstConv);
        expect(shape[2]).toBe(c);
      } finally {
        m.dispose();
      }
    }
  });
});

describe('model surface', () => {
  it('resetHead replaces the ImageNet top by a fresh 6-unit head sharing the backbone weights', () => {
    const m = buildModel('mobilenet_v2', { inputShape: [32, 32, 3], includeTop: true });
    const features = backbone(m, 'mobilenet_v2');
    expect(features.outputs[0]?.shape).toEqual([null, 1, 1, 1280]);
    const r = resetHead(m, 'mobilenet_v2', { numClasses: 6 });
    expect(r.layers.at(-1)?.name).toBe(HEAD_DENSE);
    expect(r.outputs[0]?.shape).toEqual([null, 6]);
    expect(r.countParams()).toBe(2_257_984 + 1280 * 6 + 6);
    expect(r.getLayer('Conv1').weights[0]).toBe(m.getLayer('Conv1').weights[0]);
    m.dispose();
  });

  it('rejects bad inputs with what was received', () => {
    expect(() => buildModel('alexnet', { inputShape: [32, 32, 3] })).toThrow(
      /unknown architecture "alexnet"/,
    );
    expect(() => buildModel('inception_v3', { inputShape: [64, 64, 3] })).toThrow(
      /input height must be an integer ≥ 75, received 64/,
    );
    expect(() => buildModel('resnet50', { inputShape: [32, 32, 0] })).toThrow(ConfigError);
    expect(() =>
      buildModel('resnet50', { inputShape: [32, 32, 3], head: { dropout: 1.5 } }),
    ).toThrow(/dropout must be in \[0, 1\), received 1.5/);
  });

  it('EfficientNet Normalization survives a layers-format round trip with its weights', async () => {
    const m = buildModel('efficientnet_b0', { inputShape: [32, 32, 3] });
    const norm = m.getLayer('normalization');
    expect(
      norm.weights.map((w) => [w.name.split('/').at(-1)?.replace(/_\d+$/, ''), w.shape]),
    ).toEqual([
      ['mean', [3]],
      ['variance', [3]],
      ['count', []],
    ]);
    expect(norm.trainableWeights).toEqual([]);
    norm.setWeights([tfc.tensor1d([1, 2, 3]), tfc.tensor1d([4, 9, 16]), tfc.scalar(5)]);
    let saved: tfc.io.ModelArtifacts | undefined;
    await m.save(
      tfc.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (!saved) throw new Error('nothing saved');
    const loaded = await loadLayersModel(tfc.io.fromMemory(saved));
    const w = loaded.getLayer('normalization').getWeights();
    expect(w.map((t: Tensor) => Array.from(t.dataSync()))).toEqual([[1, 2, 3], [4, 9, 16], [5]]);
    expect(loaded.countParams()).toBe(m.countParams());
    m.dispose();
    loaded.dispose();
  });
});

describe('adaptInputConv', () => {
  // kernel [1, 1, 3, 2]: RGB weights (1, 2, 3) for output 0, (10, 20, 30) for output 1.
  const k = () =>
    tensor4d(
      [
        [
          [
            [1, 10],
            [2, 20],
            [3, 30],
          ],
        ],
      ],
      [1, 1, 3, 2],
    );

  it('1 channel: sums over RGB', () => {
    const a = adaptInputConv(k(), 1);
    expect(a.shape).toEqual([1, 1, 1, 2]);
    expect(Array.from(a.dataSync())).toEqual([6, 60]);
  });

  it('3 channels: unchanged', () => {
    expect(Array.from(adaptInputConv(k(), 3).dataSync())).toEqual([1, 10, 2, 20, 3, 30]);
  });

  it('more than 3: RGB repeated cyclically, first c kept, scaled by 3/c', () => {
    const a = adaptInputConv(k(), 4);
    expect(a.shape).toEqual([1, 1, 4, 2]);
    const s = 3 / 4;
    expect(Array.from(a.dataSync())).toEqual([1, 10, 2, 20, 3, 30, 1, 10].map((v) => v * s));
    const nine = adaptInputConv(k(), 9);
    expect(nine.shape).toEqual([1, 1, 9, 2]);
    // A constant image gives the same response as with 3 channels: the sum is kept.
    expect(tfc.sum(nine, 2).arraySync()).toEqual(
      [[[6, 60]]].map((r) => r.map((c) => c.map((v) => expect.closeTo(v, 5)))),
    );
  });

  it('rejects a kernel without 3 input channels, naming the shape', () => {
    expect(() => adaptInputConv(tfc.zeros([3, 3, 4, 8]) as tfc.Tensor4D, 1)).toThrow(
      /received \[3, 3, 4, 8\]/,
    );
  });
});

describe('ichdet models', () => {
  it('lists the registry rows and prints them as a table', () => {
    const rows = listModels();
    expect(rows.map((r) => r.name)).toEqual(REGISTRY.map((s) => s.name));
    expect(rows[0]).toMatchObject({ name: 'vgg16', params: 138_357_544, inputSize: 224 });
    const table = formatModels(rows);
    expect(table).toContain('efficientnet_b3');
    expect(table).toContain('138,357,544');
  });
});

/**
 * Backprop on the pure-JS cpu backend is slow (measured at 32², batch 2: VGG16 78 s,
 * ResNet50 20 s), and tfjs-layers 4.22 BatchNormalization with scale: false (InceptionV3)
 * fails in backprop; the gradient test runs where it fits. TODO(issue 5, training engine).
 */
describe.each(REGISTRY.filter((s) => GRADIENT_ARCHS.has(s.name)).map((s) => [s.name, s] as const))(
  '%s backprop',
  (_name, spec) => {
    it('a finite gradient for every trainable weight (BCE, training mode)', () => {
      const s = spec.minSize;
      const m = buildModel(spec.name, { inputShape: [s, s, 3], head: { dropout: 0.2 } });
      try {
        const vars = trainableVariables(m);
        const x = tfc.randomUniform([2, s, s, 3], 0, 1, 'float32', 1);
        const y = tfc.tensor2d([
          [1, 0, 1, 0, 0, 1],
          [0, 0, 0, 0, 0, 0],
        ]);
        const out = tidy(() => m.predict(x) as Tensor);
        expect(out.shape).toEqual([2, 6]);
        const values = Array.from(out.dataSync());
        expect(values.every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(true);
        const { value, grads } = variableGrads(() => {
          const p = m.apply(x, { training: true }) as Tensor;
          return tfc.losses.sigmoidCrossEntropy(
            y,
            tfc.log(tfc.div(p, tfc.sub(1, p))),
          ) as tfc.Scalar;
        }, vars);
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        const missing = vars.filter((v) => !grads[v.name]).map((v) => v.name);
        expect(missing).toEqual([]);
        const bad = Object.entries(grads)
          .filter(([, g]) => !g.dataSync().every(Number.isFinite))
          .map(([n]) => n);
        expect(bad).toEqual([]);
        tfc.dispose([x, y, out, value, ...Object.values(grads)]);
      } finally {
        m.dispose();
      }
    });
  },
);
