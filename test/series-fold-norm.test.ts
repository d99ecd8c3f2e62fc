import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { ConfigError } from '../src/errors.js';
import { LABEL_COUNT } from '../src/labels.js';
import { loadSeriesAggregator } from '../src/series/aggregator.js';
import { FEATURES_FORMAT, FEATURES_VERSION } from '../src/series/features.js';
import { applyFoldNorm, fitFoldNorm, foldOfModel, mapFoldProbs } from '../src/series/fold-norm.js';
import type { FeatureSet } from '../src/series/read-features.js';
import { trainSeries } from '../src/series/train.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-fold-norm-'));
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

/**
 * Five rows: series a (fold 0) and b (fold 1) of two slices each, series t (test) of one. Every
 * subtype's logit is `sub[row]`, `any`'s is `anyLogit[row]`.
 */
function tinySet(labels: number[]): FeatureSet {
  const sub = [-1, 1, 1, 5, 2];
  const anyLogit = [-3, -1, -1, 3, 0.5];
  const probs = new Float32Array(5 * LABEL_COUNT);
  for (let r = 0; r < 5; r++) {
    for (let l = 0; l < LABEL_COUNT - 1; l++) probs[r * LABEL_COUNT + l] = sigmoid(sub[r]!);
    probs[r * LABEL_COUNT + LABEL_COUNT - 1] = sigmoid(anyLogit[r]!);
  }
  const series = (uid: string, rows: number[], fold: number | null) => ({
    seriesUid: uid,
    studyUid: `st-${uid}`,
    patientId: uid,
    fold,
    part: fold === null ? ('test' as const) : ('oof' as const),
    rows,
    z: rows.map((_, i) => 5 * i),
    dz: Float32Array.from(rows.map((_, i) => (i + 1 < rows.length ? 5 : 0))),
  });
  return {
    dir: 'tiny',
    meta: {
      format: FEATURES_FORMAT,
      version: FEATURES_VERSION,
      arch: 'tiny',
      folds: 2,
      n: 5,
      dim: 1,
      labels: [],
      runs: ['runs/fold0', 'runs/fold1'],
      folds_trained: { '0': ['fold1'], '1': ['fold0'] },
    },
    n: 5,
    dim: 1,
    imageIds: ['a0', 'a1', 'b0', 'b1', 't0'],
    probs,
    embeddings: new Float32Array(5),
    labels: Float32Array.from({ length: 5 * LABEL_COUNT }, (_, i) => labels[i % labels.length]!),
    series: [series('a', [0, 1], 0), series('b', [2, 3], 1), series('t', [4], null)],
  };
}

describe('fold-norm', () => {
  it('fits each fold model’s logit mean and spread and the pooled ones, per label', () => {
    const n = fitFoldNorm(tinySet([0]));
    // Subtypes: fold 0 logits −1, 1 (mean 0, sd 1); fold 1 logits 1, 5 (mean 3, sd 2);
    // pooled −1, 1, 1, 5: mean 1.5, sd √(19/4). `any`: fold 0 −3, −1 (mean −2, sd 1),
    // fold 1 −1, 3 (mean 1, sd 2), pooled mean −0.5, sd √(19/4). The test row counts nowhere.
    expect(n.folds['0']!.rows).toBe(2);
    expect(n.pooled.rows).toBe(4);
    expect(n.folds['0']!.mean[0]).toBeCloseTo(0, 4);
    expect(n.folds['0']!.sd[0]).toBeCloseTo(1, 4);
    expect(n.folds['1']!.mean[2]).toBeCloseTo(3, 4);
    expect(n.folds['1']!.sd[2]).toBeCloseTo(2, 4);
    expect(n.pooled.mean[4]).toBeCloseTo(1.5, 4);
    expect(n.pooled.sd[4]).toBeCloseTo(Math.sqrt(19 / 4), 4);
    expect(n.folds['0']!.mean[5]).toBeCloseTo(-2, 4);
    expect(n.folds['1']!.sd[5]).toBeCloseTo(2, 4);
    expect(n.pooled.mean[5]).toBeCloseTo(-0.5, 4);
  });

  it('maps out-of-fold logits onto the pooled scale, leaves test rows and the input alone, and ignores labels', () => {
    const set = tinySet([0]);
    const before = Float32Array.from(set.probs);
    const out = applyFoldNorm(set, fitFoldNorm(set));
    const at = (r: number, l: number) => logit(out.probs[r * LABEL_COUNT + l]!);
    const s = Math.sqrt(19 / 4);
    // Row 0 (fold 0), a subtype: (−1 − 0) / 1 · s + 1.5; row 3 (fold 1): (5 − 3) / 2 · s + 1.5.
    expect(at(0, 0)).toBeCloseTo(1.5 - s, 4);
    expect(at(3, 1)).toBeCloseTo(1.5 + s, 4);
    // `any` of row 0: (−3 + 2) / 1 · s − 0.5; of row 3: (3 − 1) / 2 · s − 0.5.
    expect(at(0, 5)).toBeCloseTo(-0.5 - s, 4);
    expect(at(3, 5)).toBeCloseTo(-0.5 + s, 4);
    // Rows 1 and 2 had the same subtype logit (1) from two fold models and now differ.
    expect(at(1, 0)).toBeCloseTo(1.5 + s, 4);
    expect(at(2, 0)).toBeCloseTo(1.5 - s, 4);
    // The test row (mean of the fold models) passes unchanged; the input set is not modified.
    expect(out.probs.slice(4 * LABEL_COUNT)).toEqual(set.probs.slice(4 * LABEL_COUNT));
    expect(set.probs).toEqual(before);
    // No label enters the statistics.
    expect(applyFoldNorm(set, fitFoldNorm(tinySet([1, 0, 1]))).probs).toEqual(out.probs);
  });

  it('tells which fold model predict runs and maps its probabilities as training mapped its rows', () => {
    const set = tinySet([0]);
    const norm = fitFoldNorm(set);
    // features.json runs are relative to the cv folder, the features folder's parent.
    expect(norm.runs['1']).toBe(resolve('runs/fold1'));
    expect(foldOfModel(norm, resolve('runs/fold1'))).toBe(1);
    expect(foldOfModel(norm, resolve('runs/fold0/best'))).toBe(0);
    expect(foldOfModel(norm, resolve('runs/other'))).toBeNull();
    const rows = set.probs.slice(2 * LABEL_COUNT, 4 * LABEL_COUNT); // series b, fold 1
    expect(mapFoldProbs(norm, 1, rows)).toEqual(
      applyFoldNorm(set, norm).probs.slice(2 * LABEL_COUNT, 4 * LABEL_COUNT),
    );
    expect(mapFoldProbs(norm, 7, rows)).toEqual(rows);
  });
});

describe('train-series --fold-norm', () => {
  const features = join(root, 'features');
  // Fold 1's stage-1 model squeezes and shifts its logits: a series model trained on one fold's
  // outputs and scored on the other's learns the wrong scale unless the folds are standardised.
  beforeAll(async () => {
    await writeSynthFeatures(features, {
      patients: 24,
      folds: 2,
      seed: 4,
      calibration: { 1: [0.4, -2] },
    });
  });
  const o = {
    features,
    epochs: 6,
    batch: 4,
    lr: 3e-3,
    c1: 16,
    c2: 16,
    gru: 8,
    bootstrap: 20,
    backend: 'wasm' as const,
    workers: 1,
    progress: false,
    log: () => {},
  };

  it('beats the same series model on raw inputs when fold models disagree, with stage 1 scored raw', async () => {
    const raw = await trainSeries({ ...o, out: join(root, 'raw') });
    // In two worker threads (series/fold-task.ts applies the standardisation there).
    const norm = await trainSeries({ ...o, out: join(root, 'norm'), foldNorm: true, workers: 2 });
    // The stage-1 and smoothed blocks are the raw probabilities' in both runs.
    expect(norm.metrics.stage1.weighted_log_loss).toBe(raw.metrics.stage1.weighted_log_loss);
    expect(norm.metrics.smoothed.weighted_log_loss).toBe(raw.metrics.smoothed.weighted_log_loss);
    // Measured: stage 1 0.121, raw inputs 0.115, standardised 0.099.
    expect(norm.metrics.stage2.weighted_log_loss).toBeLessThan(
      0.93 * raw.metrics.stage2.weighted_log_loss,
    );
    expect(norm.metrics.stage2.weighted_log_loss).toBeLessThan(
      norm.metrics.stage1.weighted_log_loss,
    );
    const saved = JSON.parse(readFileSync(join(root, 'norm', 'fold-norm.json'), 'utf8'));
    expect(saved.folds['1'].mean[5]).toBeLessThan(saved.folds['0'].mean[5]);
    expect(JSON.parse(readFileSync(join(root, 'norm', 'config.json'), 'utf8')).foldNorm).toBe(true);
    // Fold 0 trained on this thread gives the same bytes as in its worker.
    await trainSeries({ ...o, out: join(root, 'norm-here'), foldNorm: true, folds: [0] });
    for (const f of ['predictions.npy', 'weights.bin']) {
      expect(readFileSync(join(root, 'norm-here', 'fold0', f))).toEqual(
        readFileSync(join(root, 'norm', 'fold0', f)),
      );
    }
  });

  it('maps the stage-1 probabilities in predict when the stage-1 model is one of the fold models', () => {
    const srun = join(root, 'norm');
    const norm = JSON.parse(readFileSync(join(srun, 'fold-norm.json'), 'utf8'));
    const fold1 = join(root, 'runs', 'fold1');
    const mapped = loadSeriesAggregator(srun, { stage1: join(fold1, 'best') });
    const plain = loadSeriesAggregator(srun);
    const other = loadSeriesAggregator(srun, { stage1: join(root, 'runs', 'elsewhere') });
    try {
      expect(mapped.inputFold).toBe(1);
      expect(plain.inputFold).toBeNull();
      expect(other.inputFold).toBeNull();
      const p = [0.02, 0.3, 0.05, 0.1, 0.2, 0.6];
      const slices = (q: number[]) =>
        [0, 1, 2, 3].map((i) => ({
          file: `f${i}`,
          imageId: `i${i}`,
          patientId: 'P',
          studyUid: 'S',
          seriesUid: 'R',
          index: i,
          position: 5 * i,
          p: q.map((v) => Math.fround(Math.min(0.9, v * (1 + i / 4)))),
        }));
      const a = mapped.series(slices(p)) as { p: Float32Array; any: number };
      const b = plain.series(
        slices(p).map((s) => ({ ...s, p: Array.from(mapFoldProbs(norm, 1, s.p)) })),
      ) as { p: Float32Array; any: number };
      expect(Array.from(a.p)).toEqual(Array.from(b.p));
      expect(a.any).toBe(b.any);
      const c = plain.series(slices(p)) as { p: Float32Array; any: number };
      expect(Array.from(a.p)).not.toEqual(Array.from(c.p));
    } finally {
      mapped.dispose();
      plain.dispose();
      other.dispose();
    }
  });

  it('refuses to resume a run with the other --fold-norm setting', async () => {
    await expect(trainSeries({ ...o, out: join(root, 'raw'), foldNorm: true })).rejects.toThrow(
      ConfigError,
    );
    await expect(trainSeries({ ...o, out: join(root, 'raw'), foldNorm: true })).rejects.toThrow(
      /foldNorm false, received true/,
    );
  });
});
