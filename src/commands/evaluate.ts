/**
 * `ichdet evaluate`: predicts a split of a cache with a trained run's best (or last) model — the
 * held-out `test` split when the split file has one, else the run's validation split — and
 * writes what a reader needs to judge it — `RUN/eval/predictions.csv` (RSNA submission format),
 * `RUN/eval/metrics.json` (every metric of `computeMetrics`, bootstrap intervals), and ROC and
 * precision–recall curves per label as PNG and SVG. With `--masks DIR` (label masks, as
 * `ichdet synth` writes them), also the Grad-CAM pointing game of the split's images that have
 * a mask: `RUN/eval/pointing.csv` and `pointing` in metrics.json.
 */

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendChoice } from '../backend/init.js';
import { initBackend } from '../backend/init.js';
import { openCache } from '../data/cache.js';
import { type SplitRow, TEST_SPLIT } from '../data/split.js';
import { ConfigError, InputError } from '../errors.js';
import { type BootstrapCi, bootstrapCi } from '../eval/bootstrap.js';
import { prCurve, rocCurve } from '../eval/curves.js';
import { computeMetrics, labelColumn, type MetricsReport } from '../eval/metrics.js';
import { type EvalLabelCurves, renderEvalFigures } from '../eval/report.js';
import { writeSubmission } from '../eval/rsna.js';
import { formatMetricsTable } from '../eval/table.js';
import {
  type CachePointing,
  pointingCsv,
  pointingOnCache,
  resolveMasksDir,
} from '../infer/pointing.js';
import { predictCache } from '../infer/predict-cache.js';
import { TTA_MODES, type TtaMode } from '../infer/runtime.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { EVAL_METRICS_FILE } from '../run/layout.js';
import { openRun } from '../run/run.js';
import { readSplitCsv, resolveSplit } from '../train/split-file.js';
import { writeFileAtomic } from '../util/files.js';
import { defaultPoolSize } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';

export interface EvaluateOptions {
  /** The run folder (`ichdet train --out`). */
  run: string;
  /** Cache and split file; default the run's own. */
  cache?: string;
  split?: string;
  /**
   * Split name to predict; default `test` when the split file has one (and the run neither
   * trained nor selected its checkpoint on it), else the run's validation split.
   */
  splitName?: string;
  checkpoint?: 'best' | 'last';
  tta?: string;
  threshold?: number;
  /** Bootstrap resamples for 95% intervals (0: none; default 1000). */
  bootstrap?: number;
  seed?: number;
  workers?: number;
  backend?: BackendChoice;
  /** Output folder; default RUN/eval. */
  out?: string;
  /** Write the ROC/PR figures (default true). */
  figures?: boolean;
  /**
   * Folder of label masks (`<image id>.png`, as `ichdet synth` writes): adds the Grad-CAM
   * pointing game of the split's images that have one.
   */
  masks?: string;
  /** Grad-CAM layer for the pointing game (see `camLayer`). */
  camLayer?: string;
  progress?: boolean;
  /** Progress events (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter;
  /** Stops between prediction batches with `Interrupted`; nothing is written then. */
  signal?: AbortSignal;
}

export interface EvaluateResult {
  out: string;
  model: string;
  /** The split predicted: every number comes from it. */
  split: string;
  /** The run's validation split, on which the checkpoint was selected during training. */
  selectedOn: string;
  images: number;
  metrics: MetricsReport;
  ci: BootstrapCi | null;
  files: string[];
  /** Predictions n × 6 and labels n × 6 (for callers that plot them). */
  p: Float32Array;
  y: Float32Array;
  /** The table as the CLI prints it. */
  text: string;
  /** The pointing game per label (null without `masks`). */
  pointing: CachePointing | null;
}

/** ROC and PR curve figures per label (PNG + SVG) in `dir`; returns the files written. */
export function writeEvalFigures(
  dir: string,
  model: string,
  y: Float32Array,
  p: Float32Array,
  n: number,
  metrics: MetricsReport,
): Promise<string[]> {
  const perLabel: EvalLabelCurves[] = LABEL_NAMES.map((label, l) => {
    const yl = labelColumn(y, n, l);
    const pl = labelColumn(p, n, l);
    const m = metrics.labels[label];
    return {
      label,
      roc: rocCurve(yl, pl),
      pr: prCurve(yl, pl),
      auc: m.auc,
      ap: m.ap,
      prevalence: m.positives / n,
    };
  });
  return renderEvalFigures(perLabel, dir, { model });
}

/**
 * The split `evaluate` reports on when none is named: the held-out test split when the split file
 * has one and the run did not train or select its checkpoint on it, else the validation split.
 */
export function defaultEvalSplit(
  rows: readonly SplitRow[],
  run: { trainSplits: readonly string[]; valSplit: string },
): string {
  const held =
    !run.trainSplits.includes(TEST_SPLIT) &&
    run.valSplit !== TEST_SPLIT &&
    rows.some((r) => r.split === TEST_SPLIT);
  return held ? TEST_SPLIT : run.valSplit;
}

/**
 * Evaluates a run on a split; see the module comment.
 *
 * @throws ConfigError for bad options; InputError for a missing run, model, cache or split.
 */
export async function evaluate(o: EvaluateOptions): Promise<EvaluateResult> {
  const runFolder = openRun(o.run);
  const run = runFolder.dir;
  const config = runFolder.config();
  const tta = (o.tta ?? 'none') as TtaMode;
  if (!TTA_MODES.includes(tta)) {
    throw new ConfigError(`--tta must be one of ${TTA_MODES.join(', ')}, received "${o.tta}"`);
  }
  const bootstrap = o.bootstrap ?? 1000;
  if (!Number.isInteger(bootstrap) || bootstrap < 0) {
    throw new ConfigError(`--bootstrap must be an integer ≥ 0, received ${bootstrap}`);
  }
  if (o.camLayer !== undefined && o.masks === undefined) {
    throw new ConfigError('--cam-layer needs --masks DIR (the pointing game it is for)');
  }
  const masksDir = resolveMasksDir(o.masks);
  const dir = runFolder.model(o.checkpoint ?? 'best').dir;
  const splitRows = readSplitCsv(o.split ?? config.split);
  const splitName = o.splitName ?? defaultEvalSplit(splitRows, config);
  const cache = openCache(o.cache ?? config.cache);
  try {
    const rows = cache.rows();
    const split = resolveSplit(cache, splitRows, {
      train: [],
      val: splitName,
    });
    const n = split.val.length;
    const y = new Float32Array(n * LABEL_COUNT);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = rows[split.val[i]!]!;
      ids.push(r.imageId);
      for (let l = 0; l < LABEL_COUNT; l++) {
        const v = r.labels[l]!;
        if (v !== 0 && v !== 1) {
          throw new InputError(
            `image ${r.imageId} of split "${splitName}" has no ${LABEL_NAMES[l]} label`,
          );
        }
        y[i * LABEL_COUNT + l] = v;
      }
    }
    const p = await predictCache(dir, cache, split.val, {
      workers: o.workers ?? defaultPoolSize(),
      backend: o.backend ?? config.backend,
      tta,
      progress: o.progress !== false,
      reporter: o.reporter,
      signal: o.signal,
      label: `evaluate ${config.arch}`,
    });
    let pointing: CachePointing | null = null;
    if (masksDir !== undefined) {
      await initBackend(o.backend ?? config.backend);
      pointing = await pointingOnCache(dir, cache, split.val, masksDir, {
        ...(o.camLayer !== undefined && { layer: o.camLayer }),
      });
    }
    const metrics = computeMetrics(
      y,
      p,
      n,
      o.threshold === undefined ? {} : { threshold: o.threshold },
    );
    const ci =
      bootstrap > 0 ? bootstrapCi(y, p, n, { samples: bootstrap, seed: o.seed ?? 0 }) : null;
    const out = resolve(o.out ?? runFolder.evalDir);
    mkdirSync(out, { recursive: true });
    const predictions = join(out, 'predictions.csv');
    await writeSubmission(predictions, ids, p);
    const metricsFile = join(out, EVAL_METRICS_FILE);
    await writeFileAtomic(
      metricsFile,
      `${JSON.stringify(
        {
          run,
          model: dir,
          arch: config.arch,
          split: splitName,
          selectedOn: config.valSplit,
          tta,
          images: n,
          metrics,
          bootstrap: ci,
          pointing,
        },
        null,
        2,
      )}\n`,
    );
    const files = [predictions, metricsFile];
    if (pointing !== null) {
      const f = join(out, 'pointing.csv');
      await writeFileAtomic(f, pointingCsv(pointing.rows));
      files.push(f);
    }
    if (o.figures !== false)
      files.push(...(await writeEvalFigures(join(out, 'figures'), config.arch, y, p, n, metrics)));
    return {
      out,
      model: dir,
      split: splitName,
      selectedOn: config.valSplit,
      images: n,
      metrics,
      ci,
      files,
      p,
      y,
      text: formatMetricsTable(metrics, ci),
      pointing,
    };
  } finally {
    cache.close();
  }
}
