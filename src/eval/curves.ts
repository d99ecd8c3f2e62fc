/**
 * ROC and precision–recall curves of one binary label, point for point as scikit-learn draws
 * them (`roc_curve(drop_intermediate=False)`, `precision_recall_curve`), and a shape-keeping
 * downsampler so a curve of 10⁵ thresholds can be plotted with a few hundred points.
 *
 * Both curves are built on `_binary_clf_curve`'s counts (ranking.ts): one point per distinct
 * score, descending, so tied scores cross a threshold together and give one diagonal step.
 */
import { ConfigError } from '../errors.js';
import { rank, thresholdCounts } from './ranking.js';

/** A ROC curve, as `sklearn.metrics.roc_curve(y, p, drop_intermediate=False)` returns it. */
export interface RocCurve {
  /** False positive rate at each threshold, ascending from 0 to 1. */
  fpr: number[];
  /** True positive rate at each threshold, ascending from 0 to 1. */
  tpr: number[];
  /**
   * The distinct scores, descending, after a first `+Infinity` (sklearn ≥ 1.3: no item scores
   * ≥ +∞, which gives the point (0, 0)). `JSON.stringify` writes that first value as `null`;
   * a reader should take a `null` first threshold as +∞ (see `thresholdsToJson`).
   */
  thresholds: number[];
}

/** A precision–recall curve, as `sklearn.metrics.precision_recall_curve(y, p)` returns it. */
export interface PrCurve {
  /** Precision by threshold ascending, then a final 1 (the point with recall 0). */
  precision: number[];
  /** Recall by threshold ascending (from 1 down), then a final 0. */
  recall: number[];
  /** The distinct scores, ascending; one fewer than the precision and recall values. */
  thresholds: number[];
}

/**
 * The ROC curve of scores `p` for 0/1 labels `y`: at the thresholds +∞ and then each distinct
 * score t, descending, the fractions of negatives (fpr) and positives (tpr) scoring ≥ t.
 * Every distinct score keeps its point (sklearn's `drop_intermediate=False`). null when only one
 * class is present (sklearn then warns and returns NaN rates).
 *
 * @throws RangeError for arrays of different lengths, a label other than 0/1 or a non-finite score.
 */
export function rocCurve(y: ArrayLike<number>, p: ArrayLike<number>): RocCurve | null {
  const { tps, fps, thresholds } = thresholdCounts(rank(y, p));
  const n = tps.length;
  const positives = n > 0 ? tps[n - 1]! : 0;
  const negatives = n > 0 ? fps[n - 1]! : 0;
  if (positives === 0 || negatives === 0) return null;
  const fpr = [0];
  const tpr = [0];
  const th = [Number.POSITIVE_INFINITY];
  for (let g = 0; g < n; g++) {
    fpr.push(fps[g]! / negatives);
    tpr.push(tps[g]! / positives);
    th.push(thresholds[g]!);
  }
  return { fpr, tpr, thresholds: th };
}

/**
 * The precision–recall curve of scores `p` for 0/1 labels `y`, as scikit-learn ≥ 1.1 draws it:
 * at each distinct score t, ascending, precision = TP / (TP + FP) and recall = TP / P among the
 * items scoring ≥ t, with no truncation at full recall, then the point (recall 0, precision 1)
 * with no threshold. null when no item is positive (sklearn warns and sets recall to 1); a label
 * with no negative has a curve (precision 1 everywhere).
 *
 * @throws RangeError for arrays of different lengths, a label other than 0/1 or a non-finite score.
 */
export function prCurve(y: ArrayLike<number>, p: ArrayLike<number>): PrCurve | null {
  const { tps, fps, thresholds } = thresholdCounts(rank(y, p));
  const n = tps.length;
  const positives = n > 0 ? tps[n - 1]! : 0;
  if (positives === 0) return null;
  const precision: number[] = [];
  const recall: number[] = [];
  const th: number[] = [];
  for (let g = n - 1; g >= 0; g--) {
    const tp = tps[g]!;
    const predicted = tp + fps[g]!;
    precision.push(predicted === 0 ? 0 : tp / predicted);
    recall.push(tp / positives);
    th.push(thresholds[g]!);
  }
  precision.push(1);
  recall.push(0);
  return { precision, recall, thresholds: th };
}

/**
 * Thresholds ready for JSON: `+Infinity` (the first ROC threshold) becomes the string
 * `"Infinity"`, which JSON can hold and `Number("Infinity")` reads back; finite values are kept.
 */
export function thresholdsToJson(thresholds: readonly number[]): (number | string)[] {
  return thresholds.map((t) => (Number.isFinite(t) ? t : String(t)));
}

/**
 * A curve thinned to at most `maxPoints` points with its shape kept, for plotting.
 * First, points that lie exactly on the segment between their neighbours are dropped (what
 * sklearn's `drop_intermediate` does for ROC curves); this changes nothing that can be seen.
 * If more than `maxPoints` remain, Largest-Triangle-Three-Buckets (Steinarsson 2013) keeps the
 * first and last points and, from each of `maxPoints − 2` equal buckets in between, the point
 * that makes the largest triangle with the previous kept point and the next bucket's centroid,
 * so corners and steps survive. Deterministic; the input is not changed.
 *
 * @throws ConfigError when `maxPoints` is not an integer ≥ 2 or the arrays differ in length.
 */
export function downsampleCurve(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  maxPoints: number,
): { xs: number[]; ys: number[] } {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) {
    throw new ConfigError(`maxPoints must be an integer >= 2, received ${maxPoints}`);
  }
  if (xs.length !== ys.length) {
    throw new ConfigError(`curve xs and ys differ in length: ${xs.length} vs ${ys.length}`);
  }
  const { xs: cx, ys: cy } = dropCollinear(xs, ys);
  if (cx.length <= maxPoints) return { xs: cx, ys: cy };
  return lttb(cx, cy, maxPoints);
}

/** Drops each point that lies on the straight segment between the previous kept and the next. */
function dropCollinear(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
): { xs: number[]; ys: number[] } {
  const n = xs.length;
  const ox: number[] = [];
  const oy: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    const y = ys[i]!;
    if (i > 0 && i < n - 1 && ox.length > 0) {
      const ax = ox[ox.length - 1]!;
      const ay = oy[oy.length - 1]!;
      const bx = xs[i + 1]!;
      const by = ys[i + 1]!;
      const cross = (x - ax) * (by - ay) - (y - ay) * (bx - ax);
      // On the segment from the last kept point to the next point, between them (not a turn back).
      const between = (x - ax) * (bx - x) + (y - ay) * (by - y) >= 0;
      if (cross === 0 && between) continue;
    }
    ox.push(x);
    oy.push(y);
  }
  return { xs: ox, ys: oy };
}

/** Largest-Triangle-Three-Buckets to exactly `m` ≥ 2 points of n > m. */
function lttb(xs: number[], ys: number[], m: number): { xs: number[]; ys: number[] } {
  const n = xs.length;
  const ox = [xs[0]!];
  const oy = [ys[0]!];
  if (m > 2) {
    const every = (n - 2) / (m - 2);
    let a = 0;
    for (let b = 0; b < m - 2; b++) {
      const start = Math.floor(b * every) + 1;
      const end = Math.floor((b + 1) * every) + 1;
      // Centroid of the next bucket (the last point for the last bucket).
      const nStart = end;
      const nEnd = Math.min(Math.floor((b + 2) * every) + 1, n);
      let cx = 0;
      let cy = 0;
      for (let j = nStart; j < nEnd; j++) {
        cx += xs[j]!;
        cy += ys[j]!;
      }
      const count = nEnd - nStart;
      if (count > 0) {
        cx /= count;
        cy /= count;
      } else {
        cx = xs[n - 1]!;
        cy = ys[n - 1]!;
      }
      const ax = xs[a]!;
      const ay = ys[a]!;
      let best = -1;
      let pick = start;
      for (let j = start; j < end; j++) {
        const area = Math.abs((ax - cx) * (ys[j]! - ay) - (ax - xs[j]!) * (cy - ay));
        if (area > best) {
          best = area;
          pick = j;
        }
      }
      ox.push(xs[pick]!);
      oy.push(ys[pick]!);
      a = pick;
    }
  }
  ox.push(xs[n - 1]!);
  oy.push(ys[n - 1]!);
  return { xs: ox, ys: oy };
}
