/**
 * The scanner's image formation on a rendered (exact) slice: its point-spread function blurs
 * every edge, then quantum noise with CT's texture is added.
 *
 * - PSF: a separable Gaussian of σ given in pixels (the profile's σ in mm / pixel spacing), so
 *   the skull rim measures ~340 HU/px as real scans do, not the ~550 of an unblurred phantom.
 * - Noise: white Gaussian noise filtered by the separable 3 × 3 kernel [a 1 a]/(1 + 2a) per axis,
 *   a = 0.4, whose lag-1 autocorrelation 2a/(1 + 2a²) = 0.61 plus the anatomy's own fine
 *   texture measures the 0.67 of real scans. The filter scales white-noise σ by
 *   (1 + 2a²)/(1 + 2a)², which σ_white undoes. Only the noise is filtered: the image's own blur is
 *   the PSF's.
 */
import { normalTable16 } from '../util/rng.js';

const AIR = -1000;
/** Side tap of the noise filter [a 1 a]/(1 + 2a). */
const NOISE_A = 0.4;
const NOISE_NORM = 1 / (1 + 2 * NOISE_A);
/** Pixel σ of white noise of σ 1 after the 2-D filter. */
const NOISE_GAIN = (1 + 2 * NOISE_A * NOISE_A) * NOISE_NORM * NOISE_NORM;

/** Normalised Gaussian taps of σ (pixels), radius ceil(3σ), at least 1. */
export function psfTaps(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const w = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let x = -radius; x <= radius; x++) {
    const v = Math.exp(-(x * x) / (2 * sigma * sigma));
    w[x + radius] = v;
    sum += v;
  }
  for (let k = 0; k < w.length; k++) w[k] = w[k]! / sum;
  return w;
}

/**
 * Blurs `hu` in place by the Gaussian PSF of σ pixels (edges replicate). Uniform air stays air,
 * so each row is only filtered over its span of non-air pixels plus the kernel radius.
 * `tmp` is scratch of the same size.
 */
export function applyPsf(
  hu: Float32Array,
  rows: number,
  cols: number,
  sigma: number,
  tmp: Float32Array,
): void {
  if (sigma < 0.05) return;
  const w = psfTaps(sigma);
  const rad = (w.length - 1) >> 1;
  // Horizontal pass into tmp, per row over the non-air span only.
  let rFirst = rows;
  let rLast = -1;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let a = 0;
    while (a < cols && hu[o + a] === AIR) a++;
    if (a === cols) {
      tmp.fill(AIR, o, o + cols);
      continue;
    }
    let b = cols - 1;
    while (hu[o + b] === AIR) b--;
    if (rFirst === rows) rFirst = r;
    rLast = r;
    const c0 = Math.max(0, a - rad);
    const c1 = Math.min(cols - 1, b + rad);
    tmp.fill(AIR, o, o + c0);
    tmp.fill(AIR, o + c1 + 1, o + cols);
    for (let c = c0; c <= c1; c++) {
      let s = 0;
      for (let k = -rad; k <= rad; k++) {
        const cc = c + k < 0 ? 0 : c + k >= cols ? cols - 1 : c + k;
        s += w[k + rad]! * hu[o + cc]!;
      }
      tmp[o + c] = s;
    }
  }
  if (rLast < 0) return;
  // Vertical pass back into hu, over the rows the non-air pixels can reach.
  const r0 = Math.max(0, rFirst - rad);
  const r1 = Math.min(rows - 1, rLast + rad);
  for (let r = r0; r <= r1; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let k = -rad; k <= rad; k++) {
        const rr = r + k < 0 ? 0 : r + k >= rows ? rows - 1 : r + k;
        s += w[k + rad]! * tmp[rr * cols + c]!;
      }
      hu[o + c] = s;
    }
  }
}

/**
 * Adds CT-textured noise of pixel σ `sigma` (HU) to `hu`: white Gaussian noise filtered by the
 * 3 × 3 kernel above. `tmp` is scratch of the same size as `hu`.
 */
export function addNoise(
  hu: Float32Array,
  rows: number,
  cols: number,
  sigma: number,
  seed: number,
  tmp: Float32Array,
): void {
  const table = normalTable16();
  const s = sigma / NOISE_GAIN;
  const a = NOISE_A;
  const k = NOISE_NORM;
  let x = seed | 0 || 0x2545f491;
  // White noise and its horizontal filter in one pass into tmp (each row draws its noise once),
  // then the vertical filter added into hu; edges replicate.
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    let prev = s * table[x & 0xffff]!;
    let cur = prev;
    let hi = x >>> 16;
    for (let c = 0; c < cols; c++) {
      let next: number;
      if (c + 1 < cols) {
        let n: number;
        if ((c & 1) === 0) n = table[hi & 0xffff]!;
        else {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          n = table[x & 0xffff]!;
          hi = x >>> 16;
        }
        next = s * n;
      } else next = cur;
      tmp[o + c] = (a * prev + cur + a * next) * k;
      prev = cur;
      cur = next;
    }
  }
  for (let c = 0; c < cols; c++) hu[c] = hu[c]! + ((1 + a) * tmp[c]! + a * tmp[cols + c]!) * k;
  for (let r = 1; r < rows - 1; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      hu[o + c] = hu[o + c]! + (a * tmp[o - cols + c]! + tmp[o + c]! + a * tmp[o + cols + c]!) * k;
    }
  }
  const last = (rows - 1) * cols;
  for (let c = 0; c < cols; c++) {
    hu[last + c] = hu[last + c]! + (a * tmp[last - cols + c]! + (1 + a) * tmp[last + c]!) * k;
  }
}
