/**
 * Inference passes of a tfjs model over n NHWC inputs held in one flat array, in micro-batches
 * (so a worker's heap holds `micro` examples' activations at a time), each pass inside
 * `tf.tidy`. The training workers (validation) and the inference workers both run this.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `apply` on rows [0, n) of `x` (n × h × w × c) `micro` at a time; returns one flat
 * row-major array per model output, output j being n × `widths[j]`.
 */
export function forwardInBatches(
  apply: (x: tf.Tensor4D) => tf.Tensor | tf.Tensor[],
  x: Float32Array,
  n: number,
  micro: number,
  shape: readonly [number, number, number],
  widths: readonly number[],
): Float32Array[] {
  const [h, w, c] = shape;
  const per = h * w * c;
  const outs = widths.map((k) => new Float32Array(n * k));
  for (let start = 0; start < n; start += micro) {
    const m = Math.min(micro, n - start);
    const ys = tf.tidy(() => {
      const y = apply(tf.tensor4d(x.subarray(start * per, (start + m) * per), [m, h, w, c]));
      return Array.isArray(y) ? y : [y];
    });
    for (const [j, t] of ys.entries())
      outs[j]!.set(t.dataSync() as Float32Array, start * widths[j]!);
    tf.dispose(ys);
  }
  return outs;
}
