/**
 * ROC AUC and average precision against hand-worked values; each also equals scikit-learn 1.2.1
 * (`roc_auc_score`, `average_precision_score`) on the same arrays.
 */
import { describe, expect, it } from 'vitest';
import { averagePrecision, rankedAuc, rocAuc } from '../src/eval/auc.js';
import { rank, thresholdCounts } from '../src/eval/ranking.js';

describe('rocAuc', () => {
  it('is 0.75 for y=[0,0,1,1], p=[0.1,0.4,0.35,0.8] (sklearn documentation example)', () => {
    // Pairs (positive, negative): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 → 3 of 4.
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
  });

  it('counts a score tied between a positive and a negative as one half', () => {
    // Pairs: (0.5 vs 0.5) ½, (0.5 vs 0.2) 1, (0.9 vs 0.5) 1, (0.9 vs 0.2) 1 → 3.5 / 4.
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    // Every score tied: every pair counts ½.
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])).toBe(0.5);
  });

  it('is 1 for a perfect ranking and 0 for a reversed one', () => {
    expect(rocAuc([0, 0, 1], [0.1, 0.2, 0.9])).toBe(1);
    expect(rocAuc([1, 0, 0], [0.1, 0.2, 0.9])).toBe(0);
  });

  it('depends on the order of the scores only, not on their scale', () => {
    const y = [1, 0, 1, 0, 0, 1];
    const p = [0.3, 0.2, 0.9, 0.3, 0.1, 0.05];
    expect(rocAuc(y, p)).toBe(
      rocAuc(
        y,
        p.map((v) => 10 * v - 4),
      ),
    );
    // By hand: positives 0.3, 0.9, 0.05; negatives 0.2, 0.3, 0.1.
    // 0.3: 1 + ½ + 1; 0.9: 3; 0.05: 0 → 5.5 / 9.
    expect(rocAuc(y, p)).toBeCloseTo(5.5 / 9, 15);
  });

  it('is null, not NaN, when only one class is present', () => {
    expect(rocAuc([0, 0, 0], [0.1, 0.5, 0.9])).toBeNull();
    expect(rocAuc([1, 1], [0.1, 0.5])).toBeNull();
    expect(rocAuc([], [])).toBeNull();
  });

  it('accepts typed arrays as the training loop passes them', () => {
    expect(rocAuc(Float32Array.of(0, 0, 1, 1), Float32Array.of(0.1, 0.4, 0.35, 0.8))).toBe(0.75);
    expect(rocAuc(Uint8Array.of(0, 0, 1, 1), Float64Array.of(0.1, 0.4, 0.35, 0.8))).toBe(0.75);
  });

  it('rejects a NaN score, a label other than 0/1 and arrays of different lengths', () => {
    expect(() => rocAuc([0, 1], [0.5, Number.NaN])).toThrow(
      'score 1 must be a finite number, received NaN',
    );
    expect(() => rocAuc([0, 2], [0.5, 0.6])).toThrow('label 1 must be 0 or 1, received 2');
    expect(() => rocAuc([0, 1, 1], [0.5, 0.6])).toThrow(
      'labels and scores differ in length: 3 vs 2',
    );
  });

  it('with weights equals the AUC of the arrays with each item repeated that many times', () => {
    const y = [0, 1, 0, 1, 1];
    const p = [0.5, 0.5, 0.2, 0.9, 0.1];
    const w = [2, 1, 0, 3, 1];
    const yy = y.flatMap((v, i) => Array<number>(w[i]!).fill(v));
    const pp = p.flatMap((v, i) => Array<number>(w[i]!).fill(v));
    // Repeated: positives 0.5, 0.9×3, 0.1; negatives 0.5×2 → (2·½ + 3·2 + 0) / (5·2) = 0.7.
    expect(rankedAuc(rank(y, p), w)).toBeCloseTo(0.7, 15);
    expect(rocAuc(yy, pp)).toBeCloseTo(0.7, 15);
  });
});

describe('thresholdCounts', () => {
  it('lists cumulative true and false positives at each distinct score, descending', () => {
    const c = thresholdCounts(rank([1, 0, 1, 0, 1], [0.9, 0.9, 0.5, 0.5, 0.1]));
    expect([...c.thresholds]).toEqual([0.9, 0.5, 0.1]);
    expect([...c.tps]).toEqual([1, 2, 3]);
    expect([...c.fps]).toEqual([1, 2, 2]);
  });
});

describe('averagePrecision', () => {
  it('is 0.8333 for the sklearn documentation example', () => {
    // Descending: 0.8 (+) P=1 R=½; 0.4 (−); 0.35 (+) P=⅔ R=1 → ½·1 + ½·⅔ = ⅚.
    expect(averagePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(5 / 6, 15);
  });

  it('moves tied scores together and is the step sum, not the interpolated one', () => {
    // Thresholds 0.9: tp 1 fp 1 (P ½, R ⅓); 0.5: tp 2 fp 2 (P ½, R ⅔); 0.1: tp 3 fp 2 (P ⅗, R 1).
    // Step sum: ⅓·½ + ⅓·½ + ⅓·⅗ = 0.5333…; interpolating would use ⅗ for all three (0.6).
    expect(averagePrecision([1, 0, 1, 0, 1], [0.9, 0.9, 0.5, 0.5, 0.1])).toBeCloseTo(8 / 15, 15);
    // All scores tied: one threshold, recall 1 at precision 2/5.
    expect(averagePrecision([1, 0, 1, 0, 0], [0.3, 0.3, 0.3, 0.3, 0.3])).toBeCloseTo(0.4, 15);
  });

  it('is 1 when every positive outranks every negative', () => {
    expect(averagePrecision([0, 1, 1, 0], [0.2, 0.8, 0.7, 0.1])).toBe(1);
  });

  it('is null without positives (sklearn returns 0 with a warning) but defined without negatives', () => {
    expect(averagePrecision([0, 0], [0.2, 0.8])).toBeNull();
    expect(averagePrecision([1, 1], [0.2, 0.8])).toBe(1);
  });
});
