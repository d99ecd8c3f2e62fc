import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { InputError } from '../src/errors.js';
import { LABEL_COUNT } from '../src/labels.js';
import { smoothAlongZ } from '../src/series/metrics.js';
import { dilatedConv1d, SeriesModel, SLICE_INPUTS } from '../src/series/model.js';
import { loadFeatureSeries } from '../src/series/read-features.js';
import { predictSeries, reverseSeries, sampleWindow, trainSeries } from '../src/series/train.js';
import { Rng } from '../src/util/rng.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-series-'));

beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function randomArray(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

describe('dilatedConv1d', () => {
  it('computes y[t] = Σⱼ x[t + (j − 1)·d] · W[j] with zeros outside the series', () => {
    // One channel, kernel [1, 2, 3], dilation 2: y[t] = x[t − 2] + 2 x[t] + 3 x[t + 2].
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 6, 1]);
    const k = tf.tensor3d([1, 2, 3], [3, 1, 1]);
    const y = dilatedConv1d(x, k, 2).dataSync();
    expect(Array.from(y)).toEqual([2 + 9, 4 + 12, 1 + 6 + 15, 2 + 8 + 18, 3 + 10, 4 + 12]);
    tf.dispose([x, k]);
  });

  it('matches a hand-written loop over several channels, kernel 5 and dilation 4', () => {
    const [b, t, c, co, ks, d] = [2, 9, 3, 4, 5, 4];
    const xv = randomArray(b * t * c, 1);
    const wv = randomArray(ks * c * co, 2);
    const x = tf.tensor3d(xv, [b, t, c]);
    const w = tf.tensor3d(wv, [ks, c, co]);
    const y = dilatedConv1d(x, w, d).dataSync();
    for (let bi = 0; bi < b; bi++) {
      for (let ti = 0; ti < t; ti++) {
        for (let o = 0; o < co; o++) {
          let s = 0;
          for (let j = 0; j < ks; j++) {
            const src = ti + (j - (ks - 1) / 2) * d;
            if (src < 0 || src >= t) continue;
            for (let ci = 0; ci < c; ci++)
              s += xv[(bi * t + src) * c + ci]! * wv[(j * c + ci) * co + o]!;
          }
          expect(y[(bi * t + ti) * co + o]).toBeCloseTo(s, 5);
        }
      }
    }
    tf.dispose([x, w]);
  });

  it('has a finite gradient with respect to its input and kernel', () => {
    const x = tf.tensor3d(randomArray(10, 3), [1, 10, 1]);
    const w = tf.tensor3d(randomArray(6, 4), [3, 1, 2]);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(dilatedConv1d(a as tf.Tensor3D, b as tf.Tensor3D, 4)),
    )([x, w]);
    // d/dx of Σ y: x[s] is used by every tap whose output position s − (j − 1)·4 is inside.
    expect(Array.from(gx!.dataSync()).every(Number.isFinite)).toBe(true);
    expect(gw!.shape).toEqual([3, 1, 2]);
    tf.dispose([x, w, gx!, gw!]);
  });
});

function seriesInputs(length: number, seed: number): Float32Array {
  const v = randomArray(length * SLICE_INPUTS, seed);
  return v.map((a) => Math.abs(a));
}

/** Runs `model` on the given series right-padded to `t` slices (batch of all of them). */
function run(model: SeriesModel, series: Float32Array[], t: number, training: boolean) {
  const b = series.length;
  const x = new Float32Array(b * t * SLICE_INPUTS);
  const mask = new Float32Array(b * t);
  for (const [i, s] of series.entries()) {
    x.set(s, i * t * SLICE_INPUTS);
    mask.fill(1, i * t, i * t + s.length / SLICE_INPUTS);
  }
  return tf.tidy(() => {
    const out = model.apply(
      { x: tf.tensor3d(x, [b, t, SLICE_INPUTS]), mask: tf.tensor2d(mask, [b, t]) },
      training,
    );
    return { slices: out.slices.arraySync(), study: out.study.arraySync() };
  });
}

describe('SeriesModel', () => {
  it('gives real slices the same outputs with and without padding, in inference and training', () => {
    const model = new SeriesModel({ c1: 8, c2: 6, gru: 4, seed: 3 });
    const a = seriesInputs(7, 10);
    const b = seriesInputs(12, 11);
    for (const training of [false, true]) {
      const alone = run(model, [a], 7, training);
      const padded = run(model, [a], 15, training);
      for (let t = 0; t < 7; t++) {
        for (let l = 0; l < LABEL_COUNT; l++) {
          expect(padded.slices[0]![t]![l]).toBeCloseTo(alone.slices[0]![t]![l]!, 5);
        }
      }
      expect(padded.study[0]).toBeCloseTo(alone.study[0]!, 5);
      if (!training) {
        // In inference each series is independent of its batch-mates too.
        const batched = run(model, [a, b], 12, false);
        for (let t = 0; t < 7; t++) {
          expect(batched.slices[0]![t]![5]).toBeCloseTo(alone.slices[0]![t]![5]!, 5);
        }
        expect(batched.study[0]).toBeCloseTo(alone.study[0]!, 5);
      }
    }
    model.dispose();
  });

  it('has a gradient for every trainable weight', () => {
    const model = new SeriesModel({ c1: 4, c2: 4, gru: 3, embedding: 5, seed: 1 });
    const x = tf.tensor3d(seriesInputs(6, 1), [1, 6, SLICE_INPUTS]);
    const emb = tf.tensor3d(randomArray(30, 2), [1, 6, 5]);
    const mask = tf.tensor2d([1, 1, 1, 1, 1, 0], [1, 6]);
    const { grads, value } = tf.variableGrads(() => {
      const out = model.apply({ x, mask, emb }, true);
      return tf.add(tf.sum(tf.sigmoid(out.slices)), tf.sum(out.study)) as tf.Scalar;
    }, model.trainable());
    expect(Object.keys(grads).length).toBe(model.trainable().length);
    for (const g of Object.values(grads))
      expect(Number.isFinite(tf.sum(g).dataSync()[0])).toBe(true);
    tf.dispose([x, emb, mask, value, ...Object.values(grads)]);
    model.dispose();
  });
});

describe('series features and training', () => {
  const features = join(root, 'features');
  beforeAll(async () => {
    await writeSynthFeatures(features, { patients: 40, folds: 2, seed: 2 });
  });

  it('groups rows into series in slice order with Δz to the next slice', () => {
    const set = loadFeatureSeries(features);
    expect(set.series.length).toBe(42);
    const s = set.series[0]!;
    const slices = s.rows.map((r) => Number(set.imageIds[r]!.split('_')[2]));
    expect(slices).toEqual(slices.map((_, i) => i));
    expect(Array.from(s.dz.slice(0, -1)).every((d) => Math.abs(d - 5) < 1e-3)).toBe(true);
    expect(s.dz[s.dz.length - 1]).toBe(0);
    expect(set.series.filter((x) => x.part === 'test').every((x) => x.fold === null)).toBe(true);
  });

  it('draws windows of at most the window length, in or against slice order', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) {
      const w = sampleWindow(40, 24, rng);
      expect(w.length).toBeLessThanOrEqual(24);
      const steps = w.slice(1).map((v, j) => v - w[j]!);
      expect(new Set(steps).size).toBe(1);
      expect([1, -1, 2, -2]).toContain(steps[0]);
    }
  });

  it('predicts a reversed series as the reverse of its prediction (reversal averaging is exact)', () => {
    // predictSeries averages each series' forward pass and its reversed pass (mapped back), so
    // for s' = reverse(s): pred(s')[t] = (f(s')[t] + f(s)[L−1−t]) / 2 = pred(s)[L−1−t] exactly —
    // the model trained on both orders is queried symmetrically.
    const set = loadFeatureSeries(features);
    const model = new SeriesModel({ c1: 8, c2: 6, gru: 4, seed: 2 });
    const s = set.series[3]!;
    const fwd = predictSeries(model, set, [s]);
    const bwd = predictSeries(model, set, [reverseSeries(s)]);
    const L = s.rows.length;
    for (let t = 0; t < L; t++) {
      for (let l = 0; l < LABEL_COUNT; l++) {
        expect(bwd.slices[0]![t * LABEL_COUNT + l]).toBe(
          fwd.slices[0]![(L - 1 - t) * LABEL_COUNT + l],
        );
      }
    }
    expect(bwd.study[0]).toBe(fwd.study[0]);
    model.dispose();
  });

  it('smooths along z with 0.2/0.6/0.2, renormalised at the ends', () => {
    const p = new Float32Array(3 * LABEL_COUNT);
    for (let i = 0; i < 3; i++) p.fill([0, 1, 0.5][i]!, i * LABEL_COUNT, (i + 1) * LABEL_COUNT);
    const s = smoothAlongZ(p, [[0, 1, 2]]);
    expect(s[0]).toBeCloseTo(0.2 / 0.8, 6);
    expect(s[LABEL_COUNT]).toBeCloseTo(0.6 + 0.1, 6);
    expect(s[2 * LABEL_COUNT]).toBeCloseTo((0.2 + 0.3) / 0.8, 6);
  });

  it('trains out of fold, beats stage 1 on weighted log loss, writes metrics.json and resumes per fold', async () => {
    const out = join(root, 'srun');
    const o = {
      features,
      out,
      epochs: 15,
      batch: 4,
      lr: 3e-3,
      c1: 16,
      c2: 16,
      gru: 8,
      bootstrap: 50,
      backend: 'wasm' as const,
      progress: false,
      log: () => {},
    };
    const r = await trainSeries(o);
    expect(r.trained).toEqual([0, 1]);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    for (const block of ['stage1', 'smoothed', 'stage2']) {
      expect(m[block].weighted_log_loss).toBeGreaterThan(0);
      expect(m[block].auc.any.ci).toHaveLength(2);
    }
    expect(m.stage2.weighted_log_loss).toBeLessThan(m.stage1.weighted_log_loss);
    expect(m.study.stage2.auc).toBeGreaterThan(0.5);
    expect(m.study.stage1.ci).toHaveLength(2);
    expect(existsSync(join(out, 'fold0', 'model.json'))).toBe(true);
    // A second call finds both folds done and reproduces the same metrics.
    const again = await trainSeries(o);
    expect(again.trained).toEqual([]);
    expect(again.metrics.stage2.weighted_log_loss).toBe(r.metrics.stage2.weighted_log_loss);
    // The saved model reloads and predicts what the run stored.
    const model = SeriesModel.load(join(out, 'fold0'));
    expect(model.parameterCount()).toBeGreaterThan(0);
    model.dispose();
  });

  it('names the missing file or column of a malformed features folder', async () => {
    const bad = join(root, 'bad');
    await writeSynthFeatures(bad, { patients: 4, testSeries: 0 });
    rmSync(join(bad, 'probs.npy'));
    expect(() => loadFeatureSeries(bad)).toThrow(InputError);
    expect(() => loadFeatureSeries(bad)).toThrow(/probs\.npy is missing/);

    await writeSynthFeatures(bad, { patients: 4, testSeries: 0 });
    const index = readFileSync(join(bad, 'index.csv'), 'utf8');
    writeFileSync(join(bad, 'index.csv'), index.replace('slice_index,', ''));
    expect(() => loadFeatureSeries(bad)).toThrow(
      /index\.csv:1: header .*missing or misplaced: slice_index/,
    );

    await writeSynthFeatures(bad, { patients: 4, testSeries: 0, dim: 8 });
    const meta = JSON.parse(readFileSync(join(bad, 'features.json'), 'utf8'));
    writeFileSync(join(bad, 'features.json'), JSON.stringify({ ...meta, dim: 16 }));
    expect(() => loadFeatureSeries(bad)).toThrow(/embeddings\.npy: shape must be \(\d+, 16\)/);

    rmSync(join(bad, 'features.json'));
    expect(() => loadFeatureSeries(bad)).toThrow(/features\.json is missing/);

    await writeSynthFeatures(bad, { patients: 4, testSeries: 1 });
    writeFileSync(join(bad, 'features.json'), 'null\n');
    expect(() => loadFeatureSeries(bad)).toThrow(/features\.json: must hold a JSON object/);

    // A test row must leave fold empty (it was held out of no fold).
    await writeSynthFeatures(bad, { patients: 4, testSeries: 1 });
    const rows = readFileSync(join(bad, 'index.csv'), 'utf8');
    writeFileSync(join(bad, 'index.csv'), rows.replace(',,test,', ',0,test,'));
    expect(() => loadFeatureSeries(bad)).toThrow(
      /fold must be .* empty for a test row, received "0"/,
    );
  });
});
