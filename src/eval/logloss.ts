/**
 * Log losses, with predictions clipped to [ε, 1 − ε], ε = 1e-7 (Keras' epsilon, the value
 * ichdet trains with, and the clip the issue fixes for the RSNA metric).
 *
 * The clip only decides what a confident mistake costs: at most −ln ε per label, 16.12 here.
 * Kaggle's log-loss scorers clipped at 1e-15 (scikit-learn's long-time default; a confident
 * mistake costs up to 34.54) and public RSNA kernels often at 1e-5 (up to 11.51). Predictions
 * inside [1e-5, 1 − 1e-5] score the same under all three, so a calibrated model's score
 * agrees with the leaderboard's to several decimals; a model that outputs exact 0s and 1s and is
 * sometimes wrong scores better here than on Kaggle and worse than with a 1e-5 clip.
 */
import { LABEL_COUNT } from '../labels.js';
import { RSNA_LABEL_WEIGHTS } from './weights.js';

/** The clip ε: predictions are taken as min(1 − ε, max(ε, p)). */
export const LOG_LOSS_EPS = 1e-7;

/** Binary cross-entropy of one clipped prediction: −[y ln q + (1 − y) ln(1 − q)]. */
export function bce(y: number, p: number, eps = LOG_LOSS_EPS): number {
  const q = Math.min(1 - eps, Math.max(eps, p));
  return y === 1 ? -Math.log(q) : -Math.log(1 - q);
}

function check(y: ArrayLike<number>, p: ArrayLike<number>, items: number): void {
  if (y.length !== items || p.length !== items) {
    throw new RangeError(
      `expected ${items} labels and predictions, received ${y.length} labels and ${p.length} predictions`,
    );
  }
  for (let i = 0; i < items; i++) {
    const v = y[i]!;
    if (v !== 0 && v !== 1) throw new RangeError(`label ${i} must be 0 or 1, received ${v}`);
    const q = p[i]!;
    if (!(q >= 0 && q <= 1))
      throw new RangeError(`prediction ${i} must be in [0, 1], received ${q}`);
  }
}

/**
 * Binary log loss, the mean over the items of the clipped cross-entropy
 * (`sklearn.metrics.log_loss(y, p, eps=1e-7)` for 0/1 labels).
 *
 * @throws RangeError when there is no item, the lengths differ, a label is not 0/1 or a
 *   prediction is outside [0, 1] (NaN included).
 */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, eps = LOG_LOSS_EPS): number {
  const n = y.length;
  if (n === 0) throw new RangeError('log loss of no item is undefined');
  check(y, p, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += bce(y[i]!, p[i]!, eps);
  return s / n;
}

/** The weights' sum: 7 (five subtypes 1, `any` 2). */
const WEIGHT_SUM = RSNA_LABEL_WEIGHTS.reduce((a, b) => a + b, 0);

/**
 * Each image's RSNA loss: the weighted mean over its six labels of the clipped cross-entropy,
 * Σ w·bce / 7. Inputs are checked by the caller.
 */
export function imageLosses(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  eps = LOG_LOSS_EPS,
): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let l = 0; l < LABEL_COUNT; l++)
      s += RSNA_LABEL_WEIGHTS[l]! * bce(y[i * LABEL_COUNT + l]!, p[i * LABEL_COUNT + l]!, eps);
    out[i] = s / WEIGHT_SUM;
  }
  return out;
}

/**
 * The RSNA 2019 competition metric: per image the weighted mean over the six labels of the
 * binary log loss, `any` weighted 2 and each subtype 1 (Σ w·bce / 7), then the mean over the n
 * images. With all six rows present for every image this equals the competition's definition as
 * a weighted mean over all rows (Σᵢₗ w·bce / 7n). y and p are n × 6, row-major, labels in
 * LABEL_NAMES order; predictions are clipped to [ε, 1 − ε] (see the file comment).
 *
 * @throws RangeError when n < 1, the arrays are not n × 6, a label is not 0/1 or a prediction
 *   is outside [0, 1] (NaN included).
 */
export function weightedLogLoss(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  eps = LOG_LOSS_EPS,
): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`weighted log loss needs n ≥ 1 images, received ${n}`);
  }
  check(y, p, n * LABEL_COUNT);
  const losses = imageLosses(y, p, n, eps);
  let s = 0;
  for (let i = 0; i < n; i++) s += losses[i]!;
  return s / n;
}
