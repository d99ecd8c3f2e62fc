/**
 * The series model's per-slice inputs, pure (no Node, no tfjs), so the viewer's browser worker
 * builds exactly what `predictSeries` and `predictSeriesOnnx` feed the model: per slice the six
 * stage-1 probabilities clipped to [1e-4, 1 − 1e-4], their logits / 4, and Δz / 5 mm (the
 * distance to the next slice along the normal; 0 for the last).
 */
import { LABEL_COUNT } from '../labels.js';

/** Inputs per slice: 6 probabilities, 6 logits / 4, Δz / 5. */
export const SLICE_INPUTS = 2 * LABEL_COUNT + 1;

/** Writes the 12 probability inputs of one slice (clipped p, logit / 4) at `x[at…]`. */
export function probabilityInputs(
  p: ArrayLike<number>,
  from: number,
  x: Float32Array,
  at: number,
): void {
  for (let l = 0; l < LABEL_COUNT; l++) {
    const q = Math.min(1 - 1e-4, Math.max(1e-4, p[from + l]!));
    x[at + l] = q;
    x[at + LABEL_COUNT + l] = Math.log(q / (1 - q)) / 4;
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Δz to the next slice, |z[i+1] − z[i]|; the median known step where a z is missing. */
export function stepsOf(z: readonly (number | null)[]): Float32Array {
  const out = new Float32Array(z.length);
  const known: number[] = [];
  for (let i = 0; i + 1 < z.length; i++) {
    const a = z[i];
    const b = z[i + 1];
    if (a !== null && a !== undefined && b !== null && b !== undefined) known.push(Math.abs(b - a));
  }
  const fill = median(known);
  for (let i = 0; i + 1 < z.length; i++) {
    const a = z[i];
    const b = z[i + 1];
    out[i] =
      a !== null && a !== undefined && b !== null && b !== undefined ? Math.abs(b - a) : fill;
  }
  return out;
}

/**
 * One whole series' model input x [L, SLICE_INPUTS] from its stage-1 probabilities [L × 6] (in
 * slice order) and positions; with `reversed`, the series in reverse slice order (as
 * `predictSeries` runs it the second time).
 */
export function seriesSliceInputs(
  probs: ArrayLike<number>,
  z: readonly (number | null)[],
  reversed = false,
): Float32Array {
  const L = z.length;
  const order = Array.from({ length: L }, (_, i) => (reversed ? L - 1 - i : i));
  const dz = stepsOf(order.map((i) => z[i]!));
  const x = new Float32Array(L * SLICE_INPUTS);
  for (const [t, i] of order.entries()) {
    probabilityInputs(probs, i * LABEL_COUNT, x, t * SLICE_INPUTS);
    x[t * SLICE_INPUTS + 2 * LABEL_COUNT] = t + 1 < L ? dz[t]! / 5 : 0;
  }
  return x;
}

/**
 * The forward and reversed passes of one series averaged slice by slice (`bwd` is in reversed
 * order): the output of `predictSeries` / `predictSeriesOnnx`.
 */
export function averageDirections(
  fwd: ArrayLike<number>,
  bwd: ArrayLike<number>,
  length: number,
): Float32Array {
  const out = new Float32Array(length * LABEL_COUNT);
  for (let t = 0; t < length; t++)
    for (let l = 0; l < LABEL_COUNT; l++)
      out[t * LABEL_COUNT + l] =
        (fwd[t * LABEL_COUNT + l]! + bwd[(length - 1 - t) * LABEL_COUNT + l]!) / 2;
  return out;
}
