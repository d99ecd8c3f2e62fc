/**
 * `ichdet cv`: K-fold cross-validation of one architecture, for the series stage. With a split
 * of folds `fold0` … `fold{K-1}` (`ichdet split --folds K`, grouped by patient) and optionally a
 * `test` split, it trains `CV/runs/fold{k}` on every fold but k and validates it on fold k
 * (resumable fold by fold and within a fold, as `train --resume`), then writes
 *
 *     CV/features/     every image's out-of-fold probabilities and embedding — from the one
 *                      fold model that did not train on it — and the test images' (the mean of
 *                      the K fold models); the format is in series/features.ts
 *     CV/metrics.json  the out-of-fold metrics (the fields of `evaluate`'s metrics.json)
 *     CV/cv.json       the options, so `--resume` continues with the same ones
 *
 * No image's features come from a model that trained on it: before predicting, each fold run's
 * own config.json is checked (its split file, validation split and training splits), and the
 * split file must be the one the cv started with (its SHA-256 is in cv.json).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendChoice } from '../backend/init.js';
import { openCache } from '../data/cache.js';
import type { SplitRow } from '../data/split.js';
import { ConfigError, InputError } from '../errors.js';
import { type BootstrapCi, bootstrapCi } from '../eval/bootstrap.js';
import { computeMetrics, type MetricsReport } from '../eval/metrics.js';
import { formatMetricsTable } from '../eval/table.js';
import { predictCacheWithEmbeddings } from '../infer/predict-cache.js';
import { LABEL_COUNT } from '../labels.js';
import { openRun } from '../run/run.js';
import { compareFeatureRows, type FeatureRow, writeFeatures } from '../series/features.js';
import { resolveTrainConfig, type TrainOptionsInput } from '../train/config.js';
import { readSplitCsv, resolveSplit } from '../train/split-file.js';
import { train } from '../train/train.js';
import { writeFileAtomic } from '../util/files.js';
import { defaultPoolSize } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';

export const CV_CONFIG_FILE = 'cv.json';
export const CV_METRICS_FILE = 'metrics.json';
export const CV_FEATURES_DIR = 'features';
export const CV_RUNS_DIR = 'runs';
export const TEST_SPLIT = 'test';

/** Every `train` option but the splits (cv sets those per fold). */
export interface CvOptions
  extends Partial<Omit<TrainOptionsInput, 'out' | 'trainSplits' | 'valSplit'>> {
  /** The cv folder: runs/fold{k}/, features/, metrics.json, cv.json. */
  out: string;
  /** Continue the cv in `out` with the options of its cv.json (other options are ignored). */
  resume?: boolean;
  /** Bootstrap resamples for the out-of-fold intervals (0: none; default 1000). */
  bootstrap?: number;
  progress?: boolean;
  log?: (line: string) => void;
  reporter?: Reporter;
  /** Stops training (after saving `last/`) or prediction with `Interrupted`; rerun with resume. */
  signal?: AbortSignal;
}

/** CV/cv.json. */
export interface CvConfig {
  format: 'ichdet-cv';
  version: 1;
  cache: string;
  split: string;
  arch: string;
  folds: number;
  /** Whether the split has a `test` split (predicted by every fold model). */
  test: boolean;
  /** SHA-256 of the split file: a split changed after the folds were trained is refused. */
  splitSha256: string;
  bootstrap: number;
  /** The training options every fold shares (splits excluded). */
  options: Omit<CvOptions, 'out' | 'resume' | 'progress' | 'log' | 'reporter' | 'signal'>;
}

export interface CvResult {
  out: string;
  config: CvConfig;
  /** Folds trained (or continued) in this call. */
  trained: number[];
  /** False when training stopped early (maxSteps): nothing predicted yet, resume later. */
  complete: boolean;
  /** The features folder, the metrics file (null unless complete). */
  features: string | null;
  metricsFile: string | null;
  /** Out-of-fold images and test images. */
  oofImages: number;
  testImages: number;
  metrics: MetricsReport | null;
  ci: BootstrapCi | null;
  text: string;
}

const FOLD = /^fold(0|[1-9][0-9]*)$/;

/**
 * The number of folds of a split file: its split names must be fold0 … fold{K-1} (K ≥ 2) and
 * optionally `test`.
 *
 * @throws ConfigError naming the split file and its split names otherwise.
 */
export function splitFolds(file: string, rows: readonly SplitRow[]): number {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.split, (counts.get(r.split) ?? 0) + 1);
  const names = [...counts.keys()].sort();
  const have = names.map((n) => `${n} (${counts.get(n)})`).join(', ') || 'no rows';
  const folds = names.filter((n) => FOLD.test(n));
  const other = names.filter((n) => !FOLD.test(n) && n !== TEST_SPLIT);
  const k = folds.length;
  const contiguous = folds.every((n) => Number(n.slice(4)) < k);
  if (k < 2 || !contiguous || other.length > 0) {
    throw new ConfigError(
      `split file ${file} must have folds fold0 … fold{K-1} (K ≥ 2) and optionally ${TEST_SPLIT}, received ${have}; make one with ichdet split --folds K`,
    );
  }
  return k;
}

/**
 * Fold k's training options, as cv trains it (and `cv --queue`'s fold jobs do): the shared
 * options of cv.json, trained on every other fold, validated on fold k. maxSteps is of one call
 * only (a total, like train's): never taken from cv.json.
 */
export function foldTrainOptions(c: CvConfig, k: number, runDir: string): TrainOptionsInput {
  const { maxSteps: _m, ...shared } = c.options;
  return {
    ...(shared as Omit<TrainOptionsInput, 'out'>),
    out: runDir,
    trainSplits: foldTrainSplits(k, c.folds),
    valSplit: `fold${k}`,
  };
}

/** The training splits of fold k's run: every other fold. */
export function foldTrainSplits(k: number, folds: number): string[] {
  return Array.from({ length: folds }, (_, f) => `fold${f}`).filter((_, f) => f !== k);
}

function readCvConfig(out: string): CvConfig {
  const file = join(out, CV_CONFIG_FILE);
  if (!existsSync(file)) {
    throw new ConfigError(`--resume: ${out} holds no cv (${CV_CONFIG_FILE} is missing)`);
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CvConfig;
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * The cv's config: new (checked) or, with `resume`, its cv.json. Exported for `cv --queue`
 * (src/queue), which plans the folds' jobs from it.
 */
export function openCv(o: CvOptions, out: string): CvConfig {
  if (o.resume) return readCvConfig(out);
  const {
    out: _o,
    resume: _r,
    progress: _p,
    log: _l,
    reporter: _rep,
    signal: _s,
    bootstrap,
    ...options
  } = o;
  const { cache, split, arch } = options;
  for (const [k, v] of Object.entries({ cache, split, arch })) {
    if (v === undefined || v === '') throw new ConfigError(`--${k} is required (unless --resume)`);
  }
  const b = bootstrap ?? 1000;
  if (!Number.isInteger(b) || b < 0) {
    throw new ConfigError(`--bootstrap must be an integer ≥ 0, received ${b}`);
  }
  if (existsSync(join(out, CV_CONFIG_FILE))) {
    throw new ConfigError(
      `${out} already holds a cv; continue it with --resume or choose another --out`,
    );
  }
  const splitFile = resolve(split!);
  const rows = readSplitCsv(splitFile);
  const folds = splitFolds(splitFile, rows);
  // Every fold's config is checked before anything is trained; the registry name of the
  // architecture is the resolved config's.
  let archName = arch!;
  for (let k = 0; k < folds; k++) {
    archName = resolveTrainConfig({
      ...options,
      cache: cache!,
      split: splitFile,
      arch: arch!,
      out: '',
      trainSplits: foldTrainSplits(k, folds),
      valSplit: `fold${k}`,
    }).arch;
  }
  return {
    format: 'ichdet-cv',
    version: 1,
    cache: resolve(cache!),
    split: splitFile,
    arch: archName,
    folds,
    test: rows.some((r) => r.split === TEST_SPLIT),
    splitSha256: sha256File(splitFile),
    bootstrap: b,
    options: { ...options, cache: resolve(cache!), split: splitFile },
  };
}

/**
 * The leakage guard, from the runs' own configs: fold k's run must have been trained on this
 * split file, validated on fold k and trained on splits that exclude fold k (and `test`).
 *
 * @throws ConfigError naming the run and the field otherwise.
 */
export function checkFoldRuns(out: string, c: CvConfig): Record<string, string[]> {
  const trained: Record<string, string[]> = {};
  for (let k = 0; k < c.folds; k++) {
    const run = openRun(join(out, CV_RUNS_DIR, `fold${k}`));
    const rc = run.config();
    const fold = `fold${k}`;
    if (resolve(rc.split) !== c.split) {
      throw new ConfigError(`${run.configFile}: split must be ${c.split}, received ${rc.split}`);
    }
    if (rc.valSplit !== fold) {
      throw new ConfigError(`${run.configFile}: valSplit must be ${fold}, received ${rc.valSplit}`);
    }
    if (rc.trainSplits.includes(fold) || rc.trainSplits.includes(TEST_SPLIT)) {
      throw new ConfigError(
        `${run.configFile}: trainSplits must exclude ${fold} and ${TEST_SPLIT}, received ${rc.trainSplits.join(',')}`,
      );
    }
    trained[String(k)] = [...rc.trainSplits];
  }
  return trained;
}

function sha256File(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch (err) {
    throw new InputError(`cannot read split file ${file}: ${(err as Error).message}`);
  }
}

/** Refuses a split file that changed since the cv started (its folds were trained on the old). */
function checkSplitUnchanged(c: CvConfig): void {
  const now = sha256File(c.split);
  if (now !== c.splitSha256) {
    throw new ConfigError(
      `split file ${c.split} changed since the cv started (sha256 ${now}, cv.json has ${c.splitSha256}); its fold runs were trained on the old one — restore it or start a new cv`,
    );
  }
}

function labelsOf(labels: readonly number[]): (0 | 1 | null)[] {
  return labels.map((v) => (v === 0 || v === 1 ? v : null));
}

/**
 * Runs the cross-validation; see the module comment.
 *
 * @throws ConfigError for bad options or a split without folds (before anything is trained);
 *   InputError for a missing cache, split or run; Interrupted when `signal` stops it.
 */
export async function cv(o: CvOptions): Promise<CvResult> {
  const out = resolve(o.out);
  const c = openCv(o, out);
  checkSplitUnchanged(c);
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  mkdirSync(join(out, CV_RUNS_DIR), { recursive: true });
  if (!o.resume) {
    await writeFileAtomic(join(out, CV_CONFIG_FILE), `${JSON.stringify(c, null, 2)}\n`);
  }
  const trained: number[] = [];
  const base = {
    ...(o.progress !== undefined && { progress: o.progress }),
    ...(o.reporter !== undefined && { reporter: o.reporter }),
    ...(o.signal !== undefined && { signal: o.signal }),
  };
  const empty: CvResult = {
    out,
    config: c,
    trained,
    complete: false,
    features: null,
    metricsFile: null,
    oofImages: 0,
    testImages: 0,
    metrics: null,
    ci: null,
    text: '',
  };
  for (let k = 0; k < c.folds; k++) {
    const runDir = join(out, CV_RUNS_DIR, `fold${k}`);
    const run = openRun(runDir);
    if (run.finished()) {
      log(`fold${k}: finished already, not trained again`);
      continue;
    }
    const r = await train({
      ...foldTrainOptions(c, k, runDir),
      ...(o.maxSteps !== undefined && { maxSteps: o.maxSteps }),
      resume: run.exists(),
      ...base,
      log: (s) => log(`fold${k}: ${s}`),
    });
    trained.push(k);
    if (!r.complete) {
      log(`fold${k}: stopped before its last epoch; continue with --resume`);
      return empty;
    }
  }
  const foldsTrained = checkFoldRuns(out, c);
  return { ...(await predictFolds(out, c, foldsTrained, base)), trained };
}

async function predictFolds(
  out: string,
  c: CvConfig,
  foldsTrained: Record<string, string[]>,
  base: { progress?: boolean; reporter?: Reporter; signal?: AbortSignal },
): Promise<CvResult> {
  const cache = openCache(c.cache);
  try {
    const rows = cache.rows();
    const splitRows = readSplitCsv(c.split);
    const predictOptions = {
      workers: c.options.workers ?? defaultPoolSize(),
      ...(c.options.backend !== undefined && { backend: c.options.backend as BackendChoice }),
      ...base,
    };
    const runs = Array.from({ length: c.folds }, (_, k) => `${CV_RUNS_DIR}/fold${k}`);
    const parts: { rows: FeatureRow[]; p: Float32Array; e: Float32Array }[] = [];
    let dim = -1;
    const take = (got: { dim: number }) => {
      if (dim >= 0 && got.dim !== dim) {
        throw new ConfigError(`fold models give embeddings of ${dim} and ${got.dim} values`);
      }
      dim = got.dim;
    };
    const featureRows = (positions: Int32Array, fold: number | null): FeatureRow[] =>
      Array.from(positions, (pos) => {
        const r = rows[pos]!;
        return {
          imageId: r.imageId,
          patientId: r.patientId,
          studyUid: r.studyInstanceUid,
          seriesUid: r.seriesInstanceUid,
          z: Number.isFinite(r.z) ? r.z : null,
          sliceIndex: r.sliceIndex,
          fold,
          part: fold === null ? 'test' : 'oof',
          labels: labelsOf(r.labels),
        };
      });
    for (let k = 0; k < c.folds; k++) {
      const positions = resolveSplit(cache, splitRows, { train: [], val: `fold${k}` }).val;
      const model = openRun(join(out, runs[k]!)).model('best').dir;
      const got = await predictCacheWithEmbeddings(model, cache, positions, {
        ...predictOptions,
        label: `cv fold${k}`,
      });
      take(got);
      parts.push({ rows: featureRows(positions, k), p: got.p, e: got.e });
    }
    let testImages = 0;
    if (c.test) {
      const positions = resolveSplit(cache, splitRows, { train: [], val: TEST_SPLIT }).val;
      testImages = positions.length;
      const p = new Float32Array(positions.length * LABEL_COUNT);
      let e = new Float32Array(0);
      for (let k = 0; k < c.folds; k++) {
        const model = openRun(join(out, runs[k]!)).model('best').dir;
        const got = await predictCacheWithEmbeddings(model, cache, positions, {
          ...predictOptions,
          label: `cv test fold${k}`,
        });
        take(got);
        if (e.length !== got.e.length) e = new Float32Array(got.e.length);
        for (let i = 0; i < p.length; i++) p[i] = p[i]! + got.p[i]! / c.folds;
        for (let i = 0; i < e.length; i++) e[i] = e[i]! + got.e[i]! / c.folds;
      }
      parts.push({ rows: featureRows(positions, null), p, e });
    }
    // One matrix in the documented row order.
    const all = parts.flatMap((part) =>
      part.rows.map((row, i) => ({ row, p: part.p, e: part.e, i })),
    );
    all.sort((a, b) => compareFeatureRows(a.row, b.row));
    const n = all.length;
    const probs = new Float32Array(n * LABEL_COUNT);
    const embeddings = new Float32Array(n * dim);
    for (const [j, a] of all.entries()) {
      probs.set(a.p.subarray(a.i * LABEL_COUNT, (a.i + 1) * LABEL_COUNT), j * LABEL_COUNT);
      embeddings.set(a.e.subarray(a.i * dim, (a.i + 1) * dim), j * dim);
    }
    const featureList = all.map((a) => a.row);
    const features = await writeFeatures(join(out, CV_FEATURES_DIR), {
      arch: c.arch,
      folds: c.folds,
      dim,
      runs,
      foldsTrained,
      rows: featureList,
      probs,
      embeddings,
    });
    // Out-of-fold metrics: every oof row is labelled (training validated on it).
    const oof = featureList.filter((r) => r.part === 'oof').length;
    const y = new Float32Array(oof * LABEL_COUNT);
    for (let i = 0; i < oof; i++) {
      const labels = featureList[i]!.labels;
      for (let l = 0; l < LABEL_COUNT; l++) y[i * LABEL_COUNT + l] = labels[l] ?? Number.NaN;
    }
    const p = probs.subarray(0, oof * LABEL_COUNT);
    const metrics = computeMetrics(y, p, oof);
    const ci = c.bootstrap > 0 ? bootstrapCi(y, p, oof, { samples: c.bootstrap, seed: 0 }) : null;
    const metricsFile = join(out, CV_METRICS_FILE);
    await writeFileAtomic(
      metricsFile,
      `${JSON.stringify(
        {
          cv: out,
          models: runs.map((r) => join(out, r, 'best')),
          arch: c.arch,
          split: c.split,
          folds: c.folds,
          tta: 'none',
          images: oof,
          testImages,
          metrics,
          bootstrap: ci,
        },
        null,
        2,
      )}\n`,
    );
    return {
      out,
      config: c,
      trained: [],
      complete: true,
      features,
      metricsFile,
      oofImages: oof,
      testImages,
      metrics,
      ci,
      text: formatMetricsTable(metrics, ci),
    };
  } finally {
    cache.close();
  }
}
