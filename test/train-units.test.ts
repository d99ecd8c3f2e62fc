import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { enableNative, nativeAdam, nativeAddon } from '../src/backend/native.js';
import { ConfigError } from '../src/errors.js';
import { microBatchFor, resolveTrainConfig } from '../src/train/config.js';
import { lossSum, lossSumArrays } from '../src/train/loss.js';
import {
  applyUpdate,
  createOptimizer,
  deserializeOptimizer,
  serializeOptimizer,
  updateRange,
} from '../src/train/optim.js';
import { isMovingStat } from '../src/train/seeded.js';

const base = { cache: 'c', split: 's.csv', arch: 'mobilenet_v2', out: 'r' };

describe('training config', () => {
  it('defaults to the reference study: 224², 10 epochs, batch 32, Adam 1e-4, BCE, ImageNet, flips and crops', () => {
    const c = resolveTrainConfig(base, 2);
    expect(c).toMatchObject({
      size: 224,
      epochs: 10,
      batch: 32,
      lr: 1e-4,
      optimizer: 'adam',
      loss: 'bce',
      weights: 'imagenet',
      augment: 'hflip=0.25,vflip=0.10,crop=0.25',
      context: 0,
      monitor: 'weighted_log_loss',
      workers: 2,
      seed: 0,
    });
  });

  it.each([
    [
      { arch: 'alexnet' },
      '--arch must be one of vgg16, resnet50, inception_v3, mobilenet_v2, xception, efficientnet_b0, efficientnet_b2, efficientnet_b3 or their Keras names VGG16, ResNet50, InceptionV3, MobileNetV2, Xception, EfficientNetB0, EfficientNetB2, EfficientNetB3 (any case, with or without underscores), received "alexnet"',
    ],
    [{ size: 16 }, '--size must be ≥ 32 for mobilenet_v2, received 16'],
    [{ arch: 'inception_v3', size: 64 }, '--size must be ≥ 75 for inception_v3, received 64'],
    [{ lr: -1 }, '--lr must be a positive number, received -1'],
    [{ context: 3 }, '--context must be 0, 1 or 2, received 3'],
    [{ loss: 'mse' }, '--loss must be one of bce, weighted-bce, focal, received "mse"'],
    [{ batch: 0 }, '--batch must be a positive integer, received 0'],
    [{ dropout: 1 }, '--dropout must be in [0, 1), received 1'],
    [{ valSplit: 'train' }, 'validation split "train" is also a training split'],
  ])('rejects %j naming the field and the value', (bad, message) => {
    expect(() => resolveTrainConfig({ ...base, ...bad })).toThrow(new ConfigError(message));
  });

  it('never uses more workers than examples in a batch, and micro-batches fit the share', () => {
    const c = resolveTrainConfig({ ...base, batch: 1 }, 2);
    expect(c.workers).toBe(1);
    const big = resolveTrainConfig({ ...base, size: 224 }, 2);
    // 16 MobileNetV2 examples at 224² per pass, capped by the worker's share of 16.
    expect(microBatchFor(big, 16)).toBe(16);
    expect(microBatchFor(resolveTrainConfig({ ...base, arch: 'vgg16' }), 16)).toBe(5);
    expect(microBatchFor(resolveTrainConfig({ ...base, microBatch: 4 }), 16)).toBe(4);
    expect(microBatchFor(resolveTrainConfig({ ...base, size: 64 }), 16)).toBe(16);
  });
});

describe('losses', () => {
  const y = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
  const p = [0.9, 0.2, 0.1, 0.3, 0.05, 0.8, 0.1, 0.1, 0.5, 0.2, 0.3, 0.4];
  const bce = (yi: number, pi: number) => -(yi * Math.log(pi) + (1 - yi) * Math.log(1 - pi));

  it('bce, weighted-bce and focal follow their formulas, summed over examples', () => {
    let plain = 0;
    let weighted = 0;
    let focal = 0;
    for (let i = 0; i < 12; i++) {
      const l = bce(y[i]!, p[i]!);
      plain += l / 6;
      weighted += ((i % 6 === 5 ? 2 : 1) * l) / 7;
      const pt = y[i] ? p[i]! : 1 - p[i]!;
      focal += ((1 - pt) ** 2 * l) / 6;
    }
    expect(lossSumArrays('bce', y, p, 6)).toBeCloseTo(plain, 12);
    expect(lossSumArrays('weighted-bce', y, p, 6)).toBeCloseTo(weighted, 12);
    expect(lossSumArrays('focal', y, p, 6)).toBeCloseTo(focal, 12);
    // By hand for the first image: bce terms −ln 0.9, −ln 0.8, −ln 0.9, −ln 0.7, −ln 0.95, −ln 0.8.
    const first = [0.9, 0.8, 0.9, 0.7, 0.95, 0.8].reduce((s, q) => s - Math.log(q), 0) / 6;
    expect(lossSumArrays('bce', y.slice(0, 6), p.slice(0, 6), 6)).toBeCloseTo(first, 12);
  });

  it('the tensor losses equal the array losses', async () => {
    // Files share a worker's modules (vitest isolate: false): put back the backend an earlier
    // file chose (none when this file runs first).
    const before = tf.getBackend() as string | undefined;
    await tf.setBackend('cpu');
    try {
      const yt = tf.tensor2d(y, [2, 6]);
      const pt = tf.tensor2d(p, [2, 6]);
      for (const name of ['bce', 'weighted-bce', 'focal'] as const) {
        const t = lossSum(name, yt, pt);
        expect(t.dataSync()[0]).toBeCloseTo(lossSumArrays(name, y, p, 6), 5);
        t.dispose();
      }
      yt.dispose();
      pt.dispose();
    } finally {
      if (before !== undefined) await tf.setBackend(before);
    }
  });

  it('clips probabilities at 1e-7 so a confident mistake costs −ln 1e-7, not Infinity', () => {
    expect(lossSumArrays('bce', [1], [0], 1)).toBeCloseTo(-Math.log(1e-7), 9);
  });
});

describe('optimisers', () => {
  it('Adam takes a first step of lr·g/|g| (Keras 3 formula, ε = 1e-7)', () => {
    const o = createOptimizer('adam', 0.1, 1);
    const w = new Float32Array([1]);
    applyUpdate(o, w, new Float32Array([0.5]));
    // m = 0.05, v = 0.00025, α = 0.1·√0.001/0.1; Δ = α·m/(√v + ε) = 0.1 · 0.0158114/(0.0158114 + 1e-7).
    const m = 0.05;
    const v = 0.00025;
    const alpha = (0.1 * Math.sqrt(1 - 0.999)) / (1 - 0.9);
    expect(w[0]).toBeCloseTo(1 - (m * alpha) / (Math.sqrt(v) + 1e-7), 6);
    expect(w[0]).toBeCloseTo(0.9000006, 6);
    expect(o.step).toBe(1);
    // Second step, same gradient: m = 0.095, v = 0.00049975, α = 0.1·√(1 − 0.999²)/(1 − 0.9²).
    applyUpdate(o, w, new Float32Array([0.5]));
    const a2 = (0.1 * Math.sqrt(1 - 0.999 ** 2)) / (1 - 0.9 ** 2);
    expect(w[0]).toBeCloseTo(0.9000006 - (0.095 * a2) / (Math.sqrt(0.00049975) + 1e-7), 6);
  });

  it('SGD with momentum 0.9 and RMSprop follow Keras', () => {
    const s = createOptimizer('sgd', 0.1, 1);
    const w = new Float32Array([1]);
    applyUpdate(s, w, new Float32Array([2]));
    applyUpdate(s, w, new Float32Array([2]));
    // u1 = −0.2, w = 0.8; u2 = −0.18 − 0.2 = −0.38, w = 0.42.
    expect(w[0]).toBeCloseTo(0.42, 6);
    const r = createOptimizer('rmsprop', 0.01, 1);
    const w2 = new Float32Array([1]);
    applyUpdate(r, w2, new Float32Array([2]));
    // v = 0.1·4 = 0.4; w = 1 − 0.01·2/(√0.4 + 1e-7).
    expect(w2[0]).toBeCloseTo(1 - 0.02 / (Math.sqrt(0.4) + 1e-7), 6);
  });

  it('a serialised state restores bit for bit and continues identically', () => {
    const a = createOptimizer('adam', 1e-3, 4);
    const wa = new Float32Array([1, -2, 3, 0.5]);
    const g = new Float32Array([0.1, -0.3, 0.7, 0]);
    applyUpdate(a, wa, g);
    applyUpdate(a, wa, g);
    const s = serializeOptimizer(a);
    const b = deserializeOptimizer(s.json, s.data, 'x');
    const wb = wa.slice();
    applyUpdate(a, wa, g);
    applyUpdate(b, wb, g);
    expect(Array.from(wb)).toEqual(Array.from(wa));
    expect(b.step).toBe(3);
    expect(() => deserializeOptimizer(s.json, s.data.subarray(4), 'opt.bin')).toThrow(
      'opt.bin: optimiser state has 28 bytes, expected 32',
    );
  });
});

describe('the optimiser split over workers', () => {
  it.each(['adam', 'sgd', 'rmsprop'] as const)(
    '%s: ranges of the sum of two gradients give the bits of one whole update',
    (name) => {
      // Values whose float32 sum rounds: g1 + g2 is not exact in float32.
      const g1 = new Float32Array([0.1, -0.3, 0.7, 1e-8, 3.3333333, -2.25, 0.5]);
      const g2 = new Float32Array([0.2, 0.30000001, -0.7, 1, 1e-7, 1.75, -0.25]);
      const whole = createOptimizer(name, 1e-3, 7);
      const split = createOptimizer(name, 1e-3, 7);
      const ww = new Float32Array([1, -2, 3, 0.5, 0, 4, -1]);
      const ws = ww.slice();
      for (let step = 0; step < 3; step++) {
        const sum = g1.slice();
        for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! + g2[k]!;
        applyUpdate(whole, ww, sum);
        updateRange(split, ws, [g1, g2], 0, 3);
        updateRange(split, ws, [g1, g2], 3, 7);
        split.step++;
      }
      expect(Array.from(ws)).toEqual(Array.from(ww));
      expect(split.slots.map((v) => Array.from(v))).toEqual(whole.slots.map((v) => Array.from(v)));
      expect(Array.from(ws)).not.toEqual([1, -2, 3, 0.5, 0, 4, -1]);
    },
  );
});

describe('Adam in the native accelerator', () => {
  const K = { alpha: 1e-3, c1: 0.1, c2: 0.001, eps: 1e-7 };
  it('gives the bits of the JavaScript loop, for 1 to 3 gradient arrays in shared memory', () => {
    expect(nativeAddon()).not.toBeNull();
    const n = 20_000;
    // Small, tiny and large values (and exact zeros) so the roundings are exercised.
    const gen = (k: number, shared: boolean) => {
      const a = new Float32Array(shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
      for (let i = 0; i < n; i++) {
        a[i] = i % 11 === 0 ? 0 : Math.sin(i * k) * (i % 7 === 0 ? 1e-9 : i % 5 === 0 ? 3 : 1e-2);
      }
      return a;
    };
    for (const ng of [1, 2, 3]) {
      const run = (native: boolean) => {
        const o = createOptimizer('adam', 3e-4, n);
        o.slots[1] = o.slots[1]!.map((_, i) => Math.abs(Math.cos(i)) * 1e-4);
        const w = gen(1, true);
        const grads = [gen(2, true), gen(3, false), gen(4, true)].slice(0, ng);
        if (native) {
          enableNative(true, 1);
          // The accelerator takes the update (a zero-length range: nothing changes).
          expect(nativeAdam([w, o.slots[0]!, o.slots[1]!, grads], 0, 0, K)).toBe(true);
        }
        try {
          for (let step = 0; step < 3; step++) {
            updateRange(o, w, grads, 0, 7_001);
            updateRange(o, w, grads, 7_001, n);
            o.step++;
          }
        } finally {
          enableNative(false);
        }
        return [w, ...o.slots];
      };
      expect(
        nativeAdam([new Float32Array(1), new Float32Array(1), new Float32Array(1), []], 0, 0, K),
      ).toBe(false);
      const js = run(false);
      const native = run(true);
      for (const [k, a] of js.entries()) {
        expect(
          Buffer.compare(Buffer.from(a.buffer), Buffer.from(native[k]!.buffer)),
          `${ng} grads, array ${k}`,
        ).toBe(0);
      }
      expect(js[0]![1]).not.toBe(gen(1, false)[1]);
    }
  });

  it('checks its arguments: typed arrays and a range inside them', () => {
    const addon = nativeAddon()!;
    const a = new Float32Array(8);
    expect(() => addon.adam(a, a, a, [a], 0, 9, 1, 0.1, 0.001, 1e-7)).toThrow(/range is outside/);
    expect(() => addon.adam(a, a, a, [a], 0, 8)).toThrow(/adam takes 10 arguments/);
    expect(() => addon.adam(a, a, a, [], 0, 8, 1, 0.1, 0.001, 1e-7)).toThrow(
      /1 to 64 Float32Arrays/,
    );
    expect(() =>
      addon.adam(
        a,
        a,
        new Float64Array(8) as unknown as Float32Array,
        [a],
        0,
        8,
        1,
        0.1,
        0.001,
        1e-7,
      ),
    ).toThrow(/v must be a Float32Array/);
  });
});

describe('batch-norm statistics', () => {
  it('are recognised by name, also with tfjs uniquifying suffixes', () => {
    expect(isMovingStat('bn_Conv1/moving_mean')).toBe(true);
    expect(isMovingStat('conv1_bn/moving_variance_1')).toBe(true);
    expect(isMovingStat('normalization/mean')).toBe(false);
    expect(isMovingStat('bn_Conv1/gamma')).toBe(false);
  });
});

describe('backend choice', () => {
  it('asks for tfjs-node by name when --backend node is forced and it is not installed', async () => {
    const { initBackend } = await import('../src/backend/init.js');
    await expect(initBackend('node')).rejects.toThrow(
      /--backend node needs @tensorflow\/tfjs-node \(CPU\) or @tensorflow\/tfjs-node-gpu \(CUDA\)/,
    );
  });
});
