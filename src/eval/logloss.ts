/**
 * Log losses. Predictions are clipped to [ε, 1 − ε] with ε = 1e-7 (Keras' epsilon, the value
 * ichdet trains with). The RSNA competition's own scorer clipped at 1e-15 (scikit-learn's old
 * default) and public kernels often at 1e-5 or 1e-7; the clip only matters for confident
 * mistakes (−ln 1e-7 = 16.1, −ln 1e-15 = 34.5), so scores of sane models agree to ~4 decimals.
 */
import { RSNA_LABEL_WEIGHTS } from './weights.js';

export const LOG_LOSS_EPS = 1e-7;

function term(y: number, p: number, eps: number): number {
  const q = Math.min(1 - eps, Math.max(eps, p));
  return -(y * Math.log(q) + (1 - y) * Math.log(1 - q));
}

/** Binary log loss, mean over items. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, eps = LOG_LOSS_EPS): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += term(y[i]!, p[i]!, eps);
  return s / y.length;
}

/**
 * The RSNA 2019 metric: per image the weighted mean over the six labels of the binary log loss,
 * `any` weighted 2 and each subtype 1 (Σ w·ll / 7), then the mean over the n images.
 * y and p are n × 6, row-major, labels in LABEL_NAMES order.
 */
export function weightedLogLoss(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  eps = LOG_LOSS_EPS,
): number {
  const w = RSNA_LABEL_WEIGHTS;
  const wSum = w.reduce((a, b) => a + b, 0);
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < 6; l++) s += (w[l]! * term(y[i * 6 + l]!, p[i * 6 + l]!, eps)) / wSum;
  }
  return s / n;
}
