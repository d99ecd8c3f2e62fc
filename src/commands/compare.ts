/**
 * `ichdet compare`: the comparative study. Trains every listed architecture on the same cache,
 * split and options (each in `STUDY/runs/<arch>/`, resumable: a finished run is not trained
 * again, an interrupted one continues from its checkpoint), evaluates each with bootstrap
 * intervals — on the held-out `test` split when the split file has one, else on the validation
 * split (checkpoints are always selected on validation, during training) — and writes
 * `STUDY/report.html` (self-contained), `report.md`, `study.json` and the figures; the report
 * and each model in study.json say which split the numbers come from.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openCache } from '../data/cache.js';
import { LABEL_NAMES } from '../data/types.js';
import { ConfigError } from '../errors.js';
import { downsampleCurve, rocCurve } from '../eval/curves.js';
import { labelColumn } from '../eval/metrics.js';
import {
  renderStudyHtml,
  renderStudyMarkdown,
  type Study,
  type StudyModel,
  writeStudyFigures,
} from '../eval/report.js';
import { archSpec } from '../models/index.js';
import { ARCH_NAMES, type ArchName, resolveArch } from '../models/registry.js';
import { openRun } from '../run/run.js';
import { resolveTrainConfig, type TrainOptionsInput } from '../train/config.js';
import { readSplitCsv, resolveSplit } from '../train/split-file.js';
import { type TrainResult, train } from '../train/train.js';
import { writeFileAtomic } from '../util/files.js';
import { defaultPoolSize } from '../util/pool.js';
import { evaluate } from './evaluate.js';
import { seriesStage } from './evaluate-series.js';

export interface CompareOptions extends Omit<TrainOptionsInput, 'arch' | 'out'> {
  /** `all` or a comma-separated list (or array) of registry names. */
  archs: string | string[];
  /** The study folder. */
  out: string;
  /** Models trained at the same time; each gets cores / parallel workers (default 1). */
  parallel?: number;
  /** Bootstrap resamples for the intervals (default 1000). */
  bootstrap?: number;
  /** Raise each model's input size to its architecture's minimum (InceptionV3 75, Xception 71). */
  fitMinSize?: boolean;
  /**
   * Label masks of the images (`<image id>.png`, as `ichdet synth` writes): adds each model's
   * Grad-CAM pointing game on the evaluated images (test, or validation) to the report.
   */
  masks?: string;
  /** Grad-CAM layer for the pointing game (see `camLayer`). */
  camLayer?: string;
  /**
   * Series runs (`ichdet train-series --out`, on `ichdet cv` features of these architectures):
   * the report shows each one's stage 1, smoothed and stage 2 side by side (out of fold).
   */
  series?: string[];
  title?: string;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface CompareResult {
  out: string;
  report: string;
  markdown: string;
  study: Study;
  /** Architectures trained in this call (others were finished already). */
  trained: string[];
}

/**
 * Parses `all` / `a,b,c` into canonical registry names (any spelling `resolveArch` accepts);
 * ConfigError names an unknown one or one listed twice.
 */
export function parseArchs(archs: string | readonly string[]): ArchName[] {
  const list = typeof archs === 'string' ? archs.split(',').map((s) => s.trim()) : [...archs];
  if (list.length === 1 && list[0]?.toLowerCase() === 'all') return [...ARCH_NAMES];
  if (list.length === 0 || list.some((a) => a === '')) {
    throw new ConfigError(
      `--archs must be all or a comma-separated list, received "${String(archs)}"`,
    );
  }
  const names = list.map((a) => resolveArch(a));
  if (new Set(names).size !== names.length)
    throw new ConfigError(`--archs lists an architecture twice: ${list.join(',')}`);
  return names;
}

/** Runs `tasks` with at most `limit` at a time; results in task order. */
async function limited<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * The training options compare gives every architecture's run: the same for a local compare
 * and for `compare --queue` (src/queue), so both train identical runs.
 */
export function comparePlan(
  o: Omit<CompareOptions, 'archs' | 'out'> & { archs?: unknown; out?: string },
  archCount: number,
): {
  workers: number;
  trainOptions: Omit<TrainOptionsInput, 'arch' | 'out'>;
  sizeOf: (arch: string) => number;
} {
  const parallel = o.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1) {
    throw new ConfigError(`--parallel must be a positive integer, received ${parallel}`);
  }
  const cores = defaultPoolSize();
  const workers = o.workers ?? Math.max(1, Math.floor(cores / Math.min(parallel, archCount)));
  const {
    archs: _a,
    out: _o,
    parallel: _p,
    bootstrap: _b,
    fitMinSize,
    masks: _m,
    camLayer: _c,
    series: _s,
    title: _t,
    log: _l,
    progress: _g,
    ...trainOptions
  } = o;
  const sizeOf = (arch: string) => {
    const size = o.size ?? 224;
    return fitMinSize ? Math.max(size, archSpec(arch).minSize) : size;
  };
  return { workers, trainOptions, sizeOf };
}

/** One architecture's training options in a compare (checked: ConfigError when bad). */
export function trainOptionsFor(
  o: Omit<CompareOptions, 'archs' | 'out'> & { archs?: unknown; out?: string },
  archCount: number,
  arch: string,
  runDir: string,
): TrainOptionsInput {
  const { workers, trainOptions, sizeOf } = comparePlan(o, archCount);
  const options = { ...trainOptions, arch, out: runDir, size: sizeOf(arch), workers };
  resolveTrainConfig(options, defaultPoolSize());
  return options;
}

/**
 * Runs the study; see the module comment.
 *
 * @throws ConfigError for bad options (checked for every architecture before any training).
 */
export async function compare(o: CompareOptions): Promise<CompareResult> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const archs = parseArchs(o.archs);
  const out = resolve(o.out);
  const parallel = o.parallel ?? 1;
  const { workers, trainOptions, sizeOf } = comparePlan(o, archs.length);
  const { fitMinSize, progress } = o;
  // Every config is checked before anything is trained.
  for (const arch of archs) trainOptionsFor(o, archs.length, arch, '');
  mkdirSync(join(out, 'runs'), { recursive: true });
  await writeFileAtomic(
    join(out, 'compare.json'),
    `${JSON.stringify({ archs, parallel, workers, options: trainOptions, fitMinSize: fitMinSize ?? false }, null, 2)}\n`,
  );
  const trained: string[] = [];
  const results = await limited(
    archs.map((arch) => async (): Promise<StudyModel> => {
      const runDir = join(out, 'runs', arch);
      let result: TrainResult | undefined;
      const run = openRun(runDir);
      if (run.finished()) {
        log(`${arch}: finished already, not trained again`);
      } else {
        const resume = run.exists();
        result = await train({
          ...trainOptionsFor(o, archs.length, arch, runDir),
          resume,
          ...(progress !== undefined && { progress }),
          log: (s) => log(`${arch}: ${s}`),
        });
        trained.push(arch);
      }
      const ev = await evaluate({
        run: runDir,
        bootstrap: o.bootstrap ?? 1000,
        workers,
        figures: true,
        ...(o.masks !== undefined && { masks: o.masks }),
        ...(o.camLayer !== undefined && { camLayer: o.camLayer }),
        ...(progress !== undefined && { progress }),
      });
      const history = readFileSync(run.metricsFile, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map(
          (l) =>
            JSON.parse(l) as {
              epoch: number;
              trainLoss: number;
              valLoss: number;
              valWeightedLogLoss: number;
              valMeanAuc: number | null;
              seconds: number;
              imagesPerSecond: number;
              best: boolean;
            },
        );
      const spec = archSpec(arch);
      const n = ev.images;
      const roc: StudyModel['roc'] = {};
      const auc: StudyModel['auc'] = {};
      for (const [l, label] of LABEL_NAMES.entries()) {
        const c = rocCurve(labelColumn(ev.y, n, l), labelColumn(ev.p, n, l));
        const d = c ? downsampleCurve(c.fpr, c.tpr, 200) : null;
        roc[label] = d ? { fpr: d.xs, tpr: d.ys } : null;
        auc[label] = ev.metrics.labels[label].auc;
      }
      const any = ev.metrics.labels.any.triage;
      const trainSeconds = history.reduce((s, h) => s + h.seconds, 0);
      const ips =
        history.length > 0
          ? history.reduce((s, h) => s + h.imagesPerSecond, 0) / history.length
          : 0;
      const bestEpoch = [...history].reverse().find((h) => h.best)?.epoch ?? null;
      void result;
      return {
        arch,
        title: spec.title,
        params: run.paramCount('last') ?? spec.paramsNoTop,
        size: sizeOf(arch),
        accuracy: ev.metrics.mean.accuracy.value,
        meanAuc: ev.metrics.mean.auc.value,
        meanAucCi: ev.ci?.auc.mean ?? null,
        auc,
        weightedLogLoss: ev.metrics.weightedLogLoss,
        weightedLogLossCi: ev.ci?.weightedLogLoss ?? null,
        triage:
          any && any.specificity !== null
            ? {
                threshold: any.threshold,
                sensitivity: any.sensitivity,
                specificity: any.specificity,
              }
            : null,
        trainSeconds,
        imagesPerSecond: ips,
        bestEpoch,
        history: history.map((h) => ({
          epoch: h.epoch,
          trainLoss: h.trainLoss,
          valLoss: h.valLoss,
          valWeightedLogLoss: h.valWeightedLogLoss,
          valMeanAuc: h.valMeanAuc,
        })),
        roc,
        pointing: ev.pointing,
        split: ev.split,
        images: ev.images,
      };
    }),
    parallel,
  );
  const study = await describeStudy(o, archs, results);
  if (o.series !== undefined && o.series.length > 0) {
    study.series = [];
    for (const srun of o.series)
      study.series.push(seriesStage(srun, { bootstrap: o.bootstrap ?? 1000 }));
  }
  const { report, markdown } = await writeStudyReport(study, out);
  return { out, report, markdown, study, trained };
}

/**
 * Writes a study's report into `out`: `report.html`, `report.md`, `figures/` (SVG and PNG) and
 * `study.json`; returns the two report paths.
 */
export async function writeStudyReport(
  study: Study,
  out: string,
): Promise<{ report: string; markdown: string }> {
  const report = join(out, 'report.html');
  const markdown = join(out, 'report.md');
  await writeStudyFigures(study, join(out, 'figures'));
  await writeFileAtomic(report, await renderStudyHtml(study));
  await writeFileAtomic(markdown, renderStudyMarkdown(study));
  await writeFileAtomic(join(out, 'study.json'), `${JSON.stringify(study, null, 2)}\n`);
  return { report, markdown };
}

async function describeStudy(
  o: CompareOptions,
  archs: string[],
  models: StudyModel[],
): Promise<Study> {
  const cache = openCache(o.cache);
  try {
    const splitRows = readSplitCsv(o.split);
    const valSplit = o.valSplit ?? 'val';
    const split = resolveSplit(cache, splitRows, {
      train: o.trainSplits ?? ['train'],
      val: valSplit,
    });
    // Every model is evaluated on the same split file with evaluate's default split.
    const evalSplit = models[0]?.split ?? valSplit;
    const evaluated =
      evalSplit === valSplit
        ? split.val
        : resolveSplit(cache, splitRows, { train: [], val: evalSplit }).val;
    const sample = evalSplit === valSplit ? 'validation' : evalSplit;
    const rows = cache.rows();
    const positives: Record<string, number> = {};
    for (const [l, label] of LABEL_NAMES.entries()) {
      let k = 0;
      for (const p of evaluated) if (rows[p]!.labels[l] === 1) k++;
      positives[label] = k;
    }
    return {
      title: o.title ?? `ichdet comparative study: ${archs.length} CNNs`,
      createdAt: new Date().toISOString(),
      dataset: {
        cache: resolve(o.cache),
        split: resolve(o.split),
        trainImages: split.train.length,
        valImages: split.val.length,
        valSplit,
        evalSplit,
        evalImages: evaluated.length,
        positives,
      },
      options: resolveTrainConfig({ ...o, arch: archs[0]!, out: '' }) as unknown as Record<
        string,
        unknown
      >,
      models,
      notes: [
        'Parameters count the trained model (backbone + 6-output head), not the ImageNet top.',
        `Intervals are 95% percentile bootstrap intervals over ${sample} images; overlapping intervals mean the models are not shown to differ.`,
        ...(models.some((m) => m.pointing)
          ? [
              `Grad-CAM pointing game: the share of ${sample} images with a lesion mask whose "any" heatmap (layer ${[...new Set(models.map((m) => m.pointing?.layer ?? 'none'))].join(', ')}) peaks inside the lesion or within 15/224 of the slice's side of it (the pointing game's tolerance of Zhang et al., 15 px at 224 px); chance is the mean fraction of the slice that lesion and band cover. Per-label tallies are in runs/<arch>/eval/pointing.csv.`,
            ]
          : []),
      ],
    };
  } finally {
    cache.close();
  }
}
