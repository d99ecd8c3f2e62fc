/**
 * Linear filters on row-major float64 images with scipy.ndimage's definitions (mode 'reflect':
 * d c b a | a b c d | d c b a; Gaussian kernels truncated at 4 σ), so statistics defined with
 * scipy give the same numbers here to rounding.
 */

/** Index i of a line of n samples, reflected at both ends as scipy's 'reflect' mode does. */
export function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/**
 * Correlates the image along one axis (0: down the rows, 1: along each row) with `weights`
 * centred on the middle tap: out[i] = Σ_k w[k] · in[i + k − r].
 */
export function correlate1d(
  img: Float64Array,
  rows: number,
  cols: number,
  axis: 0 | 1,
  weights: Float64Array,
): Float64Array {
  const out = new Float64Array(img.length);
  const r = (weights.length - 1) >> 1;
  const n = axis === 0 ? rows : cols;
  const lines = axis === 0 ? cols : rows;
  const step = axis === 0 ? cols : 1;
  const lineStep = axis === 0 ? 1 : cols;
  const idx = new Int32Array(n + 2 * r);
  for (let j = 0; j < idx.length; j++) idx[j] = reflectIndex(j - r, n) * step;
  for (let l = 0; l < lines; l++) {
    const base = l * lineStep;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k]! * img[base + idx[i + k]!]!;
      out[base + i * step] = s;
    }
  }
  return out;
}

/**
 * scipy's 1-D Gaussian kernel (order 0) or its first derivative (order 1), radius
 * trunc(4σ + 0.5), reversed as `gaussian_filter1d` applies it, so that `correlate1d` with it is
 * scipy's filter.
 */
export function gaussianWeights(sigma: number, order: 0 | 1): Float64Array {
  const radius = Math.trunc(4 * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let x = -radius; x <= radius; x++) {
    const v = Math.exp((-0.5 / (sigma * sigma)) * x * x);
    w[x + radius] = v;
    sum += v;
  }
  for (let k = 0; k < w.length; k++) w[k] = w[k]! / sum;
  if (order === 1) {
    // Kernel −x/σ² · φ(x), reversed: +x/σ² · φ(x) at offset x.
    for (let x = -radius; x <= radius; x++) w[x + radius] = (w[x + radius]! * x) / (sigma * sigma);
  }
  return w;
}

/** `scipy.ndimage.gaussian_filter(img, sigma, order=(o0, o1))`: axis 0 first, then axis 1. */
export function gaussianFilter(
  img: Float64Array,
  rows: number,
  cols: number,
  sigma: number,
  order: [0 | 1, 0 | 1] = [0, 0],
): Float64Array {
  const a = correlate1d(img, rows, cols, 0, gaussianWeights(sigma, order[0]));
  return correlate1d(a, rows, cols, 1, gaussianWeights(sigma, order[1]));
}

/** `scipy.ndimage.gaussian_gradient_magnitude(img, sigma)`. */
export function gaussianGradientMagnitude(
  img: Float64Array,
  rows: number,
  cols: number,
  sigma: number,
): Float64Array {
  const gy = gaussianFilter(img, rows, cols, sigma, [1, 0]);
  const gx = gaussianFilter(img, rows, cols, sigma, [0, 1]);
  const out = new Float64Array(img.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(gy[i]! * gy[i]! + gx[i]! * gx[i]!);
  return out;
}

/** `scipy.ndimage.uniform_filter(img, 3)`: the 3 × 3 mean. */
export function mean3x3(img: Float64Array, rows: number, cols: number): Float64Array {
  const w = new Float64Array([1 / 3, 1 / 3, 1 / 3]);
  return correlate1d(correlate1d(img, rows, cols, 0, w), rows, cols, 1, w);
}
