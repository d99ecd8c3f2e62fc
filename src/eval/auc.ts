/**
 * Ranking metrics of one binary label, with scikit-learn's semantics (the reference the field
 * reports with): scores are grouped into distinct thresholds, descending, so tied scores move
 * together, and a tie between a positive and a negative counts ½ in the ROC AUC.
 * A label with only one class present has no AUC (sklearn raises) and a label with no positive
 * has no AP (sklearn warns and returns 0): both are `null` here, never NaN.
 */
import { type Ranking, rank } from './ranking.js';

/**
 * ROC AUC of a ranking, each item counted `weights[i]` times (once without weights): the
 * trapezoid over the distinct thresholds, as `sklearn.metrics.roc_auc_score`. One pass, no
 * allocation, so the bootstrap can call it thousands of times. null when a class is absent.
 */
export function rankedAuc(r: Ranking, weights?: ArrayLike<number>): number | null {
  const { order, groupEnd, y } = r;
  let tp = 0;
  let fp = 0;
  let tp0 = 0;
  let fp0 = 0;
  let area = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const w = weights === undefined ? 1 : weights[i]!;
    if (y[i] === 1) tp += w;
    else fp += w;
    if (groupEnd[k] === 1) {
      area += (fp - fp0) * (tp + tp0);
      tp0 = tp;
      fp0 = fp;
    }
  }
  if (tp === 0 || fp === 0) return null;
  return area / (2 * tp * fp);
}

/**
 * Average precision of a ranking, Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct thresholds, descending:
 * the step sum of `sklearn.metrics.average_precision_score`, not the interpolated one.
 * null when there is no positive.
 */
export function rankedAveragePrecision(r: Ranking, weights?: ArrayLike<number>): number | null {
  const { order, groupEnd, y } = r;
  let positives = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 1) positives += weights === undefined ? 1 : weights[i]!;
  }
  if (positives === 0) return null;
  let tp = 0;
  let fp = 0;
  let tp0 = 0;
  let ap = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const w = weights === undefined ? 1 : weights[i]!;
    if (y[i] === 1) tp += w;
    else fp += w;
    if (groupEnd[k] === 1) {
      if (tp > tp0) ap += ((tp - tp0) / positives) * (tp / (tp + fp));
      tp0 = tp;
    }
  }
  return ap;
}

/**
 * ROC AUC, as `sklearn.metrics.roc_auc_score(y, p)`; null when only one class is present.
 * y holds 0/1 labels, p the scores (any finite numbers; only their order matters).
 *
 * @throws RangeError for arrays of different lengths, a label other than 0/1 or a non-finite score.
 */
export function rocAuc(y: ArrayLike<number>, p: ArrayLike<number>): number | null {
  return rankedAuc(rank(y, p));
}

/**
 * Average precision, as `sklearn.metrics.average_precision_score(y, p)`; null when no item is
 * positive (where sklearn returns 0 with a warning).
 *
 * @throws RangeError for arrays of different lengths, a label other than 0/1 or a non-finite score.
 */
export function averagePrecision(y: ArrayLike<number>, p: ArrayLike<number>): number | null {
  return rankedAveragePrecision(rank(y, p));
}
