/**
 * `ichdet evaluate --run SRUN` for a series run (`ichdet train-series --out SRUN`): stage 1,
 * stage 1 smoothed along z, and stage 2 side by side on the same out-of-fold images, per label
 * and per study. Writes into OUT (default SRUN/eval):
 * - `metrics.json`: the three image-level blocks and the study block, with bootstrap intervals;
 * - `stages.csv`: every number of the table, one metric per line;
 * - `predictions.csv`: per out-of-fold image, stage 2's six probabilities then stage 1's;
 * - `report.md`: what stage 2 gained, the table, the figure;
 * - `figures/stages.svg` and `.png`: ROC AUC per label, the mean and the study's, per stage.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { writeFigure } from '../eval/report-figures.js';
import { escapeMarkdown, seriesStageMarkdown } from '../eval/report-markdown.js';
import { stagesCsv, stagesFigure } from '../eval/stages.js';
import type { SeriesStage } from '../eval/stages-types.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { EVAL_METRICS_FILE } from '../run/layout.js';
import { evaluateSeriesRun, type SeriesEvaluation } from '../series/evaluate.js';
import { writeFileAtomic } from '../util/files.js';
import { seriesTable } from './train-series.js';

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface EvaluateSeriesOptions {
  /** The series run folder (`ichdet train-series --out`). */
  run: string;
  /** Bootstrap resamples for the 95% intervals (≥ 1; default 1000). */
  bootstrap?: number;
  seed?: number;
  /** Output folder; default SRUN/eval. */
  out?: string;
  /** Write the figure (default true). */
  figures?: boolean;
  /** The name the report gives the run; default the stage-1 architecture of its features. */
  name?: string;
}

export interface EvaluateSeriesResult {
  out: string;
  /** The run as the reports take it (`compare --series`). */
  stage: SeriesStage;
  files: string[];
  /** The table the CLI prints. */
  text: string;
}

function stageOf(run: string, e: SeriesEvaluation, name?: string): SeriesStage {
  return { name: name ?? (e.arch === '' ? run : e.arch), run, metrics: e.metrics };
}

/**
 * A series run scored on its out-of-fold images, as a report shows it (`compare --series`,
 * `demo`); writes nothing.
 */
export function seriesStage(
  run: string,
  o: { bootstrap: number; seed?: number; name?: string },
): SeriesStage {
  const abs = resolve(run);
  return stageOf(
    abs,
    evaluateSeriesRun(abs, { bootstrap: o.bootstrap, seed: o.seed ?? 0 }),
    o.name,
  );
}

/**
 * Scores a finished series run again (with the bootstrap asked for) and writes its side-by-side
 * report.
 *
 * @throws ConfigError for a bad option; InputError when the run or its features are missing.
 */
export async function evaluateSeries(o: EvaluateSeriesOptions): Promise<EvaluateSeriesResult> {
  const bootstrap = o.bootstrap ?? 1000;
  if (!Number.isInteger(bootstrap) || bootstrap < 1) {
    throw new ConfigError(
      `--bootstrap must be a positive integer for a series run (its blocks always carry intervals), received ${bootstrap}`,
    );
  }
  const run = resolve(o.run);
  const e = evaluateSeriesRun(run, { bootstrap, seed: o.seed ?? 0 });
  const stage = stageOf(run, e, o.name);
  const name = stage.name;
  const out = resolve(o.out ?? join(run, 'eval'));
  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  const metricsFile = join(out, EVAL_METRICS_FILE);
  await writeFileAtomic(
    metricsFile,
    `${JSON.stringify({ run, features: e.features, name, bootstrap, seed: o.seed ?? 0, ...e.metrics }, null, 2)}\n`,
  );
  files.push(metricsFile);
  const csv = join(out, 'stages.csv');
  await writeFileAtomic(csv, stagesCsv([stage]));
  files.push(csv);
  // Stage 2's (and stage 1's) probabilities of the evaluated rows, one line per image.
  const head = [
    'image_id',
    'series_uid',
    'study_uid',
    'fold',
    'slice',
    ...LABEL_NAMES,
    ...LABEL_NAMES.map((l) => `stage1_${l}`),
  ];
  const lines = [head.join(',')];
  for (const s of e.set.series) {
    if (s.part !== 'oof' || !e.metrics.folds.includes(s.fold!)) continue;
    for (const [i, r] of s.rows.entries()) {
      const p2 = Array.from(e.probs.subarray(r * LABEL_COUNT, (r + 1) * LABEL_COUNT));
      if (!p2.every(Number.isFinite)) continue;
      const p1 = Array.from(e.set.probs.subarray(r * LABEL_COUNT, (r + 1) * LABEL_COUNT));
      lines.push(
        [e.set.imageIds[r]!, s.seriesUid, s.studyUid, s.fold, i, ...p2, ...p1]
          .map((v) => csvField(String(v)))
          .join(','),
      );
    }
  }
  const predictions = join(out, 'predictions.csv');
  await writeFileAtomic(predictions, `${lines.join('\n')}\n`);
  files.push(predictions);
  const md = [`# Series stage: ${escapeMarkdown(name)}`, '', ...seriesStageMarkdown([stage])];
  if (o.figures !== false) {
    const dir = join(out, 'figures');
    mkdirSync(dir, { recursive: true });
    files.push(...(await writeFigure(dir, 'stages', stagesFigure([stage]), 2)));
    md.push('![Stage 1, smoothed and stage 2: ROC AUC (95% CI)](figures/stages.svg)', '');
  }
  const report = join(out, 'report.md');
  await writeFileAtomic(report, md.join('\n'));
  files.push(report);
  const text = seriesTable({ metrics: e.metrics });
  return { out, stage, files, text };
}

export { isSeriesRun } from '../series/evaluate.js';
