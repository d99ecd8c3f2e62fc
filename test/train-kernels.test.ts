/**
 * Every kernel and gradient ichdet supplies to the wasm backend (src/train/kernels.ts, simd.ts,
 * batchnorm.ts) against the pure-JS cpu backend's own implementation, on small shapes covering
 * strides, paddings (TF's asymmetric 'same' included), kernel shapes, depthwise convolutions,
 * channel counts that do and do not fill the 4-lane SIMD loops, batch norm with and without
 * γ/β, and the reductions, slices and masks a training step runs. The convolutions also on the
 * native accelerator (native/ichdet_native.c, OpenBLAS; CI installs libopenblas-dev, so the
 * addon is built by `npm ci` and these tests require it). Agreement is a relative error
 * max|a − b| / max|b| ≤ 1e-4. Also: the committed kernels.wasm.ts is kernels.wat assembled.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { layers, type SymbolicTensor, model as tflModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { assemble, sourceSha256 } from '../scripts/build-wasm.js';
import { batchNormTraining } from '../src/backend/batchnorm.js';
import { writeOwned } from '../src/backend/heap.js';
import { initBackend } from '../src/backend/init.js';
import { conv2dBackpropFilter, conv2dBackpropInput } from '../src/backend/kernels.js';
import {
  TRAIN_KERNELS_WASM_BASE64,
  TRAIN_KERNELS_WAT_SHA256,
} from '../src/backend/kernels.wasm.js';
import { enableNative, nativeActive, nativeAddon, nativeThreads } from '../src/backend/native.js';
import { transpose2d } from '../src/backend/simd.js';
import { ConfigError } from '../src/errors.js';

const TRAIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'backend');

beforeAll(async () => {
  await initBackend('wasm');
});

/** Deterministic values in [-1, 1]: sin of a multiple of the index (plus an offset). */
function values(shape: readonly number[], k: number, offset = 0): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3) + offset);
}

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Runs fn on the wasm backend and on the cpu backend; returns both results as arrays. */
async function onBoth(fn: () => tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(fn).map((t) => {
      const d = t.dataSync() as Float32Array;
      t.dispose();
      return d;
    });
  };
  const w = await run('wasm');
  const c = await run('cpu');
  await tf.setBackend('wasm');
  return [w, c];
}

async function expectAgreement(fn: () => tf.Tensor[], tol = 1e-4): Promise<void> {
  const [w, c] = await onBoth(fn);
  expect(w).toHaveLength(c.length);
  for (let i = 0; i < c.length; i++) expect(relError(w[i]!, c[i]!)).toBeLessThanOrEqual(tol);
}

type Shape4 = [number, number, number, number];

interface ConvCase {
  name: string;
  x: Shape4;
  w: Shape4;
  stride: 1 | 2 | [number, number];
  pad: 'same' | 'valid';
  depthwise?: boolean;
}

const CONV_CASES: ConvCase[] = [
  { name: '3×3 stride 1 same', x: [2, 7, 7, 3], w: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { name: '3×3 stride 1 valid', x: [2, 7, 6, 5], w: [3, 3, 5, 6], stride: 1, pad: 'valid' },
  {
    name: '3×3 stride 2 same, even input (asymmetric pad)',
    x: [2, 8, 8, 3],
    w: [3, 3, 3, 4],
    stride: 2,
    pad: 'same',
  },
  {
    name: '3×3 stride 2 valid, odd input',
    x: [2, 9, 9, 3],
    w: [3, 3, 3, 4],
    stride: 2,
    pad: 'valid',
  },
  {
    name: '1×1 stride 1, more in than out',
    x: [3, 5, 5, 9],
    w: [1, 1, 9, 4],
    stride: 1,
    pad: 'same',
  },
  {
    name: '1×1 stride 1, more out than in',
    x: [2, 5, 4, 3],
    w: [1, 1, 3, 10],
    stride: 1,
    pad: 'valid',
  },
  {
    name: '1×1 stride 2 valid (ResNet shortcut)',
    x: [2, 6, 6, 8],
    w: [1, 1, 8, 5],
    stride: 2,
    pad: 'valid',
  },
  {
    name: '1×1 stride 2 same, odd input',
    x: [2, 7, 7, 3],
    w: [1, 1, 3, 6],
    stride: 2,
    pad: 'same',
  },
  { name: '5×5 stride 1 same', x: [2, 6, 6, 4], w: [5, 5, 4, 3], stride: 1, pad: 'same' },
  {
    name: '5×5 stride 2 valid, odd leftover',
    x: [1, 11, 11, 2],
    w: [5, 5, 2, 3],
    stride: 2,
    pad: 'valid',
  },
  {
    name: '7×7 stride 2 same (ResNet stem)',
    x: [2, 12, 12, 3],
    w: [7, 7, 3, 2],
    stride: 2,
    pad: 'same',
  },
  { name: '1×7 same (InceptionV3)', x: [2, 6, 9, 3], w: [1, 7, 3, 2], stride: 1, pad: 'same' },
  { name: '7×1 same (InceptionV3)', x: [2, 9, 6, 3], w: [7, 1, 3, 2], stride: 1, pad: 'same' },
  { name: '3×3 strides 2×1 same', x: [2, 8, 7, 3], w: [3, 3, 3, 2], stride: [2, 1], pad: 'same' },
  {
    name: 'depthwise 3×3 stride 1 same, 6 channels',
    x: [2, 7, 7, 6],
    w: [3, 3, 6, 1],
    stride: 1,
    pad: 'same',
    depthwise: true,
  },
  {
    name: 'depthwise 3×3 stride 2 same, even input, 8 channels',
    x: [2, 8, 8, 8],
    w: [3, 3, 8, 1],
    stride: 2,
    pad: 'same',
    depthwise: true,
  },
  {
    name: 'depthwise 5×5 stride 2 same, odd input',
    x: [2, 9, 9, 3],
    w: [5, 5, 3, 1],
    stride: 2,
    pad: 'same',
    depthwise: true,
  },
  {
    name: 'depthwise 3×3 stride 2 valid',
    x: [1, 9, 9, 5],
    w: [3, 3, 5, 1],
    stride: 2,
    pad: 'valid',
    depthwise: true,
  },
  {
    name: 'depthwise 7×7 stride 1 same, larger than the input',
    x: [2, 5, 5, 4],
    w: [7, 7, 4, 1],
    stride: 1,
    pad: 'same',
    depthwise: true,
  },
];

/** Gradients of Σ conv(x, w)² (or of a fused conv with bias and ReLU) w.r.t. x, w (and b). */
function convGradients(c: ConvCase, fused: boolean): tf.Tensor[] {
  const x = tf.tensor4d(values(c.x, 1.3), c.x);
  const w = tf.tensor4d(values(c.w, 0.7), c.w);
  const b = tf.tensor1d(values([c.w[c.depthwise ? 2 : 3]], 0.9).map((v) => 0.3 * v));
  const f = (a: tf.Tensor, k: tf.Tensor, bias: tf.Tensor) => {
    const a4 = a as tf.Tensor4D;
    const k4 = k as tf.Tensor4D;
    const opts = { x: a4, filter: k4, strides: c.stride, pad: c.pad };
    let y: tf.Tensor;
    if (fused) {
      const args = { ...opts, bias, activation: 'relu' as const };
      y = c.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    } else {
      y = c.depthwise
        ? tf.depthwiseConv2d(a4, k4, c.stride, c.pad)
        : tf.conv2d(a4, k4, c.stride, c.pad);
    }
    return tf.sum(tf.square(y));
  };
  if (fused) return tf.grads(f)([x, w, b]);
  return tf.grads((a: tf.Tensor, k: tf.Tensor) => f(a, k, b))([x, w]);
}

describe('wasm convolution gradients agree with the cpu backend', () => {
  it.each(CONV_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await expectAgreement(() => convGradients(c, false));
    await expectAgreement(() => convGradients(c, true));
  });

  it.each(
    CONV_CASES.filter((c) => !c.depthwise && c.w[0] * c.w[1] > 1).map((c) => [c.name, c] as const),
  )('%s, with patches one image at a time and without patches (large layers)', async (_n, c) => {
    const strides: [number, number] = Array.isArray(c.stride) ? c.stride : [c.stride, c.stride];
    const info = tf.backend_util.computeConv2DInfo(c.x, c.w, strides, 1, c.pad);
    const dyShape: Shape4 = [c.x[0], info.outHeight, info.outWidth, c.w[3]];
    const onePatch = info.outHeight * info.outWidth * c.w[0] * c.w[1] * c.w[2];
    await expectAgreement(() => {
      const x = tf.tensor4d(values(c.x, 1.3), c.x);
      const w = tf.tensor4d(values(c.w, 0.7), c.w);
      const dy = tf.tensor4d(values(dyShape, 0.45), dyShape);
      if (tf.getBackend() === 'wasm') {
        return [
          conv2dBackpropInput(dy, w, c.x, strides, c.pad, undefined, 0),
          conv2dBackpropFilter(x, dy, c.w, strides, c.pad, undefined, onePatch),
          conv2dBackpropFilter(x, dy, c.w, strides, c.pad, undefined, 0),
        ];
      }
      const dw = tf.grad((k: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(x, k as tf.Tensor4D, strides, c.pad), dy)),
      )(w);
      return [tf.conv2dTranspose(dy, w, c.x, strides, c.pad), dw, tf.clone(dw)];
    });
  });

  it('computes the 1×1 input and filter gradients of a hand-worked example', async () => {
    // y[n, p, o] = Σ_a x[n, p, a]·w[a, o]; L = Σ y·g ⇒ dL/dx = g·wᵀ, dL/dw = xᵀ·g.
    await tf.setBackend('wasm');
    const x = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);
    const w = tf.tensor4d([1, 0, 2, 1, -1, 3], [1, 1, 2, 3]);
    const g = tf.tensor4d([1, 1, 0, 0, 2, 1], [1, 1, 2, 3]);
    const [dx, dw] = tf.grads((a: tf.Tensor, k: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, 'valid'), g)),
    )([x, w]);
    // dx[p, a] = Σ_o g[p, o]·w[a, o], w rows (1, 0, 2) and (1, −1, 3), g rows (1, 1, 0), (0, 2, 1):
    // [1 + 0 + 0, 1 − 1 + 0, 0 + 0 + 2, 0 − 2 + 3].
    expect(Array.from(dx!.dataSync())).toEqual([1, 0, 2, 1]);
    // dw[a, o] = Σ_p x[p, a]·g[p, o] = [[1·1 + 3·0, 1·1 + 3·2, 1·0 + 3·1], [2·1 + 4·0, 2·1 + 4·2, 0 + 4]]
    expect(Array.from(dw!.dataSync())).toEqual([1, 7, 3, 2, 10, 4]);
    tf.dispose([x, w, g, dx!, dw!]);
  });
});

describe('native accelerator convolutions agree with the cpu backend', () => {
  const cases = CONV_CASES.filter((c) => !c.depthwise);

  it('is built and loads (CI installs libopenblas-dev)', () => {
    expect(nativeAddon()).not.toBeNull();
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    enableNative(true, 2);
    try {
      await expectAgreement(() => convGradients(c, false));
      await expectAgreement(() => convGradients(c, true));
    } finally {
      enableNative(false);
    }
  });

  it('takes the convolutions while enabled: its results differ from XNNPACK’s in rounding only', async () => {
    // One 3×3 layer with 64 channels: XNNPACK and OpenBLAS sum the 576 products in different
    // orders, so bit-identical outputs would mean the accelerator was not called.
    await tf.setBackend('wasm');
    const x = tf.tensor4d(values([1, 6, 6, 64], 1.1), [1, 6, 6, 64]);
    const w = tf.tensor4d(values([3, 3, 64, 8], 0.37), [3, 3, 64, 8]);
    const run = () => tf.tidy(() => tf.conv2d(x, w, 1, 'same').dataSync() as Float32Array);
    enableNative(true, 1);
    expect(nativeActive()).toBe(true);
    const native = run();
    enableNative(false);
    expect(nativeActive()).toBe(false);
    const wasm = run();
    expect(native).not.toEqual(wasm);
    expect(relError(native, wasm)).toBeLessThan(1e-5);
    tf.dispose([x, w]);
  });

  it('computes a hand-worked fused convolution with bias and ReLU6', async () => {
    // x: one 2×2 image, 1 channel [1, 2; 3, 4]; 2×2 'valid' filter with two outputs,
    // [1, 1; 1, 1] and [1, 0; 0, −1]: y = [10, −3] + bias [0.5, 1] → ReLU6 → [6, 0].
    await tf.setBackend('wasm');
    enableNative(true, 1);
    try {
      const y = tf.tidy(() =>
        tf.fused.conv2d({
          x: tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]),
          filter: tf.tensor4d([1, 1, 1, 0, 1, 0, 1, -1], [2, 2, 1, 2]),
          strides: 1,
          pad: 'valid',
          bias: tf.tensor1d([0.5, 1]),
          activation: 'relu6',
        }),
      );
      expect(Array.from(y.dataSync())).toEqual([6, 0]);
      y.dispose();
    } finally {
      enableNative(false);
    }
  });

  it('gives a small conv net the gradients the wasm kernels give, weight by weight', async () => {
    // 3×3 conv + batch norm + ReLU, a 1×1 stride-2 conv, a 3×3 stride-2 'same' conv
    // with ReLU6 fused, global pooling and a dense sigmoid head; batch 4 at 16².
    await tf.setBackend('wasm');
    const input = layers.input({ shape: [16, 16, 3] });
    // (No bias before the batch norm: its gradient is 0 in exact arithmetic, rounding noise here.)
    let h = layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false })
      .apply(input);
    h = layers.batchNormalization().apply(h);
    h = layers.reLU().apply(h);
    h = layers.conv2d({ filters: 12, kernelSize: 1, strides: 2, useBias: false }).apply(h);
    h = layers
      .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6' })
      .apply(h);
    h = layers.globalAveragePooling2d({}).apply(h);
    const out = layers.dense({ units: 6, activation: 'sigmoid' }).apply(h) as SymbolicTensor;
    const model = tflModel({ inputs: input, outputs: out });
    const x = tf.tensor4d(values([4, 16, 16, 3], 0.91), [4, 16, 16, 3]);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const grads = () =>
      tf.tidy(() => {
        const { grads: g } = tf.variableGrads(
          () => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
          vars,
        );
        return vars.map((v) => g[v.name]!.dataSync() as Float32Array);
      });
    enableNative(true, 1);
    const native = grads();
    enableNative(false);
    const wasm = grads();
    // conv, batch norm (γ, β), 1×1 conv, conv (kernel, bias), dense (kernel, bias)
    expect(native).toHaveLength(8);
    for (let i = 0; i < wasm.length; i++) expect(relError(native[i]!, wasm[i]!)).toBeLessThan(1e-4);
    tf.dispose(x);
    model.dispose();
  });

  it('refuses offsets outside the heap, naming the tensor', () => {
    const addon = nativeAddon()!;
    const heap = new ArrayBuffer(1024);
    // x would need 2·4·4·3 floats = 384 bytes from offset 800.
    expect(() =>
      addon.conv(0, heap, 800, 0, -1, 0, 2, 4, 4, 3, 3, 3, 2, 1, 1, 1, 1, 4, 4, 0),
    ).toThrow(/x \(offset 800, 96 floats\) is outside the heap of 1024 bytes/);
    expect(() =>
      addon.conv(0, heap, 0, 0, -1, 0, 2, 4, 4, 0, 3, 3, 2, 1, 1, 1, 1, 4, 4, 0),
    ).toThrow(/size is out of range/);
  });

  it('writes weights in place only where native convolutions alone read them (no stale XNNPACK copy)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(values([1, 4, 4, 3], 0.9), [1, 4, 4, 3]);
    const w0 = values([3, 3, 3, 2], 0.41);
    const w1 = values([3, 3, 3, 2], 0.77);
    const conv = (w: tf.Tensor4D) => tf.tidy(() => tf.conv2d(x, w, 1, 'same').dataSync());
    const load = (v: tf.Variable, a: Float32Array) =>
      tf.tidy(() => v.assign(tf.tensor(a.slice(), v.shape, 'float32')));
    // The reference: each set of weights in a fresh tensor, on the accelerator.
    enableNative(true, 1);
    const want1 = tf.tidy(() => conv(tf.tensor4d(w1, [3, 3, 3, 2])));
    // A native-read filter, held by its variable alone after an assign: written in place, and
    // the next convolution sees the new weights.
    const v = tf.variable(tf.tensor4d(w0, [3, 3, 3, 2]));
    load(v, w0);
    conv(v as tf.Tensor4D);
    expect(writeOwned(v, w1)).toBe(true);
    expect(Array.from(conv(v as tf.Tensor4D))).toEqual(Array.from(want1));
    // Shared storage (a second holder of the same data): refused.
    const alias = tf.reshape(v, [54]);
    expect(writeOwned(v, w0)).toBe(false);
    alias.dispose();
    expect(writeOwned(v, w0)).toBe(true);
    // A filter XNNPACK has seen (the shipped kernel packs and keeps it): refused from then on,
    // also after the accelerator is back, and a plain assign keeps the results right.
    enableNative(false);
    conv(v as tf.Tensor4D);
    enableNative(true, 1);
    expect(writeOwned(v, w1)).toBe(false);
    enableNative(false);
    const u = tf.variable(tf.tensor4d(w0, [3, 3, 3, 2]));
    load(u, w0);
    conv(u as tf.Tensor4D);
    load(u, w1);
    const wantWasm = tf.tidy(() => conv(tf.tensor4d(w1, [3, 3, 3, 2])));
    expect(Array.from(conv(u as tf.Tensor4D))).toEqual(Array.from(wantWasm));
    // A weight no native convolution read (a dense kernel): refused.
    const d = tf.variable(tf.tensor2d(values([4, 2], 0.3), [4, 2]));
    load(d, values([4, 2], 0.5));
    tf.tidy(() => tf.matMul(tf.ones([1, 4]), d).dataSync());
    expect(writeOwned(d, values([4, 2], 0.6))).toBe(false);
    tf.dispose([x, v, u, d]);
  });

  it('sets OpenBLAS’ threads', () => {
    enableNative(true, 2);
    expect(nativeThreads()).toBe(2);
    enableNative(true, 1);
    expect(nativeThreads()).toBe(1);
    enableNative(false);
  });
});

describe('training batch norm agrees with tfjs-layers’ computation on the cpu backend', () => {
  const cases = [
    { name: 'with γ and β, 4-D, 6 channels', shape: [2, 3, 3, 6], gamma: true, beta: true, off: 0 },
    { name: 'without γ (scale: false)', shape: [3, 2, 2, 5], gamma: false, beta: true, off: 0 },
    { name: 'without γ and β', shape: [4, 7], gamma: false, beta: false, off: 0 },
    { name: 'mean 100 × the spread', shape: [2, 4, 4, 8], gamma: true, beta: true, off: 100 },
  ];
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: output, statistics and gradients',
    async (_n, c) => {
      const ch = c.shape[c.shape.length - 1]!;
      await expectAgreement(() => {
        const x = tf.tensor(values(c.shape, 1.7, c.off), c.shape);
        const gamma = tf.tensor1d(values([ch], 0.4, 1.2));
        const beta = tf.tensor1d(values([ch], 0.8));
        const weight = tf.tensor(values(c.shape, 0.37), c.shape);
        const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.mul(batchNormTraining(a, c.gamma ? g : null, c.beta ? b : null, -1, 1e-3).y, weight),
          );
        // Gradients of what the loss uses: x, then γ and β when present.
        const used = [x, ...(c.gamma ? [gamma] : []), ...(c.beta ? [beta] : [])];
        const grads = tf.grads((...t: tf.Tensor[]) => {
          const [a, ...rest] = t;
          const g = c.gamma ? rest.shift() : gamma;
          const b = c.beta ? rest.shift() : beta;
          return loss(a!, g!, b!);
        })(used);
        const { y, mean, variance } = batchNormTraining(
          x,
          c.gamma ? gamma : null,
          c.beta ? beta : null,
          -1,
          1e-3,
        );
        return [y, mean, variance, ...grads];
      });
    },
  );

  it('normalizes a hand-worked batch: mean, biased variance, (x − μ)/√(σ² + ε)·γ + β', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 10, 3, 20, 5, 30, 7, 40], [4, 2]);
    const { y, mean, variance } = batchNormTraining(
      x,
      tf.tensor1d([2, 1]),
      tf.tensor1d([0, 1]),
      1,
      0,
    );
    expect(Array.from(mean.dataSync())).toEqual([4, 25]);
    expect(Array.from(variance.dataSync())).toEqual([5, 125]);
    const s = Math.sqrt(5);
    const t = Math.sqrt(125);
    const expected = [-6 / s, 1 - 15 / t, -2 / s, 1 - 5 / t, 2 / s, 1 + 5 / t, 6 / s, 1 + 15 / t];
    expect(relError(y.dataSync(), expected)).toBeLessThan(1e-6);
    tf.dispose([x, y, mean, variance]);
  });

  it('lets BatchNormalization({scale: false}) train and updates its moving statistics', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const input = layers.input({ shape: [2] });
      const bn = layers.batchNormalization({ scale: false, momentum: 0.5, epsilon: 0 });
      const m = tflModel({ inputs: input, outputs: bn.apply(input) as SymbolicTensor });
      const x = tf.tensor2d([1, 10, 3, 20, 5, 30, 7, 40], [4, 2]);
      const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
      expect(m.trainableWeights.map((w) => w.name)).toEqual([`${bn.name}/beta`]);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(m.apply(x, { training: true }) as tf.Tensor, [1, 2])) as tf.Scalar,
        vars,
      );
      // Σ x̂ = 0 per channel, so the loss is Σ β·weight·rows = 0 and dβ = rows·weight = [4, 8].
      expect(Math.abs(value.dataSync()[0]!)).toBeLessThan(1e-5);
      expect(Array.from(grads[vars[0]!.name]!.dataSync())).toEqual([4, 8]);
      // moving = 0.5·initial + 0.5·batch: mean (0, 0) → (2, 12.5); variance (1, 1) → (3, 63).
      const [, movingMean, movingVar] = bn.getWeights();
      expect(Array.from(movingMean!.dataSync())).toEqual([2, 12.5]);
      expect(Array.from(movingVar!.dataSync())).toEqual([3, 63]);
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    }
    await tf.setBackend('wasm');
  });

  it('lets a gradient pass BatchNormalization({scale: false}) in inference (Grad-CAM inside InceptionV3)', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const input = layers.input({ shape: [2] });
      const bn = layers.batchNormalization({ scale: false, epsilon: 0 });
      const m = tflModel({ inputs: input, outputs: bn.apply(input) as SymbolicTensor });
      // moving mean (1, 2), moving variance (4, 16), β (0.5, −1): y = (x − μ)/σ + β.
      bn.setWeights([tf.tensor1d([0.5, -1]), tf.tensor1d([1, 2]), tf.tensor1d([4, 16])]);
      const x = tf.tensor2d([3, 10, 0, -6], [2, 2]);
      const y = m.apply(x) as tf.Tensor;
      expect(Array.from(y.dataSync())).toEqual([1.5, 1, 0, -3]);
      // d Σ(y·w)/dx = w/σ per channel.
      const g = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(m.apply(t) as tf.Tensor, tf.tensor1d([2, 4]))),
      )(x);
      expect(Array.from(g.dataSync())).toEqual([1, 1, 1, 1]);
      tf.dispose([x, y, g]);
      m.dispose();
    }
    await tf.setBackend('wasm');
  });
});

describe('activation gradients, reductions and slices agree with the cpu backend', () => {
  it('ReLU6 as tfjs-layers builds it (relu, then clip to [0, 6]): gradient 1 on (0, 6], else 0', async () => {
    const xs = [-1, 0, 0.5, 5.9, 6, 6.5, -0, 3];
    const [w, c] = await onBoth(() => {
      const x = tf.tensor1d(xs);
      const g = tf.grad((a: tf.Tensor) =>
        tf.sum(tf.mul(layers.reLU({ maxValue: 6 }).apply(a) as tf.Tensor, 2)),
      )(x);
      return [g];
    });
    expect(Array.from(w[0]!)).toEqual([0, 0, 2, 2, 2, 0, 0, 2]);
    expect(Array.from(w[0]!)).toEqual(Array.from(c[0]!));
  });

  it('ReLU, ReLU6 and clipByValue gradients, 4-D with a lane remainder', async () => {
    await expectAgreement(() => {
      const x = tf.tensor4d(
        values([2, 3, 3, 5], 2.1, 0).map((v) => v * 8),
        [2, 3, 3, 5],
      );
      const f = (a: tf.Tensor) =>
        tf.sum(
          tf.add(
            tf.add(tf.square(tf.relu(a)), tf.mul(tf.relu6(a), 3)),
            tf.mul(tf.clipByValue(a, -2, 4), a),
          ),
        );
      return [tf.grad(f)(x)];
    });
  });

  it('swish as tfjs-layers applies it: same values, gradient σ + x·σ·(1 − σ)', async () => {
    await expectAgreement(() => {
      const x = tf.tensor4d(
        values([2, 3, 3, 5], 1.9).map((v) => v * 6),
        [2, 3, 3, 5],
      );
      const swish = layers.activation({ activation: 'swish' });
      const weight = tf.tensor4d(values([2, 3, 3, 5], 0.6), [2, 3, 3, 5]);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(swish.apply(a) as tf.Tensor, weight));
      return [swish.apply(x) as tf.Tensor, tf.grad(f)(x)];
    });
    await tf.setBackend('wasm');
    // d/dx x·σ(x) at 0 is σ(0) = ½; at 2 it is σ(2)·(1 + 2·(1 − σ(2))).
    const s2 = 1 / (1 + Math.exp(-2));
    const g = tf.grad((a: tf.Tensor) =>
      tf.sum(layers.activation({ activation: 'swish' }).apply(a) as tf.Tensor),
    )(tf.tensor1d([0, 2]));
    expect(relError(g.dataSync(), [0.5, s2 * (1 + 2 * (1 - s2))])).toBeLessThan(1e-6);
  });

  it('sums and means over the leading axes, the middle axes, and others (shipped kernel)', async () => {
    await expectAgreement(() => {
      const x = tf.tensor4d(values([3, 5, 4, 7], 0.77), [3, 5, 4, 7]);
      return [
        tf.sum(x, [0, 1, 2]),
        tf.sum(x, [2, 0, 1], true),
        tf.mean(x, [0, 1, 2]),
        tf.sum(tf.reshape(x, [60, 7]), 0),
        tf.sum(x, [1, 2]),
        tf.mean(x, [2, 1], true),
        tf.sum(tf.reshape(x, [3, 20, 7]), 1),
        tf.mean(x, 3),
        tf.sum(x, [0, 3]),
        tf.sum(x),
      ];
    });
  });

  it('slices: spatial (zero-padding gradient), contiguous and general', async () => {
    await expectAgreement(() => {
      const x = tf.tensor4d(values([2, 5, 6, 3], 0.31), [2, 5, 6, 3]);
      return [
        tf.slice(x, [0, 1, 0, 0], [2, 3, 5, 3]),
        tf.slice(x, [1, 0, 0, 0], [1, 5, 6, 3]),
        tf.slice(x, [0, 2, 0, 0], [1, 2, 6, 3]),
        tf.slice(x, [1, 1, 2, 1], [1, 3, 3, 2]),
        tf.grad((a: tf.Tensor) =>
          tf.sum(
            tf.square(
              tf.pad(a, [
                [0, 0],
                [1, 0],
                [0, 1],
                [0, 0],
              ]),
            ),
          ),
        )(x),
      ];
    });
  });

  it.each([
    ['3×3 stride 2 same, even input', [2, 8, 8, 6], 3, 2, 'same'],
    ['3×3 stride 2 valid, odd input', [2, 9, 7, 5], 3, 2, 'valid'],
    ['2×2 stride 2', [1, 6, 6, 4], 2, 2, 'valid'],
    ['3×3 stride 1 same', [2, 5, 5, 3], 3, 1, 'same'],
  ] as const)('max-pooling gradient, %s, with tied maxima', async (_n, shape, k, s, pad) => {
    await expectAgreement(() => {
      // Rounded values: many windows hold their maximum twice; the first one gets dy.
      const x = tf.tensor4d(
        values(shape, 0.61).map((v) => Math.round(v * 2)),
        [...shape],
      );
      return [
        tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, k, s, pad)))(x),
        tf.grad((a: tf.Tensor) => {
          const y = tf.maxPool(a as tf.Tensor4D, k, s, pad);
          return tf.sum(tf.mul(y, tf.reshape(tf.range(0, y.size), y.shape)));
        })(x),
      ];
    }, 0);
  });

  it('average-pooling gradient divides by the taps inside each window (hand-worked 3×3 input)', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const x = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.avgPool(a as tf.Tensor4D, 3, 1, 'same')))(x);
      // A corner is in windows of 4, 6, 6 and 9 taps; an edge in 4, 4, 6, 6, 6, 9; the centre in
      // 4 × 4, 4 × 6 and one 9.
      const corner = 1 / 4 + 2 / 6 + 1 / 9;
      const edge = 2 / 4 + 3 / 6 + 1 / 9;
      const centre = 4 / 4 + 4 / 6 + 1 / 9;
      const expected = [corner, edge, corner, edge, centre, edge, corner, edge, corner];
      expect(relError(g.dataSync(), expected)).toBeLessThan(1e-6);
      tf.dispose([x, g]);
    }
    await tf.setBackend('wasm');
  });

  it.each([
    ['3×3 stride 1 same (InceptionV3)', [2, 5, 6, 6], 3, 1, 'same'],
    ['3×3 stride 2 valid', [2, 7, 7, 5], 3, 2, 'valid'],
    ['2×2 stride 2 same, odd input', [1, 5, 5, 3], 2, 2, 'same'],
  ] as const)('average-pooling gradient, %s', async (_n, shape, k, s, pad) => {
    await expectAgreement(() => {
      const x = tf.tensor4d(values(shape, 0.37), [...shape]);
      return [
        tf.grad((a: tf.Tensor) => {
          const y = tf.avgPool(a as tf.Tensor4D, k, s, pad);
          return tf.sum(tf.mul(y, tf.reshape(tf.range(0, y.size), y.shape)));
        })(x),
      ];
    });
  });

  it('splits along channels and other axes (the gradient of a concatenation)', async () => {
    await expectAgreement(() => {
      const x = tf.tensor4d(values([2, 3, 3, 11], 0.53), [2, 3, 3, 11]);
      const parts = [...tf.split(x, [4, 5, 2], 3), ...tf.split(x, [1, 2], 1)];
      const a = tf.tensor4d(values([2, 3, 3, 5], 0.21), [2, 3, 3, 5]);
      const b = tf.tensor4d(values([2, 3, 3, 3], 0.83), [2, 3, 3, 3]);
      const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
        tf.sum(tf.square(tf.concat([p, q, p], 3))),
      )([a, b]);
      return [...parts, ga!, gb!];
    }, 0);
  });

  it('transposes matrices with row and column remainders exactly', async () => {
    await tf.setBackend('wasm');
    for (const [r, c] of [
      [1, 1],
      [4, 4],
      [7, 5],
      [13, 8],
      [9, 18],
    ] as const) {
      const x = tf.tensor2d(values([r, c], 0.9), [r, c]);
      const t = transpose2d(x);
      expect(t.shape).toEqual([c, r]);
      expect(Array.from(t.dataSync())).toEqual(Array.from(tf.transpose(x).dataSync()));
      tf.dispose([x, t]);
    }
  });

  it('clones without copying (Identity shares the data) and keeps the values', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
  });
});

describe('initBackend', () => {
  it('picks native for auto here (tfjs-node is not installed, the accelerator is), cpu or wasm on request', async () => {
    const auto = await initBackend('auto', { threads: 1 });
    expect(auto.name).toBe('wasm');
    expect(auto.accelerator).toBe('openblas');
    expect(auto.detail).toMatch(/^native convolutions \(.*OpenBLAS.*, 1 thread\), XNNPACK SIMD/);
    expect(nativeActive()).toBe(true);
    expect(await initBackend('wasm')).toEqual({
      name: 'wasm',
      detail: 'XNNPACK SIMD, single-threaded, ichdet training kernels',
    });
    expect(nativeActive()).toBe(false);
    expect((await initBackend('native', { threads: 2 })).accelerator).toBe('openblas');
    expect(nativeThreads()).toBe(2);
    expect(tf.getBackend()).toBe('wasm');
    expect((await initBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await initBackend('wasm')).name).toBe('wasm');
  });

  it('says how to install tfjs-node when node is asked for and missing', async () => {
    await expect(initBackend('node')).rejects.toThrow(
      /--backend node needs @tensorflow\/tfjs-node .*npm install @tensorflow\/tfjs-node@4\.22\.0/,
    );
    await expect(initBackend('node')).rejects.toBeInstanceOf(ConfigError);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('kernel housekeeping', () => {
  it('leaks no tensors in a fused and a depthwise backward pass', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    for (const c of [CONV_CASES[2]!, CONV_CASES[7]!, CONV_CASES[15]!]) {
      tf.dispose(tf.tidy(() => convGradients(c, true)));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('kernels.wasm.ts is kernels.wat assembled (ICHDET_WRITE_WASM=1 rewrites it)', async () => {
    const source = readFileSync(join(TRAIN_DIR, 'kernels.wat'), 'utf8');
    const binary = await assemble(source);
    const base64 = Buffer.from(binary).toString('base64');
    if (process.env.ICHDET_WRITE_WASM === '1') {
      writeFileSync(join(TRAIN_DIR, 'kernels.wasm.ts'), renderModule(source, binary));
      return;
    }
    expect(TRAIN_KERNELS_WAT_SHA256).toBe(sourceSha256(source));
    expect(TRAIN_KERNELS_WASM_BASE64).toBe(base64);
  });
});

/** The text of kernels.wasm.ts. */
function renderModule(source: string, binary: Uint8Array): string {
  const chunks = Buffer.from(binary)
    .toString('base64')
    .match(/.{1,80}/g) ?? [''];
  const body = chunks.map((c, i) => `  '${c}'${i === chunks.length - 1 ? ';' : ' +'}`).join('\n');
  return `// Generated from kernels.wat: do not edit. ${binary.length} bytes of WebAssembly with SIMD, as base64.
// Regenerate: ICHDET_WRITE_WASM=1 npx vitest run test/train-kernels.test.ts

/** SHA-256 of the kernels.wat this module was assembled from. */
export const TRAIN_KERNELS_WAT_SHA256 =
  '${sourceSha256(source)}';

/** The assembled kernels. */
export const TRAIN_KERNELS_WASM_BASE64 =
${body}
`;
}
