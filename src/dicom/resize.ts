/**
 * Resizing of float32 images stored row-major, channels interleaved (HWC).
 *
 * - `bilinear`: half-pixel centres, as OpenCV `INTER_LINEAR` and TensorFlow
 *   `tf.image.resize(..., 'bilinear')` (half_pixel_centers=True): the output pixel d samples the
 *   input at s = (d + 0.5) × in/out − 0.5, between pixels floor(s) and floor(s) + 1 (both clamped
 *   to the image) with weight s − floor(s); outside the pixel centres it repeats the edge pixel.
 * - `area`: each output pixel is the mean of the input area it covers, as OpenCV `INTER_AREA`
 *   when downsampling: exact block means for integer factors, fractional weights at the cell
 *   edges otherwise (in 1-D, [a, b, c] → [(a + 0.5 b)/1.5, (0.5 b + c)/1.5]). Weights are exact
 *   rationals (OpenCV drops slivers under 1e-3 of a pixel; we do not). Upsampling with `area`
 *   gives each output the input pixel(s) its cell overlaps, i.e. nearest-like blocks.
 * - `auto`: `area` when shrinking by a factor ≥ 2 on both axes (512 → 256, 512 → 224),
 *   `bilinear` otherwise.
 *
 * An exact halving of both axes (512 → 256, on the hot path) is a plain 2×2 mean whatever the
 * method, which is what bilinear with half-pixel centres and area averaging both give there.
 * The same size returns a copy. Arithmetic is float64, rounded once to float32.
 */
import { ConfigError } from '../errors.js';

export type ResizeMethod = 'bilinear' | 'area' | 'auto';

const METHODS: readonly ResizeMethod[] = ['bilinear', 'area', 'auto'];

function requireSize(field: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${field} must be a positive integer, received ${value}`);
  }
}

/**
 * The method `resize` uses for these sizes: `area` or `bilinear` as asked, and for `auto`,
 * `area` when both axes shrink by a factor ≥ 2, `bilinear` otherwise.
 */
export function resolveResizeMethod(
  h: number,
  w: number,
  outH: number,
  outW: number,
  method: ResizeMethod,
): 'bilinear' | 'area' {
  if (method !== 'auto') return method;
  return h >= 2 * outH && w >= 2 * outW ? 'area' : 'bilinear';
}

/**
 * Resizes an h × w × c float32 image to outH × outW × c. Always returns a new array; `src`
 * is unchanged.
 *
 * @throws ConfigError for a size that is not a positive integer, a `src` whose length is not
 * h × w × c, or an unknown method.
 */
export function resize(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
  method: ResizeMethod = 'auto',
): Float32Array {
  requireSize('resize input height', h);
  requireSize('resize input width', w);
  requireSize('resize channels', c);
  requireSize('resize output height', outH);
  requireSize('resize output width', outW);
  if (src.length !== h * w * c) {
    throw new ConfigError(
      `resize input length must be h × w × c = ${h} × ${w} × ${c} = ${h * w * c}, ` +
        `received ${src.length}`,
    );
  }
  if (!METHODS.includes(method)) {
    throw new ConfigError(
      `resize method must be one of ${METHODS.join(', ')}, received "${String(method)}"`,
    );
  }
  if (outH === h && outW === w) return src.slice();
  if (h === 2 * outH && w === 2 * outW) return halve(src, outH, outW, c);
  return resolveResizeMethod(h, w, outH, outW, method) === 'area'
    ? resizeArea(src, h, w, c, outH, outW)
    : resizeBilinear(src, h, w, c, outH, outW);
}

/** Exact 2× downsampling: the mean of each 2 × 2 block, summed as (a + b) + (c + d). */
function halve(src: Float32Array, outH: number, outW: number, c: number): Float32Array {
  const out = new Float32Array(outH * outW * c);
  const rowStride = 2 * outW * c;
  let o = 0;
  if (c === 3) {
    // The three-window case, unrolled: about 1.4× faster than the general loop below.
    for (let y = 0; y < outH; y++) {
      let i0 = 2 * y * rowStride;
      let i1 = i0 + rowStride;
      for (let x = 0; x < outW; x++, o += 3, i0 += 6, i1 += 6) {
        out[o] = (src[i0]! + src[i0 + 3]! + (src[i1]! + src[i1 + 3]!)) * 0.25;
        out[o + 1] = (src[i0 + 1]! + src[i0 + 4]! + (src[i1 + 1]! + src[i1 + 4]!)) * 0.25;
        out[o + 2] = (src[i0 + 2]! + src[i0 + 5]! + (src[i1 + 2]! + src[i1 + 5]!)) * 0.25;
      }
    }
    return out;
  }
  for (let y = 0; y < outH; y++) {
    const r0 = 2 * y * rowStride;
    const r1 = r0 + rowStride;
    for (let x = 0; x < outW; x++) {
      const p = 2 * x * c;
      for (let k = 0; k < c; k++, o++) {
        const a = src[r0 + p + k]!;
        const b = src[r0 + p + c + k]!;
        const d = src[r1 + p + k]!;
        const e = src[r1 + p + c + k]!;
        out[o] = (a + b + (d + e)) * 0.25;
      }
    }
  }
  return out;
}

/** For each output index along one axis: the two input indices and the weight of the second. */
interface LinearTaps {
  i0: Int32Array;
  i1: Int32Array;
  frac: Float64Array;
}

function linearTaps(inSize: number, outSize: number): LinearTaps {
  const taps: LinearTaps = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    frac: new Float64Array(outSize),
  };
  const scale = inSize / outSize;
  const last = inSize - 1;
  for (let d = 0; d < outSize; d++) {
    const s = (d + 0.5) * scale - 0.5;
    const lower = Math.floor(s);
    taps.i0[d] = Math.min(Math.max(lower, 0), last);
    taps.i1[d] = Math.min(Math.max(lower + 1, 0), last);
    taps.frac[d] = s - lower;
  }
  return taps;
}

/** TensorFlow's order: interpolate along x on the two rows, then along y between them. */
function resizeBilinear(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Float32Array {
  const ty = linearTaps(h, outH);
  const tx = linearTaps(w, outW);
  const out = new Float32Array(outH * outW * c);
  const rowStride = w * c;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y]! * rowStride;
    const r1 = ty.i1[y]! * rowStride;
    const fy = ty.frac[y]!;
    for (let x = 0; x < outW; x++) {
      const c0 = tx.i0[x]! * c;
      const c1 = tx.i1[x]! * c;
      const fx = tx.frac[x]!;
      for (let k = 0; k < c; k++, o++) {
        const tl = src[r0 + c0 + k]!;
        const tr = src[r0 + c1 + k]!;
        const bl = src[r1 + c0 + k]!;
        const br = src[r1 + c1 + k]!;
        const top = tl + (tr - tl) * fx;
        const bottom = bl + (br - bl) * fx;
        out[o] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/**
 * Area weights along one axis, in units of 1/outSize of an input pixel: input pixel j spans
 * [j·out, (j+1)·out) and output pixel d spans [d·in, (d+1)·in), so the overlaps are integers
 * and those of one output sum to `inSize`. Stored as compressed rows: output d uses entries
 * start[d] .. start[d+1]−1.
 */
interface AreaTaps {
  start: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

function areaTaps(inSize: number, outSize: number): AreaTaps {
  const start = new Int32Array(outSize + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let d = 0; d < outSize; d++) {
    start[d] = index.length;
    const lo = d * inSize;
    const hi = lo + inSize;
    const first = Math.floor(lo / outSize);
    const last = Math.ceil(hi / outSize) - 1;
    for (let j = first; j <= last; j++) {
      const overlap = Math.min((j + 1) * outSize, hi) - Math.max(j * outSize, lo);
      if (overlap > 0) {
        index.push(j);
        weight.push(overlap);
      }
    }
  }
  start[outSize] = index.length;
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

/**
 * Separable area averaging: input rows are combined into each output row (long contiguous loops),
 * then columns within the row; float64 throughout, divided once by h × w at the end.
 */
function resizeArea(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Float32Array {
  const ty = areaTaps(h, outH);
  const tx = areaTaps(w, outW);
  const rowIn = w * c;
  const rowOut = outW * c;
  const out = new Float32Array(outH * rowOut);
  const rows = new Float64Array(rowIn);
  const norm = h * w;
  for (let y = 0; y < outH; y++) {
    rows.fill(0);
    for (let t = ty.start[y]!, end = ty.start[y + 1]!; t < end; t++) {
      const base = ty.index[t]! * rowIn;
      const wt = ty.weight[t]!;
      for (let i = 0; i < rowIn; i++) rows[i]! += wt * src[base + i]!;
    }
    let o = y * rowOut;
    for (let x = 0; x < outW; x++) {
      const first = tx.start[x]!;
      const end = tx.start[x + 1]!;
      for (let k = 0; k < c; k++, o++) {
        let sum = 0;
        for (let t = first; t < end; t++) sum += tx.weight[t]! * rows[tx.index[t]! * c + k]!;
        out[o] = sum / norm;
      }
    }
  }
  return out;
}
