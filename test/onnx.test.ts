import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  model as functionalModel,
  input,
  type LayersModel,
  layers,
  type SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { exportOnnxCommand } from '../src/commands/export-onnx.js';
import { ConfigError } from '../src/errors.js';
import { exportOnnx, exportRunToOnnx } from '../src/infer/onnx-export.js';
import { inspectModel } from '../src/infer/onnx-proto.js';
import { OnnxModel } from '../src/infer/onnx-runtime.js';
import { type ArchName, backbone, buildModel } from '../src/models/index.js';
import { saveLayersModel } from '../src/run/checkpoint.js';
import { withSeededRandom } from '../src/train/seeded.js';
import { Rng } from '../src/util/rng.js';

let dir: string;
const root = join(import.meta.dirname, '..');

/** Runs the CLI from sources; resolves with exit code, stdout and stderr (never rejects). */
async function ichdet(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/run.ts'), ...args],
      { cwd: root, env: { ...process.env, CI: 'true' } },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'ichdet-onnx-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Random batch-norm and Normalization statistics (fresh layers have mean 0, variance 1, which
 * would hide a mix-up of the four batch-norm weights).
 */
function randomiseStats(m: LayersModel, rng: Rng): void {
  for (const l of m.layers) {
    const cls = l.getClassName();
    if (cls !== 'BatchNormalization' && cls !== 'Normalization') continue;
    l.setWeights(
      l.getWeights().map((t, i) => {
        const name = l.weights[i]?.name ?? '';
        const v = Float32Array.from({ length: t.size }, () =>
          name.includes('variance')
            ? rng.uniform(0.5, 1.5)
            : rng.uniform(-0.2, 0.2) + (name.includes('gamma') ? 1 : 0),
        );
        return tf.tensor(v, t.shape);
      }),
    );
  }
}

/**
 * Rescales every kernel to He's standard deviation √(2 / fan-in), so activations neither vanish
 * nor explode through the random network and the outputs depend on the input (with the
 * initialisers' scales, deep random networks map every image to the same features).
 */
function heScale(m: LayersModel): void {
  for (const l of m.layers) {
    if (!/^(Conv2D|DepthwiseConv2D|SeparableConv2D|Dense)$/.test(l.getClassName())) continue;
    l.setWeights(
      tf.tidy(() =>
        l.getWeights().map((t, i) => {
          const name = l.weights[i]?.name ?? '';
          if (!name.includes('kernel')) return t.clone();
          const fanIn = name.includes('depthwise')
            ? (t.shape[0] ?? 1) * (t.shape[1] ?? 1)
            : t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
          const std = tf.sqrt(tf.moments(t).variance);
          return tf.mul(tf.div(t, std), Math.sqrt(2 / fanIn));
        }),
      ),
    );
  }
}

function tfjsPredict(m: LayersModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => {
    const y = m.predict(tf.tensor(x, shape));
    return (Array.isArray(y) ? (y[0] as tf.Tensor) : y).dataSync() as Float32Array;
  });
}

async function onnxPredict(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const file = join(dir, `m-${Date.now()}-${Math.floor(x[0] ?? 0)}.onnx`);
  writeFileSync(file, bytes);
  const om = await OnnxModel.load(file, { threads: 2 });
  try {
    return await om.run(x, n);
  } finally {
    await om.close();
    rmSync(file);
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

/** [arch, height, width, channels]: minimum sizes, a non-square, odd and 2.5D (9-channel) inputs. */
const CASES: [ArchName, number, number, number][] = [
  ['vgg16', 32, 32, 3],
  ['resnet50', 33, 33, 9],
  ['inception_v3', 75, 75, 3],
  ['mobilenet_v2', 32, 40, 3],
  ['xception', 71, 71, 3],
  ['efficientnet_b0', 32, 32, 9],
  ['efficientnet_b2', 32, 32, 3],
  ['efficientnet_b3', 35, 35, 3],
];

describe('ONNX export', () => {
  it.each(CASES)(
    '%s at %i×%i×%i: ONNX Runtime agrees with tfjs within 1e-4 on a random batch',
    async (arch, h, w, c) => {
      const rng = new Rng(7, h, c);
      // tfjs' initialisers draw seeds from Math.random: seeded, every run checks the same weights.
      const m = withSeededRandom(new Rng(11), () => buildModel(arch, { inputShape: [h, w, c] }));
      const n = 2;
      // One image of pixel values (EfficientNet's input range), one in [-1, 1] (the others').
      const px = h * w * c;
      const x = Float32Array.from({ length: n * px }, (_, i) =>
        i < px ? rng.uniform(0, 255) : rng.uniform(-1, 1),
      );
      heScale(m);
      randomiseStats(m, rng);
      const want = tfjsPredict(m, x, [n, h, w, c]);
      const got = await onnxPredict(exportOnnx(m), x, n);
      expect(got.length).toBe(n * 6);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
      // The backbone's feature maps (NHWC out, before pooling and the sigmoid that could hide
      // an error) agree too, relative to their size; the two images' maps differ.
      const f = backbone(m, arch);
      const wantF = tfjsPredict(f, x, [n, h, w, c]);
      const gotF = await onnxPredict(exportOnnx(f), x, n);
      m.dispose();
      const scale = wantF.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
      expect(scale).toBeGreaterThan(0);
      expect(maxAbsDiff(gotF, wantF)).toBeLessThan(1e-4 * scale);
      const half = wantF.length / 2;
      expect(maxAbsDiff(wantF.slice(0, half), wantF.slice(half))).toBeGreaterThan(1e-3 * scale);
    },
  );

  it('maps layers outside the eight architectures (flatten, softmax, merges, leaky ReLU…) exactly', async () => {
    const inp = input({ shape: [6, 5, 4] });
    const a = layers
      .conv2d({
        filters: 4,
        kernelSize: [3, 2],
        strides: [2, 1],
        padding: 'same',
        activation: 'tanh',
      })
      .apply(inp) as SymbolicTensor;
    const b = layers.leakyReLU({ alpha: 0.1 }).apply(inp) as SymbolicTensor;
    const avg = layers.average().apply([inp, b]) as SymbolicTensor;
    const mx = layers.maximum().apply([inp, b, avg]) as SymbolicTensor;
    const sub = layers
      .minimum()
      .apply([mx, layers.add().apply([inp, b, avg]) as SymbolicTensor]) as SymbolicTensor;
    const pool = layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(sub);
    const flatA = layers.flatten().apply(a) as SymbolicTensor;
    const flatP = layers.flatten().apply(pool) as SymbolicTensor;
    const gmp = layers.globalMaxPooling2d({}).apply(sub) as SymbolicTensor;
    const cat = layers.concatenate().apply([flatA, flatP, gmp]) as SymbolicTensor;
    const re = layers.reshape({ targetShape: [5, 5, 4] }).apply(cat) as SymbolicTensor;
    const relu6 = layers.reLU({ maxValue: 0.5 }).apply(re) as SymbolicTensor;
    const dense = layers.dense({ units: 5 }).apply(layers.flatten().apply(relu6));
    const out = layers.softmax().apply(dense) as SymbolicTensor;
    const m = functionalModel({ inputs: inp, outputs: out });
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 3 * 6 * 5 * 4 }, () => rng.normal());
    const want = tfjsPredict(m, x, [3, 6, 5, 4]);
    const got = await onnxPredict(exportOnnx(m), x, 3);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    // Softmax rows sum to one.
    expect(
      (got[0] ?? 0) + (got[1] ?? 0) + (got[2] ?? 0) + (got[3] ?? 0) + (got[4] ?? 0),
    ).toBeCloseTo(1, 5);
  });

  it('a 1×1 convolution of known weights gives the hand-computed values', async () => {
    // y = relu(2·x₀ − x₁ + 0.5) per pixel, on a 1×2×1×2 input.
    const inp = input({ shape: [1, 2, 2] });
    const conv = layers.conv2d({ filters: 1, kernelSize: 1, activation: 'relu' });
    const y = layers.flatten().apply(conv.apply(inp)) as SymbolicTensor;
    const m = functionalModel({ inputs: inp, outputs: y });
    conv.setWeights([tf.tensor4d([2, -1], [1, 1, 2, 1]), tf.tensor1d([0.5])]);
    const got = await onnxPredict(exportOnnx(m), Float32Array.of(1, 1, 0, 3), 1);
    expect(Array.from(got)).toEqual([1.5, 0]);
  });

  it('stores the metadata and the NHWC interface, read back by OnnxModel and inspectModel', async () => {
    const m = buildModel('mobilenet_v2', { inputShape: [32, 32, 3] });
    const metadata = {
      arch: 'mobilenet_v2',
      size: 32,
      channels: 3,
      windows: [{ name: 'brain', center: 40, width: 80 }],
      preprocessing: { scale: 1 / 127.5, offset: -1 },
    };
    const bytes = exportOnnx(m, { metadata });
    m.dispose();
    const header = inspectModel(bytes);
    expect(header.producer).toBe('ichdet');
    expect(header.inputs).toEqual([{ name: 'input', shape: ['N', 32, 32, 3] }]);
    expect(header.outputs).toEqual([{ name: 'probabilities', shape: ['N', 6] }]);
    expect(JSON.parse(header.metadata.ichdet ?? 'null')).toEqual(metadata);
    const file = join(dir, 'meta.onnx');
    writeFileSync(file, bytes);
    const om = await OnnxModel.load(file, { threads: 1 });
    expect(om.metadata).toEqual(metadata);
    expect(om.inputShape).toEqual([32, 32, 3]);
    await expect(om.run(new Float32Array(10), 1)).rejects.toThrow(
      /n × 32 × 32 × 3 floats, received 10 for n = 1/,
    );
    await om.close();
  });

  it('exports a saved run (best and last) with its ichdet metadata, and the command verifies it', async () => {
    const run = join(dir, 'run');
    const m = buildModel('efficientnet_b0', { inputShape: [32, 32, 3] });
    const meta = { arch: 'efficientnet_b0', size: 32, channels: 3, context: 0, epoch: 4 };
    await saveLayersModel(m, join(run, 'best'), meta);
    await saveLayersModel(m, join(run, 'last'), { ...meta, epoch: 5 });
    m.dispose();
    const out = join(dir, 'run-last.onnx');
    const r = await exportRunToOnnx(run, out, { checkpoint: 'last' });
    expect(r.bytes).toBe(readFileSync(out).byteLength);
    expect(r.nodes).toBeGreaterThan(200);
    expect(JSON.parse(inspectModel(readFileSync(out)).metadata.ichdet ?? '{}').epoch).toBe(5);
    const c = await exportOnnxCommand({ run, out: join(dir, 'run-best.onnx') });
    expect(c.arch).toBe('efficientnet_b0');
    expect(c.model).toBe(join(run, 'best'));
    expect(c.maxAbsDiff).toBeLessThan(1e-4);
    const om = await OnnxModel.load(c.out);
    expect(om.metadata.epoch).toBe(4);
    await om.close();
  });

  it('ichdet export-onnx writes the file and reports it; a bad checkpoint exits 1', async () => {
    const run = join(dir, 'cli-run');
    const m = buildModel('mobilenet_v2', { inputShape: [32, 32, 3] });
    await saveLayersModel(m, join(run, 'best'), { arch: 'mobilenet_v2', size: 32, channels: 3 });
    m.dispose();
    const out = join(dir, 'cli.onnx');
    const ok = await ichdet('export-onnx', run, '--out', out);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /^wrote .*cli\.onnx \(mobilenet_v2 from .*best, \d+ nodes, [\d.]+ MB; max \|onnx − tfjs\| = /,
    );
    expect(inspectModel(readFileSync(out)).inputs[0]?.shape).toEqual(['N', 32, 32, 3]);
    const bad = await ichdet('export-onnx', run, '--out', out, '--checkpoint', 'middle');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('ichdet: --checkpoint must be best or last, received "middle"\n');
  });

  it('refuses an unsupported layer with a ConfigError naming the layer and its class', () => {
    const inp = input({ shape: [8, 8, 3] });
    const up = layers.upSampling2d({ size: [2, 2], name: 'my_upsample' }).apply(inp);
    const m = functionalModel({ inputs: inp, outputs: up as SymbolicTensor });
    expect(() => exportOnnx(m)).toThrow(ConfigError);
    expect(() => exportOnnx(m)).toThrow(/layer "my_upsample" of class UpSampling2D/);
  });

  it('refuses an unsupported activation and an opset out of range', () => {
    const inp = input({ shape: [8, 8, 3] });
    const y = layers.activation({ activation: 'relu6', name: 'ok' }).apply(inp);
    const z = layers.activation({ activation: 'mish', name: 'odd_act' }).apply(y);
    const m = functionalModel({ inputs: inp, outputs: z as SymbolicTensor });
    expect(() => exportOnnx(m)).toThrow(/layer "odd_act": activation "mish"/);
    const ok = functionalModel({ inputs: inp, outputs: y as SymbolicTensor });
    expect(() => exportOnnx(ok, { opset: 9 })).toThrow(
      /opset must be an integer in 13…21, received 9/,
    );
  });
});
