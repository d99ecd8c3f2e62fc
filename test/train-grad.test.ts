/**
 * Registry-wide training on the wasm backend with ichdet's training kernels: every architecture,
 * built at its smallest input (the registry's minSize) with the 6-output head, gives a finite,
 * not identically zero gradient of the binary cross-entropy for every trainable weight, its
 * [batch, 6] output has no NaN, and the backward pass leaks no tensors. And a few Adam steps on
 * one fixed batch lower MobileNetV2's loss.
 *
 * The gradient test runs twice per architecture: on the wasm kernels and on the native
 * accelerator (OpenBLAS convolutions; CI builds it), whose kernels train-kernels.test.ts holds
 * against the cpu backend one by one.
 *
 * Batch 3, not 2: at minSize the last stage of most of these nets is 1 × 1, where a batch norm
 * over 2 values maps any input to ±1, so the gradient into the layer before it is exactly zero
 * in exact arithmetic (only rounding noise would be left to test); over 3 values it is not.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { enableNative } from '../src/backend/native.js';
import { buildModel } from '../src/models/index.js';
import { ARCH_NAMES, REGISTRY } from '../src/models/registry.js';
import { lossSum } from '../src/train/loss.js';
import { withSeededRandom } from '../src/train/seeded.js';
import { Rng } from '../src/util/rng.js';

const BATCH = 3;
/** Targets for 3 images: a subtype with `any`, two subtypes with `any`, nothing. */
const TARGETS = [1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0];

beforeAll(async () => {
  await initBackend('wasm');
});

function minSize(arch: string): number {
  const spec = REGISTRY.find((s) => s.name === arch);
  if (!spec) throw new Error(`no registry entry for ${arch}`);
  return spec.minSize;
}

describe.each(
  ARCH_NAMES.flatMap((arch) => [
    [arch, 'wasm'],
    [arch, 'native'],
  ]),
)('%s on %s at its minimum input', (arch, engine) => {
  it('gives every trainable weight a finite, non-zero BCE gradient; output [3, 6] without NaN', () => {
    enableNative(engine === 'native', 1);
    const s = minSize(arch);
    const model = buildModel(arch, { inputShape: [s, s, 3] });
    try {
      const before = tf.memory().numTensors;
      const x = tf.randomUniform([BATCH, s, s, 3], 0, 1, 'float32', 7);
      const y = tf.tensor2d(TARGETS, [BATCH, 6]);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      let shape: number[] = [];
      let out: Float32Array = new Float32Array();
      // EfficientNet's stochastic depth draws from Math.random: seeded, so the run is fixed.
      const { value, grads } = withSeededRandom(new Rng(3), () =>
        tf.variableGrads(() => {
          const p = model.apply(x, { training: true }) as tf.Tensor2D;
          shape = p.shape;
          out = p.dataSync() as Float32Array;
          return tf.div(lossSum('bce', y, p), BATCH) as tf.Scalar;
        }, vars),
      );
      expect(shape).toEqual([BATCH, 6]);
      expect(out.every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(true);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      const bad: string[] = [];
      for (const v of vars) {
        const d = grads[v.name]?.dataSync();
        if (!d || d.length !== v.size || !d.every(Number.isFinite) || d.every((e) => e === 0)) {
          bad.push(v.name);
        }
      }
      expect(bad).toEqual([]);
      expect(Object.keys(grads)).toHaveLength(vars.length);
      tf.dispose([value, x, y, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      enableNative(false);
      model.dispose();
    }
  }, 60_000);
});

describe('training steps on wasm', () => {
  it('lowers MobileNetV2’s loss on one fixed batch within 3 Adam steps', () => {
    const model = buildModel('mobilenet_v2', { inputShape: [32, 32, 3] });
    try {
      const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 11);
      const y = tf.tensor2d([...TARGETS, 0, 1, 0, 0, 0, 1], [4, 6]);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const optimizer = tf.train.adam(1e-3);
      const loss = () =>
        tf.div(
          lossSum('bce', y, model.apply(x, { training: true }) as tf.Tensor2D),
          4,
        ) as tf.Scalar;
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const l = optimizer.minimize(loss, true, vars);
        losses.push(l?.dataSync()[0] ?? Number.NaN);
        l?.dispose();
      }
      // losses[k] is the loss before update k + 1: losses[3] follows 3 updates.
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[3]).toBeLessThan(losses[0]! * 0.9);
      optimizer.dispose();
      tf.dispose([x, y]);
    } finally {
      model.dispose();
    }
  }, 60_000);
});
