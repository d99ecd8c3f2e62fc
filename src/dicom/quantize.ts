/**
 * Quantisation of [0, 1] images to 8 bits.
 *
 * A value v becomes Math.round(v × 255) after clamping v to [0, 1]: round half up, so
 * 0.5/255 → 1 and 0.49/255 → 0. NaN becomes 0. (A plain `Uint8Array` store would truncate and
 * `Uint8ClampedArray` rounds half to even, so neither is used for the rounding itself.)
 */

/** One value in [0, 1] to 0..255: clamp, then Math.round(v × 255); NaN gives 0. */
export function quantize255(v: number): number {
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return Math.round(v * 255);
}

/**
 * Quantises a [0, 1] float image to 8 bits (see `quantize255`). Writes into `out` when it is
 * given and has the right length, otherwise into a new array. The input is not modified.
 */
export function toUint8(src: Float32Array, out?: Uint8Array): Uint8Array {
  const n = src.length;
  const dst = out !== undefined && out.length === n ? out : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    dst[i] = quantize255(src[i]!);
  }
  return dst;
}
