/**
 * Ranking metrics of one binary label, with scikit-learn's semantics (the reference the
 * field reports with): scores are grouped into distinct thresholds, descending, so tied scores
 * move together — a tie between a positive and a negative counts ½ in the ROC AUC.
 * A label with only one class present has no AUC or AP: `null`, never NaN.
 */

/** Cumulative true/false positives at each distinct threshold, descending (sklearn `_binary_clf_curve`). */
export function thresholdCounts(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
): { tps: number[]; fps: number[]; thresholds: number[] } {
  const n = y.length;
  if (p.length !== n) {
    throw new RangeError(`labels and scores differ in length: ${n} vs ${p.length}`);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => p[b]! - p[a]!);
  const tps: number[] = [];
  const fps: number[] = [];
  const thresholds: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (y[i]! > 0.5) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || p[next]! !== p[i]!) {
      tps.push(tp);
      fps.push(fp);
      thresholds.push(p[i]!);
    }
  }
  return { tps, fps, thresholds };
}

/** ROC AUC (sklearn `roc_auc_score`); null when only one class is present. */
export function rocAuc(y: ArrayLike<number>, p: ArrayLike<number>): number | null {
  const { tps, fps } = thresholdCounts(y, p);
  const P = tps.at(-1) ?? 0;
  const N = fps.at(-1) ?? 0;
  if (P === 0 || N === 0) return null;
  let area = 0;
  let tp0 = 0;
  let fp0 = 0;
  for (let k = 0; k < tps.length; k++) {
    area += ((fps[k]! - fp0) * (tps[k]! + tp0)) / 2;
    tp0 = tps[k]!;
    fp0 = fps[k]!;
  }
  return area / (P * N);
}

/**
 * Average precision (sklearn `average_precision_score`): Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct
 * thresholds, descending — the step function, not the interpolated one. null without positives.
 */
export function averagePrecision(y: ArrayLike<number>, p: ArrayLike<number>): number | null {
  const { tps, fps } = thresholdCounts(y, p);
  const P = tps.at(-1) ?? 0;
  if (P === 0) return null;
  let ap = 0;
  let r0 = 0;
  for (let k = 0; k < tps.length; k++) {
    const r = tps[k]! / P;
    const prec = tps[k]! / (tps[k]! + fps[k]!);
    ap += (r - r0) * prec;
    r0 = r;
  }
  return ap;
}
