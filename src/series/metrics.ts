/**
 * The stage-2 report (`SRUN/metrics.json`): on the same out-of-fold images, the stage-1
 * probabilities as they are, smoothed along z, and the series model's; and per study the `any`
 * AUC of stage 1 (max over slices) against stage 2's learned study output.
 */
import { rankedAuc, rocAuc } from '../eval/auc.js';
import { bootstrapCi, quantileSorted, resampleCounts } from '../eval/bootstrap.js';
import { computeMetrics } from '../eval/metrics.js';
import { rank } from '../eval/ranking.js';
import type { MetricBlock, StudyOutput } from '../eval/stages-types.js';
import { triagePoint } from '../eval/threshold.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { Rng } from '../util/rng.js';

export type { Interval, MetricBlock, StudyBlock, StudyOutput } from '../eval/stages-types.js';

/** Every metric of n images (y, p: n × 6), with bootstrap intervals. */
export function metricBlock(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  samples: number,
  seed: number,
): MetricBlock {
  const m = computeMetrics(y, p, n);
  const ci = bootstrapCi(y, p, n, { samples, seed });
  const auc = {} as MetricBlock['auc'];
  for (const name of LABEL_NAMES) auc[name] = { value: m.labels[name].auc, ci: ci.auc[name] };
  return {
    images: n,
    weighted_log_loss: m.weightedLogLoss,
    weighted_log_loss_ci: ci.weightedLogLoss,
    mean_auc: m.mean.auc.value,
    mean_auc_ci: ci.auc.mean,
    auc,
  };
}

/** AUC, its percentile bootstrap interval and the triage point (sensitivity ≥ 0.95) of one score. */
export function studyOutput(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  samples: number,
  seed: number,
): StudyOutput {
  const r = rank(y, p);
  const values: number[] = [];
  const counts = new Uint32Array(y.length);
  const rng = new Rng(seed);
  for (let s = 0; s < samples; s++) {
    resampleCounts(rng, y.length, counts);
    const a = rankedAuc(r, counts);
    if (a !== null) values.push(a);
  }
  values.sort((a, b) => a - b);
  return {
    auc: rocAuc(y, p),
    ci: values.length === 0 ? null : [quantileSorted(values, 0.025), quantileSorted(values, 0.975)],
    triage: triagePoint(r, 0.95),
  };
}

/**
 * Stage-1 probabilities smoothed along each series with weights 0.2 / 0.6 / 0.2, renormalised at
 * the ends (the first slice: (0.6 p₀ + 0.2 p₁) / 0.8). `series` lists each series' rows in order.
 */
export function smoothAlongZ(
  probs: Float32Array,
  series: readonly (readonly number[])[],
): Float32Array {
  const out = new Float32Array(probs.length);
  for (const rows of series) {
    for (let i = 0; i < rows.length; i++) {
      for (let l = 0; l < LABEL_COUNT; l++) {
        let s = 0.6 * probs[rows[i]! * LABEL_COUNT + l]!;
        let w = 0.6;
        if (i > 0) {
          s += 0.2 * probs[rows[i - 1]! * LABEL_COUNT + l]!;
          w += 0.2;
        }
        if (i + 1 < rows.length) {
          s += 0.2 * probs[rows[i + 1]! * LABEL_COUNT + l]!;
          w += 0.2;
        }
        out[rows[i]! * LABEL_COUNT + l] = s / w;
      }
    }
  }
  return out;
}

/** The `any` index, exported for callers building study labels. */
export const ANY = ANY_INDEX;
