/**
 * Every training kernel ichdet supplies to the wasm backend against the pure-JS cpu backend's
 * own implementation: the gradients of Σ conv(x, w)² with respect to x and w agree within a
 * relative error of 1e-4 (max abs difference / max abs value) on small shapes covering strides,
 * paddings (including TF's asymmetric 'same'), kernel shapes and depthwise convolutions.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/train/backend.js';

beforeAll(async () => {
  await initBackend('wasm');
});

type Case = [string, number[], number[], 1 | 2, 'same' | 'valid', boolean];

const CASES: Case[] = [
  ['3×3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 4], 1, 'same', false],
  ['3×3 stride 2 same, even input (asymmetric pad)', [2, 8, 8, 3], [3, 3, 3, 4], 2, 'same', false],
  ['3×3 stride 2 valid', [2, 9, 9, 3], [3, 3, 3, 4], 2, 'valid', false],
  ['1×1 stride 1', [2, 5, 5, 3], [1, 1, 3, 4], 1, 'same', false],
  ['1×1 stride 2 valid (ResNet shortcut)', [2, 6, 6, 3], [1, 1, 3, 4], 2, 'valid', false],
  ['7×7 stride 2 same (ResNet stem)', [1, 12, 12, 3], [7, 7, 3, 2], 2, 'same', false],
  ['1×7 same (InceptionV3)', [2, 6, 6, 3], [1, 7, 3, 2], 1, 'same', false],
  ['7×1 same (InceptionV3)', [2, 6, 6, 3], [7, 1, 3, 2], 1, 'same', false],
  ['5×5 stride 2 valid, odd leftover', [1, 11, 11, 2], [5, 5, 2, 3], 2, 'valid', false],
  ['depthwise 3×3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 1], 1, 'same', true],
  ['depthwise 3×3 stride 2 same, even input', [2, 8, 8, 3], [3, 3, 3, 1], 2, 'same', true],
  ['depthwise 5×5 stride 2 same, odd input', [2, 9, 9, 3], [5, 5, 3, 1], 2, 'same', true],
  ['depthwise 3×3 stride 2 valid', [1, 9, 9, 2], [3, 3, 2, 1], 2, 'valid', true],
];

function values(shape: number[], f: (i: number) => number): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i));
}

async function gradients(backend: string, c: Case, fused: boolean): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const [, xs, ws, s, pad, depthwise] = c;
  return tf.tidy(() => {
    const x = tf.tensor4d(
      values(xs, (i) => Math.sin(i * 1.3)),
      xs as [number, number, number, number],
    );
    const w = tf.tensor4d(
      values(ws, (i) => Math.cos(i * 0.7)),
      ws as [number, number, number, number],
    );
    const b = tf.tensor1d(values([ws[depthwise ? 2 : 3]!], (i) => 0.1 * i));
    const f = (a: tf.Tensor, k: tf.Tensor) => {
      const a4 = a as tf.Tensor4D;
      const k4 = k as tf.Tensor4D;
      let y: tf.Tensor;
      if (fused) {
        y = depthwise
          ? tf.fused.depthwiseConv2d({
              x: a4,
              filter: k4,
              strides: s,
              pad,
              bias: b,
              activation: 'relu',
            })
          : tf.fused.conv2d({ x: a4, filter: k4, strides: s, pad, bias: b, activation: 'relu' });
      } else {
        y = depthwise ? tf.depthwiseConv2d(a4, k4, s, pad) : tf.conv2d(a4, k4, s, pad);
      }
      return tf.sum(tf.square(y));
    };
    const [gx, gw] = tf.grads(f)([x, w]);
    return [gx!.dataSync() as Float32Array, gw!.dataSync() as Float32Array];
  });
}

function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('wasm training kernels agree with the cpu backend', () => {
  it.each(CASES)('%s', async (...c) => {
    for (const fused of [false, true]) {
      const [wx, ww] = await gradients('wasm', c, fused);
      const [cx, cw] = await gradients('cpu', c, fused);
      expect(wx).toHaveLength(cx!.length);
      expect(relError(wx!, cx!)).toBeLessThan(1e-4);
      expect(relError(ww!, cw!)).toBeLessThan(1e-4);
    }
  });

  it('batch-norm gradients (tile-free override) agree with the cpu backend', async () => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const x = tf.tensor4d(
          values([2, 4, 4, 3], (i) => Math.sin(i * 0.9) * 3),
          [2, 4, 4, 3],
        );
        const mean = tf.tensor1d([0.1, -0.2, 0.3]);
        const variance = tf.tensor1d([1.5, 0.7, 2.0]);
        const scale = tf.tensor1d([1.2, 0.8, 1.0]);
        const offset = tf.tensor1d([0.0, 0.5, -0.5]);
        const g = tf.grads(
          (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, sc: tf.Tensor, o: tf.Tensor) =>
            tf.sum(tf.square(tf.batchNorm(a, m, v, o, sc, 1e-3))),
        )([x, mean, variance, scale, offset]);
        return g.map((t) => t.dataSync() as Float32Array);
      });
    };
    const w = await run('wasm');
    const c = await run('cpu');
    for (let i = 0; i < c.length; i++) expect(relError(w[i]!, c[i]!)).toBeLessThan(1e-5);
  });

  it('leaks no tensors', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    await gradients('wasm', CASES[1]!, false);
    await gradients('wasm', CASES[10]!, true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
