/**
 * Registry-wide on the wasm backend with ichdet's training kernels: every architecture gives a
 * finite, non-zero gradient for every trainable weight, and its [4, 6] output has no NaN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../src/models/index.js';
import { ARCH_NAMES, REGISTRY } from '../src/models/registry.js';
import { initBackend } from '../src/train/backend.js';
import { lossSum } from '../src/train/loss.js';
import { withSeededRandom } from '../src/train/seeded.js';
import { Rng } from '../src/util/rng.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe.each(ARCH_NAMES)('%s on wasm', (arch) => {
  it('has a finite, non-zero gradient for every trainable weight', () => {
    const size = Math.max(32, REGISTRY.find((s) => s.name === arch)!.minSize);
    const model = buildModel(arch, { inputShape: [size, size, 3] });
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([4, size, size, 3], 0, 1, 'float32', 7);
    const y = tf.tensor2d(
      [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
      [4, 6],
    );
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    let out: Float32Array | undefined;
    // EfficientNet's stochastic depth drops whole blocks per example: seeded, so no block is
    // dropped for the whole batch.
    const { value, grads } = withSeededRandom(new Rng(3), () =>
      tf.variableGrads(() => {
        const p = model.apply(x, { training: true }) as tf.Tensor2D;
        out = p.dataSync() as Float32Array;
        return lossSum('bce', y, p);
      }, vars),
    );
    expect(out).toHaveLength(24);
    expect(Array.from(out!).every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const bad: string[] = [];
    for (const v of vars) {
      const g = grads[v.name];
      const d = g?.dataSync();
      if (!d || d.length !== v.size || !d.every(Number.isFinite) || d.every((e) => e === 0)) {
        bad.push(v.name);
      }
    }
    expect(bad).toEqual([]);
    tf.dispose([value, x, y, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }, 120_000);
});
