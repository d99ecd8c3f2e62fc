/**
 * Bootstrap confidence intervals for the per-label ROC AUC, their mean and the RSNA weighted
 * log loss, so a comparison can say when two models are not really different.
 *
 * Each resample draws n images with replacement (a seeded `Rng`, so a seed gives the same
 * intervals every time); the interval is the percentile one, with quantiles interpolated
 * linearly between order statistics (numpy's default). Images are sorted once per label; a
 * resample is a vector of counts (how often each image was drawn) and each AUC is one weighted
 * pass over the sorted images, equal to `roc_auc_score` of the resampled arrays (a repeated
 * image ties with itself). A resample in which a label has one class only has no AUC for it and
 * is left out of that label's interval, and of the mean's; the counts are reported.
 */
import { LABEL_NAMES, type LabelName } from '../data/types.js';
import { ConfigError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { rankedAuc } from './auc.js';
import { imageLosses, weightedLogLoss } from './logloss.js';
import { labelColumn } from './metrics.js';
import { type Ranking, rank } from './ranking.js';

export interface BootstrapOptions {
  /** Resamples drawn (≥ 1; 1000 is usual). */
  samples: number;
  /** Seed of the resampling. */
  seed: number;
  /** Coverage of the interval, in (0, 1) (0.95). */
  level?: number;
}

/** An interval [lo, hi]. */
export type Interval = [number, number];

/** Per label and for `mean`, the mean AUC over the labels whose AUC is defined on all images. */
export type AucKey = LabelName | 'mean';

export interface BootstrapCi {
  samples: number;
  seed: number;
  level: number;
  /** Percentile intervals; null where no resample had a defined AUC. */
  auc: Record<AucKey, Interval | null>;
  /** Resamples left out of each AUC interval because a label had one class only in them. */
  aucSkipped: Record<AucKey, number>;
  /** The labels averaged into `mean` (those with a defined AUC on all images). */
  meanLabels: LabelName[];
  weightedLogLoss: Interval;
}

/**
 * Draws one resample of n items with replacement: `counts[i]` becomes how many times item i was
 * drawn (n draws of `rng.int(0, n − 1)`, in order).
 */
export function resampleCounts(rng: Rng, n: number, counts: Uint32Array): void {
  counts.fill(0);
  for (let j = 0; j < n; j++) counts[rng.int(0, n - 1)]!++;
}

/**
 * The q-quantile of sorted values, interpolated linearly between order statistics
 * (Hyndman & Fan type 7, numpy's default).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) throw new RangeError('quantile of no value');
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  if (lo + 1 >= m) return a;
  return a + (h - lo) * (sorted[lo + 1]! - a);
}

function interval(values: Float64Array, count: number, level: number): Interval | null {
  if (count === 0) return null;
  const v = values.slice(0, count).sort();
  const alpha = (1 - level) / 2;
  return [quantileSorted(v, alpha), quantileSorted(v, 1 - alpha)];
}

/**
 * Checks the bootstrap options.
 *
 * @throws ConfigError naming the option and the value received.
 */
export function resolveBootstrapOptions(o: BootstrapOptions): Required<BootstrapOptions> {
  if (!Number.isInteger(o.samples) || o.samples < 1) {
    throw new ConfigError(`bootstrap samples must be a positive integer, received ${o.samples}`);
  }
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) {
    throw new ConfigError(`bootstrap seed must be a non-negative integer, received ${o.seed}`);
  }
  const level = o.level ?? 0.95;
  if (!(level > 0 && level < 1)) {
    throw new ConfigError(`bootstrap level must be in (0, 1), received ${level}`);
  }
  return { samples: o.samples, seed: o.seed, level };
}

/**
 * Percentile bootstrap intervals of the per-label AUC, the mean AUC and the weighted log loss of
 * n images (y: 0/1 labels, p: probabilities, both n × 6 row-major in LABEL_NAMES order).
 *
 * @throws ConfigError for bad options; RangeError for bad arrays (as `computeMetrics`).
 */
export function bootstrapCi(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  opts: BootstrapOptions,
): BootstrapCi {
  const { samples, seed, level } = resolveBootstrapOptions(opts);
  weightedLogLoss(y, p, n); // checks n, the shapes and every value
  const losses = imageLosses(y, p, n);
  const rankings: Ranking[] = LABEL_NAMES.map((_, l) =>
    rank(labelColumn(y, n, l), labelColumn(p, n, l)),
  );
  const meanLabels = LABEL_NAMES.filter((_, l) => rankedAuc(rankings[l]!) !== null);
  const meanIdx = meanLabels.map((name) => LABEL_NAMES.indexOf(name));

  const aucs = LABEL_NAMES.map(() => new Float64Array(samples));
  const aucCount = LABEL_NAMES.map(() => 0);
  const means = new Float64Array(samples);
  let meanCount = 0;
  const wll = new Float64Array(samples);
  const counts = new Uint32Array(n);
  const sample = new Float64Array(LABEL_NAMES.length);
  const rng = new Rng(seed);
  for (let s = 0; s < samples; s++) {
    resampleCounts(rng, n, counts);
    let loss = 0;
    for (let i = 0; i < n; i++) loss += counts[i]! * losses[i]!;
    wll[s] = loss / n;
    for (let l = 0; l < LABEL_NAMES.length; l++) {
      const a = rankedAuc(rankings[l]!, counts);
      sample[l] = a ?? Number.NaN;
      if (a !== null) aucs[l]![aucCount[l]!++] = a;
    }
    if (meanIdx.length > 0 && meanIdx.every((l) => !Number.isNaN(sample[l]!))) {
      let m = 0;
      for (const l of meanIdx) m += sample[l]!;
      means[meanCount++] = m / meanIdx.length;
    }
  }

  const auc = {} as Record<AucKey, Interval | null>;
  const aucSkipped = {} as Record<AucKey, number>;
  for (const [l, name] of LABEL_NAMES.entries()) {
    auc[name] = interval(aucs[l]!, aucCount[l]!, level);
    aucSkipped[name] = samples - aucCount[l]!;
  }
  auc.mean = interval(means, meanCount, level);
  aucSkipped.mean = samples - meanCount;
  return {
    samples,
    seed,
    level,
    auc,
    aucSkipped,
    meanLabels,
    weightedLogLoss: interval(wll, samples, level)!,
  };
}
