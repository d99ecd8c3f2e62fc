/**
 * Every metric of a set of predictions against its labels, per label and averaged: the report
 * `ichdet score` prints and `evaluate`/`compare` store. JSON-friendly: a value that is not
 * defined (an AUC with one class present, a sensitivity without positives) is null, never NaN.
 */
import { ConfigError } from '../errors.js';
import { LABEL_COUNT, LABEL_NAMES, type LabelName } from '../labels.js';
import { rankedAuc, rankedAveragePrecision } from './auc.js';
import { LOG_LOSS_EPS, logLoss, weightedLogLoss } from './logloss.js';
import { rank } from './ranking.js';
import { atThreshold, type TriagePoint, triagePoint } from './threshold.js';

export interface MetricsOptions {
  /** Scores ≥ threshold are called positive for accuracy, sensitivity and specificity (0.5). */
  threshold?: number;
  /** The sensitivity the triage operating point must reach (0.95). */
  sensitivity?: number;
}

/** One label's metrics. */
export interface LabelMetrics {
  positives: number;
  negatives: number;
  /** At the threshold. */
  accuracy: number;
  /** ROC AUC (sklearn `roc_auc_score`); null when only one class is present. */
  auc: number | null;
  /** Average precision (sklearn `average_precision_score`); null without positives. */
  ap: number | null;
  /** Binary log loss, predictions clipped to [1e-7, 1 − 1e-7]. */
  logLoss: number;
  /** At the threshold; null without positives. */
  sensitivity: number | null;
  /** At the threshold; null without negatives. */
  specificity: number | null;
  /** The highest threshold reaching the triage sensitivity; null without positives. */
  triage: TriagePoint | null;
}

/** A mean over the labels where the value is defined, and how many labels that was. */
export interface MeanValue {
  value: number | null;
  labels: number;
}

/** The metrics averaged over labels (each a plain, unweighted mean of the defined values). */
export interface MeanMetrics {
  accuracy: MeanValue;
  auc: MeanValue;
  ap: MeanValue;
  logLoss: MeanValue;
  sensitivity: MeanValue;
  specificity: MeanValue;
  /** The specificity at each label's triage point. */
  triageSpecificity: MeanValue;
}

export interface MetricsReport {
  images: number;
  threshold: number;
  /** The sensitivity the triage points reach. */
  triageSensitivity: number;
  /** The log-loss clip ε: predictions are taken in [ε, 1 − ε]. */
  clip: number;
  /** Per label, in LABEL_NAMES order. */
  labels: Record<LabelName, LabelMetrics>;
  mean: MeanMetrics;
  /** The RSNA competition metric (any weighted 2, subtypes 1), clipped at `clip`. */
  weightedLogLoss: number;
}

/**
 * Checks the metric options.
 *
 * @throws ConfigError naming the option and the value received.
 */
export function resolveMetricsOptions(opts: MetricsOptions = {}): Required<MetricsOptions> {
  const threshold = opts.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new ConfigError(`threshold must be in [0, 1], received ${threshold}`);
  }
  const sensitivity = opts.sensitivity ?? 0.95;
  if (!(sensitivity > 0 && sensitivity <= 1)) {
    throw new ConfigError(`triage sensitivity must be in (0, 1], received ${sensitivity}`);
  }
  return { threshold, sensitivity };
}

/** One label's column of an n × 6 row-major array. */
export function labelColumn(a: ArrayLike<number>, n: number, l: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i * LABEL_COUNT + l]!;
  return out;
}

function mean(values: (number | null)[]): MeanValue {
  const defined = values.filter((v): v is number => v !== null);
  return {
    value: defined.length === 0 ? null : defined.reduce((a, b) => a + b, 0) / defined.length,
    labels: defined.length,
  };
}

/**
 * Computes every metric of n images: y holds the 0/1 labels and p the predicted probabilities,
 * both n × 6, row-major, labels in LABEL_NAMES order.
 *
 * @throws ConfigError for a bad option; RangeError when n < 1, the arrays are not n × 6, a label
 *   is not 0/1 or a prediction is outside [0, 1] (NaN included).
 */
export function computeMetrics(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  n: number,
  opts: MetricsOptions = {},
): MetricsReport {
  const { threshold, sensitivity } = resolveMetricsOptions(opts);
  const wll = weightedLogLoss(y, p, n); // checks n, the shapes and every value
  const labels = {} as Record<LabelName, LabelMetrics>;
  for (const [l, name] of LABEL_NAMES.entries()) {
    const yl = labelColumn(y, n, l);
    const pl = labelColumn(p, n, l);
    const r = rank(yl, pl);
    const at = atThreshold(r, threshold);
    labels[name] = {
      positives: at.tp + at.fn,
      negatives: at.tn + at.fp,
      accuracy: at.accuracy!,
      auc: rankedAuc(r),
      ap: rankedAveragePrecision(r),
      logLoss: logLoss(yl, pl),
      sensitivity: at.sensitivity,
      specificity: at.specificity,
      triage: triagePoint(r, sensitivity),
    };
  }
  const rows = LABEL_NAMES.map((name) => labels[name]);
  return {
    images: n,
    threshold,
    triageSensitivity: sensitivity,
    clip: LOG_LOSS_EPS,
    labels,
    mean: {
      accuracy: mean(rows.map((m) => m.accuracy)),
      auc: mean(rows.map((m) => m.auc)),
      ap: mean(rows.map((m) => m.ap)),
      logLoss: mean(rows.map((m) => m.logLoss)),
      sensitivity: mean(rows.map((m) => m.sensitivity)),
      specificity: mean(rows.map((m) => m.specificity)),
      triageSpecificity: mean(rows.map((m) => m.triage?.specificity ?? null)),
    },
    weightedLogLoss: wll,
  };
}
