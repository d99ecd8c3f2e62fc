/**
 * HU statistics of a head-CT slice, one method for real and synthetic scans, so synthetic data
 * can be held against real data. The definition is `ct_stats.py` (numpy + scipy.ndimage), which
 * this module reproduces to rounding:
 *
 * - skull: HU > 300; inside: the skull closed (5 px), holes filled, minus 3 px around bone;
 *   slices with < 1000 brain pixels (0–80 HU inside) are skipped;
 * - brain: median HU of the 0–80 HU pixels inside; skull: median HU of the skull pixels;
 * - noise: std of (HU − its 3 × 3 mean) over 15–50 HU pixels inside, × 3/√8 (σ of white noise);
 * - noiseR1: lag-1 horizontal autocorrelation of HU − Gaussian(σ 4 px) over 15–50 HU brain
 *   eroded by 4 px and 6 px away from bone (only when that region has ≥ 5000 pixels, as edge);
 * - edge: 90th percentile of the Gaussian gradient magnitude (σ 0.7 px) on the skull rim, HU/px;
 * - dense: % of inside pixels above 50 HU.
 */
import { gaussianFilter, gaussianGradientMagnitude, mean3x3 } from './filters.js';
import { close, dilate, erode, fillHoles } from './morphology.js';

export const STAT_NAMES = ['brain', 'skull', 'noise', 'noiseR1', 'edge', 'dense'] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** One slice's statistics; noiseR1 and edge need a large enough brain region. */
export interface SliceStats {
  brain: number;
  skull: number;
  noise: number;
  dense: number;
  noiseR1?: number;
  edge?: number;
}

/** Median and 10th/90th percentiles of a statistic over slices, and how many slices had it. */
export interface StatSummary {
  median: number;
  p10: number;
  p90: number;
  n: number;
}

/** What each statistic means and its unit, for tables. */
export const STAT_LABELS: Record<StatName, string> = {
  brain: 'brain tissue (0–80 HU inside the skull) median, HU',
  skull: 'skull (> 300 HU) median, HU',
  noise: 'noise: std of HU − 3×3 mean in 15–50 HU brain × 3/√8, HU',
  noiseR1: 'noise autocorrelation at 1 px (after a σ 4 px Gaussian)',
  edge: 'skull edge: 90th pct gradient magnitude (σ 0.7 px) at the rim, HU/px',
  dense: 'intracranial pixels > 50 HU, %',
};

/** The same statistics measured on real RSNA 2019 slices (issue 13), median [p10, p90]. */
export const RSNA_REFERENCE: Record<StatName, [number, number, number]> = {
  brain: [27, 24, 31],
  skull: [759, 633, 936],
  noise: [1.7, 1.6, 2.4],
  noiseR1: [0.67, 0.65, 0.69],
  edge: [342, 203, 359],
  dense: [1.3, 0.5, 9.5],
};

/** numpy's default (linear) percentile, q in [0, 100]; NaN for no values. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const a = Float64Array.from(values).sort();
  if (a.length === 0) return Number.NaN;
  const pos = (q / 100) * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(a.length - 1, lo + 1);
  return a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
}

function std(values: number[]): number {
  let m = 0;
  for (const v of values) m += v;
  m /= values.length;
  let s = 0;
  for (const v of values) s += (v - m) * (v - m);
  return Math.sqrt(s / values.length);
}

/** The statistics of one slice of HU values, or undefined when it holds too little brain. */
export function sliceStats(
  huIn: ArrayLike<number>,
  rows: number,
  cols: number,
): SliceStats | undefined {
  const n = rows * cols;
  const hu = Float64Array.from(huIn);
  const skull = new Uint8Array(n);
  for (let i = 0; i < n; i++) skull[i] = hu[i]! > 300 ? 1 : 0;
  const filled = fillHoles(close(skull, rows, cols, 5), rows, cols);
  const near3 = dilate(skull, rows, cols, 3);
  const inside = new Uint8Array(n);
  const brain: number[] = [];
  for (let i = 0; i < n; i++) {
    inside[i] = filled[i] && !near3[i] ? 1 : 0;
    if (inside[i] && hu[i]! > 0 && hu[i]! < 80) brain.push(hu[i]!);
  }
  if (brain.length < 1000) return undefined;
  const m3 = mean3x3(hu, rows, cols);
  const r3: number[] = [];
  const skullHu: number[] = [];
  let insideN = 0;
  let denseN = 0;
  for (let i = 0; i < n; i++) {
    if (skull[i]) skullHu.push(hu[i]!);
    if (!inside[i]) continue;
    insideN++;
    if (hu[i]! > 50) denseN++;
    if (hu[i]! > 15 && hu[i]! < 50) r3.push(hu[i]! - m3[i]!);
  }
  const s: SliceStats = {
    brain: percentile(brain, 50),
    skull: percentile(skullHu, 50),
    noise: (std(r3) * 3) / Math.sqrt(8),
    dense: (denseN / insideN) * 100,
  };
  const near6 = dilate(skull, rows, cols, 6);
  const t0 = new Uint8Array(n);
  for (let i = 0; i < n; i++) t0[i] = filled[i] && !near6[i] && hu[i]! > 15 && hu[i]! < 50 ? 1 : 0;
  const t = erode(t0, rows, cols, 4);
  let tN = 0;
  for (let i = 0; i < n; i++) tN += t[i]!;
  if (tN >= 5000) {
    s.noiseR1 = lagOneCorrelation(hu, gaussianFilter(hu, rows, cols, 4), t, rows, cols);
    s.edge = rimEdge(hu, skull, inside, rows, cols);
  }
  return s;
}

/** Autocorrelation at a 1-px horizontal lag of HU − smooth over the region t. */
function lagOneCorrelation(
  hu: Float64Array,
  smooth: Float64Array,
  t: Uint8Array,
  rows: number,
  cols: number,
): number {
  let sum = 0;
  let cnt = 0;
  for (let i = 0; i < hu.length; i++) {
    if (t[i]) {
      sum += hu[i]! - smooth[i]!;
      cnt++;
    }
  }
  const mean = sum / cnt;
  let v = 0;
  for (let i = 0; i < hu.length; i++) {
    if (t[i]) v += (hu[i]! - smooth[i]! - mean) ** 2;
  }
  const variance = v / cnt;
  // Pairs (r, c), (r, c + 1) both in t: means of each side first, then the covariance.
  let sa = 0;
  let sc = 0;
  let m = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols - 1; c++) {
      const i = r * cols + c;
      if (!t[i] || !t[i + 1]) continue;
      sa += hu[i]! - smooth[i]!;
      sc += hu[i + 1]! - smooth[i + 1]!;
      m++;
    }
  }
  const ma = sa / m;
  const mc = sc / m;
  let cov = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols - 1; c++) {
      const i = r * cols + c;
      if (!t[i] || !t[i + 1]) continue;
      cov += (hu[i]! - smooth[i]! - ma) * (hu[i + 1]! - smooth[i + 1]! - mc);
    }
  }
  return cov / m / variance;
}

/** 90th percentile of the gradient magnitude on the skull's rim (inner and outer). */
function rimEdge(
  hu: Float64Array,
  skull: Uint8Array,
  inside: Uint8Array,
  rows: number,
  cols: number,
): number {
  const g = gaussianGradientMagnitude(hu, rows, cols, 0.7);
  const grown = dilate(skull, rows, cols, 1);
  const core = erode(skull, rows, cols, 1);
  const rim: number[] = [];
  for (let i = 0; i < hu.length; i++) {
    const outerRim = grown[i] && !skull[i] && inside[i];
    const boneRim = skull[i] && !core[i];
    if (outerRim || boneRim) rim.push(g[i]!);
  }
  return percentile(rim, 90);
}

/** Median [p10, p90] of each statistic over slices; undefined where no slice has it. */
export function summarizeStats(slices: SliceStats[]): Record<StatName, StatSummary | undefined> {
  const out = {} as Record<StatName, StatSummary | undefined>;
  for (const k of STAT_NAMES) {
    const v = slices.map((s) => s[k]).filter((x): x is number => x !== undefined);
    out[k] = v.length
      ? { median: percentile(v, 50), p10: percentile(v, 10), p90: percentile(v, 90), n: v.length }
      : undefined;
  }
  return out;
}
