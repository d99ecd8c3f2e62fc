/**
 * Bootstrap intervals: reproducible per seed, containing the point estimate, each resample's AUC
 * equal to the AUC of the explicitly resampled arrays, and (the reference) the same intervals as
 * scikit-learn 1.2.1 `roc_auc_score` / `log_loss` + `numpy.percentile([2.5, 97.5])` computed on
 * the same 200 resamples (their counts exported from `resampleCounts` with seed 1).
 */
import { describe, expect, it } from 'vitest';
import { LABEL_NAMES } from '../src/data/types.js';
import { rocAuc } from '../src/eval/auc.js';
import { bootstrapCi, quantileSorted, resampleCounts } from '../src/eval/bootstrap.js';
import { weightedLogLoss } from '../src/eval/logloss.js';
import { computeMetrics, labelColumn } from '../src/eval/metrics.js';
import { Rng } from '../src/util/rng.js';
import { EVAL_P, EVAL_Y } from './eval-data.js';

describe('quantileSorted', () => {
  it('interpolates linearly between order statistics like numpy.percentile', () => {
    const v = [1, 2, 4, 8];
    expect(quantileSorted(v, 0)).toBe(1);
    expect(quantileSorted(v, 1)).toBe(8);
    // h = 3 · 0.5 = 1.5 → 2 + 0.5 · (4 − 2)
    expect(quantileSorted(v, 0.5)).toBe(3);
    // h = 3 · 0.025 = 0.075 → 1 + 0.075 · 1
    expect(quantileSorted(v, 0.025)).toBeCloseTo(1.075, 15);
  });
});

describe('bootstrapCi', () => {
  const ci = bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 200, seed: 1 });

  it('matches scikit-learn and numpy on the same resamples', () => {
    const want: Record<string, [number, number] | null> = {
      epidural: null,
      intraparenchymal: [0.48035714285714287, 1],
      intraventricular: [0.5909090909090909, 1],
      subarachnoid: [0.8741477272727273, 1],
      subdural: [1, 1],
      any: [1, 1],
      mean: [0.8498950892857143, 1],
    };
    for (const [k, v] of Object.entries(want)) {
      const got = ci.auc[k as keyof typeof ci.auc];
      if (v === null) expect(got).toBeNull();
      else {
        expect(got![0], k).toBeCloseTo(v[0], 13);
        expect(got![1], k).toBeCloseTo(v[1], 13);
      }
    }
    expect(ci.weightedLogLoss[0]).toBeCloseTo(0.2513658432035474, 13);
    expect(ci.weightedLogLoss[1]).toBeCloseTo(0.3707990041637221, 13);
  });

  it('says how many resamples had a label with one class only and were left out', () => {
    expect(ci.aucSkipped).toEqual({
      epidural: 200,
      intraparenchymal: 5,
      intraventricular: 18,
      subarachnoid: 2,
      subdural: 5,
      any: 3,
      mean: 30,
    });
    expect(ci.meanLabels).toEqual(LABEL_NAMES.slice(1));
    expect(ci).toMatchObject({ samples: 200, seed: 1, level: 0.95 });
  });

  it('contains the point estimates', () => {
    const m = computeMetrics(EVAL_Y, EVAL_P, 12);
    for (const name of LABEL_NAMES) {
      const auc = m.labels[name].auc;
      const iv = ci.auc[name];
      if (auc === null) continue;
      expect(iv![0]).toBeLessThanOrEqual(auc);
      expect(iv![1]).toBeGreaterThanOrEqual(auc);
    }
    expect(ci.auc.mean![0]).toBeLessThanOrEqual(m.mean.auc.value!);
    expect(ci.auc.mean![1]).toBeGreaterThanOrEqual(m.mean.auc.value!);
    expect(ci.weightedLogLoss[0]).toBeLessThan(m.weightedLogLoss);
    expect(ci.weightedLogLoss[1]).toBeGreaterThan(m.weightedLogLoss);
  });

  it('is the same for the same seed and differs for another seed', () => {
    expect(bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 200, seed: 1 })).toEqual(ci);
    const other = bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 200, seed: 2 });
    expect(other.weightedLogLoss).not.toEqual(ci.weightedLogLoss);
  });

  it('computes each resample as the metrics of the explicitly resampled images', () => {
    // One resample by hand: draw the counts with the generator the bootstrap uses, repeat the
    // images, and compare rocAuc / weightedLogLoss with a one-resample bootstrap.
    const rng = new Rng(9);
    const counts = new Uint32Array(12);
    resampleCounts(rng, 12, counts);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
    const idx = [...counts].flatMap((c, i) => Array<number>(c).fill(i));
    const y = Uint8Array.from(idx.flatMap((i) => [...EVAL_Y.subarray(i * 6, i * 6 + 6)]));
    const p = Float64Array.from(idx.flatMap((i) => [...EVAL_P.subarray(i * 6, i * 6 + 6)]));
    const one = bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 1, seed: 9 });
    expect(one.weightedLogLoss[0]).toBeCloseTo(weightedLogLoss(y, p, 12), 14);
    for (const [l, name] of LABEL_NAMES.entries()) {
      const auc = rocAuc(labelColumn(y, 12, l), labelColumn(p, 12, l));
      if (auc === null) expect(one.auc[name]).toBeNull();
      else expect(one.auc[name]![0]).toBeCloseTo(auc, 14);
    }
  });

  it('rejects a sample count, seed or level that is out of range', () => {
    expect(() => bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 0, seed: 1 })).toThrow(
      'bootstrap samples must be a positive integer, received 0',
    );
    expect(() => bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 5, seed: -1 })).toThrow(
      'bootstrap seed must be a non-negative integer, received -1',
    );
    expect(() => bootstrapCi(EVAL_Y, EVAL_P, 12, { samples: 5, seed: 1, level: 1 })).toThrow(
      'bootstrap level must be in (0, 1), received 1',
    );
  });
});
