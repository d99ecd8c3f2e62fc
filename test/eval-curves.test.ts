import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { averagePrecision, rocAuc } from '../src/eval/auc.js';
import { downsampleCurve, prCurve, rocCurve, thresholdsToJson } from '../src/eval/curves.js';
import { Rng } from '../src/util/rng.js';

/** Trapezoid area under a polyline. */
function trapezoid(xs: readonly number[], ys: readonly number[]): number {
  let a = 0;
  for (let i = 1; i < xs.length; i++) a += ((xs[i]! - xs[i - 1]!) * (ys[i]! + ys[i - 1]!)) / 2;
  return a;
}

function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    expect(v).toBeCloseTo(expected[i]!, 12);
  });
}

// sklearn's docstring example, and one with ties between and within the classes.
const Y = [0, 0, 1, 1];
const P = [0.1, 0.4, 0.35, 0.8];
// Sorted: 0.9 (+) | 0.5 (+, −) | 0.2 (−, +): three distinct thresholds, P = 3, N = 2.
const YT = [0, 1, 0, 1, 1];
const PT = [0.2, 0.5, 0.5, 0.9, 0.2];

describe('rocCurve', () => {
  it('matches sklearn roc_curve(drop_intermediate=False) on its docstring example', () => {
    const c = rocCurve(Y, P)!;
    expectClose(c.fpr, [0, 0, 0.5, 0.5, 1]);
    expectClose(c.tpr, [0, 0.5, 0.5, 1, 1]);
    expect(c.thresholds).toEqual([Number.POSITIVE_INFINITY, 0.8, 0.4, 0.35, 0.1]);
  });

  it('moves tied scores together, one point per distinct score', () => {
    const c = rocCurve(YT, PT)!;
    expectClose(c.fpr, [0, 0, 0.5, 1]);
    expectClose(c.tpr, [0, 1 / 3, 2 / 3, 1]);
    expect(c.thresholds).toEqual([Number.POSITIVE_INFINITY, 0.9, 0.5, 0.2]);
    // Area under the curve = 0 + 0.5·(1/3 + 2/3)/2 + 0.5·(2/3 + 1)/2 = 2/3, the tie counted ½.
    expect(trapezoid(c.fpr, c.tpr)).toBeCloseTo(2 / 3, 12);
    expect(trapezoid(c.fpr, c.tpr)).toBeCloseTo(rocAuc(YT, PT)!, 12);
  });

  it('draws the chance diagonal when every score is tied', () => {
    const c = rocCurve([1, 0, 1], [0.3, 0.3, 0.3])!;
    expect(c).toEqual({ fpr: [0, 1], tpr: [0, 1], thresholds: [Number.POSITIVE_INFINITY, 0.3] });
  });

  it('is null when one class is absent, or there is no item', () => {
    expect(rocCurve([0, 0, 0], [0.1, 0.2, 0.3])).toBeNull();
    expect(rocCurve([1, 1], [0.1, 0.2])).toBeNull();
    expect(rocCurve([], [])).toBeNull();
  });

  it('rejects labels other than 0/1, non-finite scores and arrays of different lengths', () => {
    expect(() => rocCurve([0, 2], [0.1, 0.2])).toThrow(/label 1 must be 0 or 1, received 2/);
    expect(() => rocCurve([0, 1], [0.1, Number.NaN])).toThrow(/score 1 must be a finite number/);
    expect(() => rocCurve([0, 1], [0.1])).toThrow(RangeError);
  });

  it('leaves its inputs unchanged and accepts typed arrays', () => {
    const y = Uint8Array.from(YT);
    const p = Float32Array.from([0.25, 0.5, 0.5, 0.75, 0.25]);
    const c = rocCurve(y, p)!;
    expect(Array.from(y)).toEqual(YT);
    expect(Array.from(p)).toEqual([0.25, 0.5, 0.5, 0.75, 0.25]);
    expect(c.thresholds).toEqual([Number.POSITIVE_INFINITY, 0.75, 0.5, 0.25]);
  });

  it('writes the +Infinity threshold as "Infinity" for JSON, which reads back as a number', () => {
    const c = rocCurve(Y, P)!;
    const json = thresholdsToJson(c.thresholds);
    expect(json).toEqual(['Infinity', 0.8, 0.4, 0.35, 0.1]);
    const back = (JSON.parse(JSON.stringify(json)) as (number | string)[]).map(Number);
    expect(back).toEqual(c.thresholds);
    // Plain JSON.stringify writes it as null, as documented.
    expect(JSON.stringify(c.thresholds)).toBe('[null,0.8,0.4,0.35,0.1]');
  });
});

describe('prCurve', () => {
  it('matches sklearn precision_recall_curve on its docstring example', () => {
    const c = prCurve(Y, P)!;
    expectClose(c.precision, [0.5, 2 / 3, 0.5, 1, 1]);
    expectClose(c.recall, [1, 1, 0.5, 0.5, 0]);
    expect(c.thresholds).toEqual([0.1, 0.35, 0.4, 0.8]);
  });

  it('moves tied scores together, and its step sum is the average precision', () => {
    const c = prCurve(YT, PT)!;
    // Thresholds ascending 0.2, 0.5, 0.9: TP/(TP+FP) = 3/5, 2/3, 1/1; recall 3/3, 2/3, 1/3.
    expectClose(c.precision, [3 / 5, 2 / 3, 1, 1]);
    expectClose(c.recall, [1, 2 / 3, 1 / 3, 0]);
    expect(c.thresholds).toEqual([0.2, 0.5, 0.9]);
    // AP = Σ (Rₖ − Rₖ₊₁)·Pₖ = (1/3)(3/5) + (1/3)(2/3) + (1/3)(1) = 34/45.
    let ap = 0;
    for (let k = 0; k < c.thresholds.length; k++) {
      ap += (c.recall[k]! - c.recall[k + 1]!) * c.precision[k]!;
    }
    expect(ap).toBeCloseTo(34 / 45, 12);
    expect(ap).toBeCloseTo(averagePrecision(YT, PT)!, 12);
  });

  it('is null with no positive, and has precision 1 with no negative', () => {
    expect(prCurve([0, 0], [0.1, 0.2])).toBeNull();
    expect(prCurve([1, 1], [0.2, 0.7])).toEqual({
      precision: [1, 1, 1],
      recall: [1, 0.5, 0],
      thresholds: [0.2, 0.7],
    });
  });
});

describe('downsampleCurve', () => {
  it('drops points that lie on a straight segment and duplicates, and nothing else', () => {
    const d = downsampleCurve([0, 0, 0, 0, 0.5, 1, 1], [0, 0, 0.25, 0.5, 0.5, 0.5, 1], 10);
    expect(d).toEqual({ xs: [0, 0, 1, 1], ys: [0, 0.5, 0.5, 1] });
  });

  it('keeps a curve with few enough points as it is', () => {
    expect(downsampleCurve([0, 0.2, 1], [0, 0.7, 1], 3)).toEqual({
      xs: [0, 0.2, 1],
      ys: [0, 0.7, 1],
    });
  });

  it('picks the largest triangle in each bucket (LTTB), worked by hand', () => {
    // n = 7, m = 4: buckets {1, 2} and {3, 4, 5}. Bucket 1 from (0,0) towards the centroid
    // (4, 4) of the next: triangle areas ×2 are 12 for (1,4) and 4 for (2,1) → (1,4).
    // Bucket 2 from (1,4) towards (6,0): 2 for (3,2), 27 for (4,7), 11 for (5,3) → (4,7).
    const d = downsampleCurve([0, 1, 2, 3, 4, 5, 6], [0, 4, 1, 2, 7, 3, 0], 4);
    expect(d).toEqual({ xs: [0, 1, 4, 6], ys: [0, 4, 7, 0] });
  });

  it('keeps only the end points when asked for two', () => {
    expect(downsampleCurve([0, 1, 2, 3], [0, 3, 1, 2], 2)).toEqual({ xs: [0, 3], ys: [0, 2] });
  });

  it('thins a ROC curve of 10⁵ thresholds to 200 points with the same ends and area', () => {
    const rng = new Rng(7);
    const n = 100_000;
    const y = new Uint8Array(n);
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = rng.chance(0.15) ? 1 : 0;
      p[i] = rng.normal(y[i] === 1 ? 1.5 : 0, 1);
    }
    const c = rocCurve(y, p)!;
    expect(c.fpr.length).toBe(n + 1);
    const d = downsampleCurve(c.fpr, c.tpr, 200);
    expect(d.xs.length).toBe(200);
    expect([d.xs[0], d.ys[0], d.xs.at(-1), d.ys.at(-1)]).toEqual([0, 0, 1, 1]);
    for (let i = 1; i < d.xs.length; i++) {
      expect(d.xs[i]!).toBeGreaterThanOrEqual(d.xs[i - 1]!);
      expect(d.ys[i]!).toBeGreaterThanOrEqual(d.ys[i - 1]!);
    }
    // Binormal AUC Φ(1.5/√2) ≈ 0.856; the thinned polyline loses under 0.002 of it.
    const full = trapezoid(c.fpr, c.tpr);
    expect(full).toBeCloseTo(0.856, 2);
    expect(Math.abs(trapezoid(d.xs, d.ys) - full)).toBeLessThan(0.002);
  });

  it('rejects a maxPoints below 2 or not an integer, and coordinates of different lengths', () => {
    expect(() => downsampleCurve([0, 1], [0, 1], 1)).toThrow(ConfigError);
    expect(() => downsampleCurve([0, 1], [0, 1], 2.5)).toThrow(
      /maxPoints must be an integer >= 2, received 2.5/,
    );
    expect(() => downsampleCurve([0, 1], [0], 10)).toThrow(/differ in length: 2 vs 1/);
  });
});
