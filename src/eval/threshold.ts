/**
 * Operating points of one binary label. An item is called positive when its score is ≥ the
 * threshold, scikit-learn's `roc_curve` convention, so every threshold reported is a score seen
 * in the data and calling "p ≥ threshold" positive reproduces the sensitivity reported.
 * (Keras' `binary_accuracy` calls p > 0.5 positive; the two differ only for a score of exactly
 * the threshold.)
 */
import { type Ranking, thresholdCounts } from './ranking.js';

/** Counts and rates at one threshold; a rate whose denominator is 0 is null. */
export interface AtThreshold {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** (tp + tn) / n; null when there is no item. */
  accuracy: number | null;
  /** tp / (tp + fn): the share of positives caught; null without positives. */
  sensitivity: number | null;
  /** tn / (tn + fp): the share of negatives cleared; null without negatives. */
  specificity: number | null;
}

/** Confusion counts and rates with "p ≥ threshold" called positive. */
export function atThreshold(r: Ranking, threshold: number): AtThreshold {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  const { y, p } = r;
  for (let i = 0; i < y.length; i++) {
    const called = p[i]! >= threshold;
    if (y[i] === 1) {
      if (called) tp++;
      else fn++;
    } else if (called) fp++;
    else tn++;
  }
  const n = y.length;
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    accuracy: n === 0 ? null : (tp + tn) / n,
    sensitivity: tp + fn === 0 ? null : tp / (tp + fn),
    specificity: tn + fp === 0 ? null : tn / (tn + fp),
  };
}

/** The triage operating point: where a screening tool would be set. */
export interface TriagePoint {
  /** The highest threshold whose sensitivity is ≥ the target (a score seen in the data). */
  threshold: number;
  /** The sensitivity reached there (≥ the target; above it when tied scores jump past it). */
  sensitivity: number;
  /** The specificity there; null without negatives. */
  specificity: number | null;
}

/**
 * The highest threshold at which at least `target` of the positives score ≥ it, with the
 * specificity there: the point of the ROC curve a triage tool runs at (target 0.95 by
 * default, as commercial ICH triage tools report). null when there is no positive.
 */
export function triagePoint(r: Ranking, target = 0.95): TriagePoint | null {
  const { tps, fps, thresholds } = thresholdCounts(r);
  const positives = tps.at(-1) ?? 0;
  const negatives = fps.at(-1) ?? 0;
  if (positives === 0) return null;
  for (let k = 0; k < tps.length; k++) {
    const sensitivity = tps[k]! / positives;
    if (sensitivity >= target) {
      return {
        threshold: thresholds[k]!,
        sensitivity,
        specificity: negatives === 0 ? null : (negatives - fps[k]!) / negatives,
      };
    }
  }
  // Unreachable for target ≤ 1: the lowest threshold calls every item positive.
  return null;
}
