/**
 * Log losses, operating points and the full metrics report against values worked out by hand
 * and against scikit-learn 1.2.1 on the same arrays (the script is in the comment of each case).
 */
import { describe, expect, it } from 'vitest';
import { LABEL_NAMES } from '../src/data/types.js';
import { bce, LOG_LOSS_EPS, logLoss, weightedLogLoss } from '../src/eval/logloss.js';
import { computeMetrics } from '../src/eval/metrics.js';
import { rank } from '../src/eval/ranking.js';
import { atThreshold, triagePoint } from '../src/eval/threshold.js';
import { EVAL_P, EVAL_Y } from './eval-data.js';

const ln = Math.log;

describe('logLoss', () => {
  it('is the mean binary cross-entropy', () => {
    expect(logLoss([1, 0, 1], [0.8, 0.1, 0.5])).toBeCloseTo(-(ln(0.8) + ln(0.9) + ln(0.5)) / 3, 15);
  });

  it('clips predictions to [1e-7, 1 − 1e-7], so a confident mistake costs −ln 1e-7 = 16.118', () => {
    expect(LOG_LOSS_EPS).toBe(1e-7);
    expect(bce(1, 0)).toBeCloseTo(-ln(1e-7), 12);
    // 1 − (1 − 1e-7) is 1e-7 only to 9 digits in binary floating point, as in sklearn.
    expect(bce(0, 1)).toBeCloseTo(-ln(1 - (1 - 1e-7)), 12);
    expect(bce(0, 1)).toBeCloseTo(16.1181, 4);
    expect(bce(1, 1)).toBeCloseTo(1e-7, 12);
    // sklearn: log_loss([1, 0], [0.8, 0], eps=1e-7, labels=[0, 1]) = 0.11157182565710733
    expect(logLoss([1, 0], [0.8, 0])).toBeCloseTo(0.11157182565710733, 15);
    expect(logLoss([1], [0], 1e-15)).toBeCloseTo(-ln(1e-15), 10);
  });

  it('rejects no items, a prediction outside [0, 1] and a NaN', () => {
    expect(() => logLoss([], [])).toThrow('log loss of no item is undefined');
    expect(() => logLoss([1], [1.5])).toThrow('prediction 0 must be in [0, 1], received 1.5');
    expect(() => logLoss([1], [Number.NaN])).toThrow('received NaN');
  });
});

describe('weightedLogLoss', () => {
  // Image A: y [1,0,0,0,0,1], p [0.8,0.1,0,0.2,0.5,1]; image B: y [0,0,0,0,1,1],
  // p [0,0.3,0.1,0.1,0,0.6] (subdural 1 predicted 0: clipped, costs −ln 1e-7).
  const y = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1];
  const p = [0.8, 0.1, 0, 0.2, 0.5, 1, 0, 0.3, 0.1, 0.1, 0, 0.6];

  it('weights any 2 and each subtype 1 per image (÷ 7), then averages the images', () => {
    const tiny = -ln(1 - 1e-7);
    const a = (-ln(0.8) - ln(0.9) + tiny - ln(0.8) - ln(0.5) + 2 * tiny) / 7;
    const b = (tiny - ln(0.7) - ln(0.9) - ln(0.9) - ln(1e-7) - 2 * ln(0.6)) / 7;
    expect(weightedLogLoss(y, p, 2)).toBeCloseTo((a + b) / 2, 14);
    // sklearn: log_loss(y, p, eps=1e-7, sample_weight=[1,1,1,1,1,2]*2) = 1.3537098623279213
    expect(weightedLogLoss(y, p, 2)).toBeCloseTo(1.3537098623279213, 14);
  });

  it('scores 2.6695 with the 1e-15 clip of Kaggle-style scorers (the clip only moves confident mistakes)', () => {
    // sklearn: log_loss(..., eps=1e-15, ...) = 2.6694727440388033
    expect(weightedLogLoss(y, p, 2, 1e-15)).toBeCloseTo(2.6694727440388033, 12);
  });

  it('accepts Uint8Array labels and Float32Array predictions', () => {
    const p32 = Float32Array.from(p);
    const expected = weightedLogLoss(y, Array.from(p32), 2);
    expect(weightedLogLoss(Uint8Array.from(y), p32, 2)).toBe(expected);
  });

  it('rejects arrays that are not n × 6 and n < 1', () => {
    expect(() => weightedLogLoss(y, p, 3)).toThrow(
      'expected 18 labels and predictions, received 12 labels and 12 predictions',
    );
    expect(() => weightedLogLoss([], [], 0)).toThrow('weighted log loss needs n ≥ 1 images');
  });
});

describe('operating points', () => {
  // Positives 0.9, 0.8, 0.3, 0.2; negatives 0.7, 0.4, 0.1, 0.05. Descending:
  // 0.9+ 0.8+ 0.7− 0.4− 0.3+ 0.2+ 0.1− 0.05−
  const r = rank([1, 1, 1, 1, 0, 0, 0, 0], [0.9, 0.8, 0.3, 0.2, 0.7, 0.4, 0.1, 0.05]);

  it('calls p ≥ threshold positive', () => {
    expect(atThreshold(r, 0.5)).toEqual({
      threshold: 0.5,
      tp: 2,
      fp: 1,
      tn: 3,
      fn: 2,
      accuracy: 5 / 8,
      sensitivity: 0.5,
      specificity: 0.75,
    });
    // A score equal to the threshold is positive.
    expect(atThreshold(r, 0.3).tp).toBe(3);
  });

  it('sets the triage point at the highest threshold reaching the sensitivity', () => {
    // sklearn roc_curve(drop_intermediate=False): (fpr, tpr, thr) … (0.5, 0.75, 0.3), (0.5, 1, 0.2) …
    expect(triagePoint(r)).toEqual({ threshold: 0.2, sensitivity: 1, specificity: 0.5 });
    expect(triagePoint(r, 0.75)).toEqual({ threshold: 0.3, sensitivity: 0.75, specificity: 0.5 });
    expect(triagePoint(r, 0.5)).toEqual({ threshold: 0.8, sensitivity: 0.5, specificity: 1 });
  });

  it('reports the sensitivity actually reached when tied scores jump past the target', () => {
    // Descending 0.9+ 0.7− 0.6+++: at 0.9 sensitivity ¼ < ½; at 0.6 the three tied positives
    // cross together and sensitivity jumps to 1.
    const t = triagePoint(rank([1, 1, 1, 1, 0], [0.6, 0.6, 0.6, 0.9, 0.7]), 0.5);
    expect(t).toEqual({ threshold: 0.6, sensitivity: 1, specificity: 0 });
  });

  it('has no triage point without positives and no specificity without negatives', () => {
    expect(triagePoint(rank([0, 0], [0.1, 0.2]))).toBeNull();
    expect(triagePoint(rank([1, 1], [0.1, 0.2]))).toEqual({
      threshold: 0.1,
      sensitivity: 1,
      specificity: null,
    });
  });
});

describe('computeMetrics', () => {
  // Reference: scikit-learn 1.2.1 on the 12 × 6 arrays of eval-data.ts, per label
  //   accuracy_score(y, p >= .5), roc_auc_score, average_precision_score,
  //   log_loss(y, p, eps=1e-7, labels=[0,1]), recall_score(y, p >= .5) and of 1 − y,
  //   roc_curve(y, p, drop_intermediate=False) at the first tpr ≥ 0.95,
  //   and log_loss(Y.ravel(), P.ravel(), eps=1e-7, sample_weight=tile([1,1,1,1,1,2], 12)).
  const m = computeMetrics(EVAL_Y, EVAL_P, 12);

  it('matches scikit-learn label by label', () => {
    const expected = {
      epidural: [0, 12, 1.0, null, null, 0.19706059090988323, null, 1.0, null, null],
      intraparenchymal: [
        3,
        9,
        2 / 3,
        0.8333333333333333,
        0.6805555555555556,
        0.4618243602278977,
      ].concat([2 / 3, 2 / 3, 0.4, 0.4444444444444444]),
      intraventricular: [2, 10, 0.8333333333333334, 0.875, 0.7, 0.3375198038297554].concat([
        0.5, 0.9, 0.3, 0.7,
      ]),
      subarachnoid: [4, 8, 0.8333333333333334, 0.96875, 0.9, 0.3341370040826502].concat([
        0.5, 1.0, 0.4, 0.875,
      ]),
      subdural: [3, 9, 0.9166666666666666, 1.0, 1.0, 0.2570963958261232].concat([
        1.0, 0.8888888888888888, 0.7, 1.0,
      ]),
      any: [8, 4, 1.0, 1.0, 1.0, 0.29898213387294087, 1.0, 1.0, 0.5, 1.0],
    };
    for (const name of LABEL_NAMES) {
      const r = m.labels[name];
      const got = [
        r.positives,
        r.negatives,
        r.accuracy,
        r.auc,
        r.ap,
        r.logLoss,
        r.sensitivity,
        r.specificity,
        r.triage?.threshold ?? null,
        r.triage?.specificity ?? null,
      ];
      const want = expected[name];
      for (const [k, v] of want.entries()) {
        if (v === null) expect(got[k], `${name} column ${k}`).toBeNull();
        else expect(got[k], `${name} column ${k}`).toBeCloseTo(v, 14);
      }
    }
  });

  it('averages over the labels with a defined value and says how many', () => {
    expect(m.mean.auc.labels).toBe(5);
    expect(m.mean.auc.value).toBeCloseTo(0.9354166666666666, 14);
    expect(m.mean.ap).toEqual({ value: expect.closeTo(0.856111111111111, 14), labels: 5 });
    expect(m.mean.accuracy).toEqual({ value: 0.875, labels: 6 });
    expect(m.mean.logLoss.value).toBeCloseTo(0.3144367147915417, 14);
    expect(m.mean.sensitivity).toEqual({
      value: expect.closeTo(0.7333333333333333, 14),
      labels: 5,
    });
    expect(m.mean.specificity.value).toBeCloseTo(0.9092592592592593, 14);
    expect(m.mean.triageSpecificity.labels).toBe(5);
    expect(m.mean.triageSpecificity.value).toBeCloseTo(0.8038888888888888, 14);
  });

  it('reports the RSNA weighted log loss and its settings', () => {
    expect(m.weightedLogLoss).toBeCloseTo(0.3122289175174559, 14);
    expect(m.images).toBe(12);
    expect(m.threshold).toBe(0.5);
    expect(m.triageSensitivity).toBe(0.95);
    expect(m.clip).toBe(1e-7);
  });

  it('is JSON-friendly: undefined values are null and survive a JSON round trip', () => {
    const text = JSON.stringify(m);
    expect(text).not.toContain('NaN');
    expect(JSON.parse(text).labels.epidural.auc).toBeNull();
  });

  it('moves accuracy, sensitivity and specificity with the threshold option', () => {
    const t = computeMetrics(EVAL_Y, EVAL_P, 12, { threshold: 0.3, sensitivity: 0.5 });
    // intraventricular: positives 0.3, 0.6; negatives ≥ 0.3: 0.3, 0.4, 0.5 of 10.
    expect(t.labels.intraventricular.sensitivity).toBe(1);
    expect(t.labels.intraventricular.specificity).toBe(0.7);
    // triage at sensitivity 0.5: the higher positive, 0.6, with no negative above it.
    expect(t.labels.intraventricular.triage).toEqual({
      threshold: 0.6,
      sensitivity: 0.5,
      specificity: 1,
    });
  });

  it('rejects a threshold outside [0, 1] and a triage sensitivity outside (0, 1]', () => {
    expect(() => computeMetrics(EVAL_Y, EVAL_P, 12, { threshold: 2 })).toThrow(
      'threshold must be in [0, 1], received 2',
    );
    expect(() => computeMetrics(EVAL_Y, EVAL_P, 12, { sensitivity: 0 })).toThrow(
      'triage sensitivity must be in (0, 1], received 0',
    );
  });
});
