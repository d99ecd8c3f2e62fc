/**
 * Scores ranked once, for every threshold metric of one binary label: the items sorted by
 * score, descending, and where each group of tied scores ends. scikit-learn's
 * `_binary_clf_curve` works the same way (distinct thresholds, descending), so tied scores move
 * across a threshold together. The bootstrap re-weights a ranking instead of sorting again.
 */

/** One label's items sorted by score, descending, with the ends of the tied groups marked. */
export interface Ranking {
  /** Item indices, highest score first. */
  order: Uint32Array;
  /** 1 at sorted position k when the score there differs from the one at k + 1 (or k is last). */
  groupEnd: Uint8Array;
  /** 1 for a positive item, 0 for a negative one, by item index (not sorted). */
  y: Uint8Array;
  /** The scores, by item index. */
  p: Float64Array;
}

/**
 * Checks one label's y (each 0 or 1) and p (finite), and ranks the items.
 *
 * @throws RangeError for arrays of different lengths, a label other than 0/1 or a score that is
 *   not a finite number (a NaN from a diverged model is reported, never ranked).
 */
export function rank(y: ArrayLike<number>, p: ArrayLike<number>): Ranking {
  const n = y.length;
  if (p.length !== n) {
    throw new RangeError(`labels and scores differ in length: ${n} vs ${p.length}`);
  }
  const yy = new Uint8Array(n);
  const pp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (v !== 0 && v !== 1) throw new RangeError(`label ${i} must be 0 or 1, received ${v}`);
    yy[i] = v;
    const s = p[i]!;
    if (!Number.isFinite(s))
      throw new RangeError(`score ${i} must be a finite number, received ${s}`);
    pp[i] = s;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => pp[b]! - pp[a]!);
  const groupEnd = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    groupEnd[k] = k === n - 1 || pp[order[k]!]! !== pp[order[k + 1]!]! ? 1 : 0;
  }
  return { order, groupEnd, y: yy, p: pp };
}

/** Cumulative (weighted) true and false positives at each distinct threshold, descending. */
export interface ThresholdCounts {
  tps: Float64Array;
  fps: Float64Array;
  thresholds: Float64Array;
}

/**
 * scikit-learn's `_binary_clf_curve`: at each distinct score t, descending, the number of
 * positives and negatives scoring ≥ t. `weights` (by item index) count an item several times,
 * as a bootstrap resample does; without them each item counts once.
 */
export function thresholdCounts(r: Ranking, weights?: ArrayLike<number>): ThresholdCounts {
  const { order, groupEnd, y, p } = r;
  let groups = 0;
  for (let k = 0; k < groupEnd.length; k++) groups += groupEnd[k]!;
  const tps = new Float64Array(groups);
  const fps = new Float64Array(groups);
  const thresholds = new Float64Array(groups);
  let tp = 0;
  let fp = 0;
  let g = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const w = weights === undefined ? 1 : weights[i]!;
    if (y[i] === 1) tp += w;
    else fp += w;
    if (groupEnd[k] === 1) {
      tps[g] = tp;
      fps[g] = fp;
      thresholds[g] = p[i]!;
      g++;
    }
  }
  return { tps, fps, thresholds };
}
