/**
 * Training losses over the six sigmoid outputs, each returned as the SUM over the examples of
 * the per-example loss (the engine divides by the full batch size, so micro-batches and workers
 * add up to the mean over the batch exactly).
 *
 * - `bce`: binary cross-entropy averaged over the 6 labels (Keras `binary_crossentropy`).
 * - `weighted-bce`: the RSNA weighting, `any` 2 and each subtype 1, Σ w·bce / Σ w per example —
 *   the competition metric itself as a loss.
 * - `focal`: Lin et al. 2017 focal loss without α, −(1 − p_t)^γ log p_t, averaged over labels.
 *
 * Probabilities are clipped to [1e-7, 1 − 1e-7] as Keras clips to its epsilon.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LossName } from './config.js';

export const EPSILON = 1e-7;
/** RSNA label weights in LABEL_NAMES order (five subtypes, then `any`). */
export const RSNA_WEIGHTS = [1, 1, 1, 1, 1, 2] as const;

/** Per-example, per-label binary cross-entropy of probabilities `p` against 0/1 targets `y`. */
function bceTerms(y: tf.Tensor2D, p: tf.Tensor2D): tf.Tensor2D {
  const pc = tf.clipByValue(p, EPSILON, 1 - EPSILON);
  return tf.neg(
    tf.add(tf.mul(y, tf.log(pc)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, pc)))),
  ) as tf.Tensor2D;
}

/** Σ over examples of the per-example loss. */
export function lossSum(name: LossName, y: tf.Tensor2D, p: tf.Tensor2D, gamma = 2): tf.Scalar {
  return tf.tidy(() => {
    const terms = bceTerms(y, p);
    const labels = p.shape[1];
    if (name === 'bce') return tf.div(tf.sum(terms), labels);
    if (name === 'weighted-bce') {
      const w =
        labels === RSNA_WEIGHTS.length
          ? tf.tensor1d([...RSNA_WEIGHTS])
          : tf.ones([labels], 'float32');
      return tf.div(tf.sum(tf.mul(terms, w)), tf.sum(w));
    }
    // focal: p_t = p for positives, 1 − p for negatives; bce = −log p_t.
    const pc = tf.clipByValue(p, EPSILON, 1 - EPSILON);
    const pt = tf.add(tf.mul(y, pc), tf.mul(tf.sub(1, y), tf.sub(1, pc)));
    const mod = tf.pow(tf.sub(1, pt), gamma);
    return tf.div(tf.sum(tf.mul(mod, terms)), labels);
  });
}

/** The same loss in plain arithmetic over flat arrays (n × labels), for tests and validation. */
export function lossSumArrays(
  name: LossName,
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  labels: number,
  gamma = 2,
): number {
  let total = 0;
  const n = y.length / labels;
  const w = labels === RSNA_WEIGHTS.length ? RSNA_WEIGHTS : undefined;
  const wSum = w ? w.reduce((a, b) => a + b, 0) : labels;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let l = 0; l < labels; l++) {
      const yi = y[i * labels + l]!;
      const pi = Math.min(1 - EPSILON, Math.max(EPSILON, p[i * labels + l]!));
      const bce = -(yi * Math.log(pi) + (1 - yi) * Math.log(1 - pi));
      if (name === 'bce') s += bce / labels;
      else if (name === 'weighted-bce') s += ((w ? w[l]! : 1) * bce) / wSum;
      else {
        const pt = yi * pi + (1 - yi) * (1 - pi);
        s += ((1 - pt) ** gamma * bce) / labels;
      }
    }
    total += s;
  }
  return total;
}
