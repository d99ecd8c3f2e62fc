/**
 * `ichdet score`: the offline equivalent of the RSNA competition scorer. Reads a labels CSV and
 * a submission (both `ID_<image>_<subtype>,Label`), checks that the submission predicts every
 * labelled image and nothing else, and reports every metric of eval/metrics.ts, with bootstrap
 * confidence intervals on request.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { type BootstrapCi, bootstrapCi } from '../eval/bootstrap.js';
import { computeMetrics, type MetricsReport } from '../eval/metrics.js';
import { alignPredictions, readRsnaLabels, readSubmission } from '../eval/rsna.js';
import { formatMetricsTable } from '../eval/table.js';

export interface ScoreOptions {
  /** The labels CSV (stage_2_train.csv style). */
  labels: string;
  /** The submission CSV. */
  preds: string;
  /** Scores ≥ threshold are called positive for accuracy, sensitivity, specificity (0.5). */
  threshold?: number | string;
  /** The sensitivity of the triage operating point (0.95). */
  sensitivity?: number | string;
  /** Bootstrap resamples for confidence intervals; none when absent. */
  bootstrap?: number | string;
  /** Seed of the bootstrap (0). */
  seed?: number | string;
  /** Coverage of the bootstrap intervals (0.95). */
  level?: number | string;
}

/** The options once checked. */
export interface ScoreConfig {
  labels: string;
  preds: string;
  threshold: number;
  sensitivity: number;
  bootstrap: number | null;
  seed: number;
  level: number;
}

export interface ScoreResult extends ScoreConfig {
  images: number;
  metrics: MetricsReport;
  ci: BootstrapCi | null;
  /** What the labels file needed (duplicate rows dropped, conflicts resolved), one line each. */
  notes: string[];
  /** The table, as the CLI prints it. */
  text: string;
}

function num(name: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) {
    throw new ConfigError(`${name} must be a number, received "${String(value)}"`);
  }
  return n;
}

/**
 * Checks the options before any file is read.
 *
 * @throws ConfigError naming the option and the value received.
 */
export function resolveScoreOptions(o: ScoreOptions): ScoreConfig {
  const threshold = num('--threshold', o.threshold, 0.5);
  const sensitivity = num('--sensitivity', o.sensitivity, 0.95);
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new ConfigError(`--threshold must be in [0, 1], received ${threshold}`);
  }
  if (!(sensitivity > 0 && sensitivity <= 1)) {
    throw new ConfigError(`--sensitivity must be in (0, 1], received ${sensitivity}`);
  }
  const seed = num('--seed', o.seed, 0);
  const level = num('--level', o.level, 0.95);
  let bootstrap: number | null = null;
  if (o.bootstrap !== undefined) {
    bootstrap = num('--bootstrap', o.bootstrap, 0);
    if (!Number.isInteger(bootstrap) || bootstrap < 1) {
      throw new ConfigError(`--bootstrap must be a positive integer, received ${o.bootstrap}`);
    }
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ConfigError(`--seed must be a non-negative integer, received ${o.seed}`);
  }
  if (!(level > 0 && level < 1)) {
    throw new ConfigError(`--level must be in (0, 1), received ${o.level}`);
  }
  return {
    labels: resolve(o.labels),
    preds: resolve(o.preds),
    threshold,
    sensitivity,
    bootstrap,
    seed,
    level,
  };
}

/**
 * Scores a submission against labels.
 *
 * @throws ConfigError for a bad option (before any file is read); InputError for an unreadable,
 *   malformed or incomplete file, naming the file, the first bad row and the value received.
 */
export async function score(o: ScoreOptions): Promise<ScoreResult> {
  const c = resolveScoreOptions(o);
  const [labels, preds] = await Promise.all([readRsnaLabels(o.labels), readSubmission(o.preds)]);
  const p = alignPredictions(labels, preds);
  const n = labels.imageIds.length;
  const metrics = computeMetrics(labels.y, p, n, {
    threshold: c.threshold,
    sensitivity: c.sensitivity,
  });
  const ci =
    c.bootstrap === null
      ? null
      : bootstrapCi(labels.y, p, n, { samples: c.bootstrap, seed: c.seed, level: c.level });
  const r = labels.report;
  const notes: string[] = [];
  if (r.exactDuplicates.count > 0) {
    notes.push(`${o.labels}: ${r.exactDuplicates.count} exact duplicate rows dropped`);
  }
  if (r.conflicts.count > 0) {
    notes.push(
      `${o.labels}: ${r.conflicts.count} conflicting duplicate rows, the positive label kept (first: ${r.conflicts.examples[0]})`,
    );
  }
  const text = formatMetricsTable(metrics, ci);
  return { ...c, images: n, metrics, ci, notes, text };
}
