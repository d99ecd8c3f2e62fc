/**
 * A finished `train-series` run read back and scored again: its stage-2 probabilities
 * (`SRUN/probs.npy`), its series' learned study outputs (`SRUN/series.csv`) and the features
 * folder it was trained on give the same three blocks and study block as `SRUN/metrics.json`,
 * with the bootstrap resamples and seed the caller asks for.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { decodeNpy } from '../io/npy.js';
import { LABEL_COUNT } from '../labels.js';
import { CONFIG_FILE } from '../run/layout.js';
import { type FeatureSet, loadFeatureSeries } from './read-features.js';
import {
  FOLD_SERIES,
  foldDir,
  SERIES_CSV,
  SERIES_PROBS_FILE,
  type SeriesMetrics,
  seriesMetrics,
  type TrainSeriesConfig,
} from './train.js';

/** The saved config of a series run, or null when `dir` holds none (or a CNN run's). */
export function readSeriesConfig(dir: string): TrainSeriesConfig | null {
  const file = join(dir, CONFIG_FILE);
  if (!existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null) return null;
  const c = v as Record<string, unknown>;
  if (typeof c.features !== 'string' || 'arch' in c) return null;
  return c as unknown as TrainSeriesConfig;
}

/** Whether `dir` is a `train-series` run folder (its config.json names a features folder). */
export function isSeriesRun(dir: string): boolean {
  return readSeriesConfig(dir) !== null;
}

/**
 * The features folder a series run was trained on: the saved path (absolute since this version),
 * else relative to the working directory, else beside the run folder.
 */
export function seriesFeaturesDir(srun: string, c: TrainSeriesConfig): string {
  const tries = isAbsolute(c.features)
    ? [c.features]
    : [resolve(c.features), resolve(dirname(resolve(srun)), c.features)];
  for (const t of tries) if (existsSync(t)) return t;
  throw new InputError(
    `${join(srun, CONFIG_FILE)}: its features folder ${c.features} is not found (looked in ${tries.join(', ')})`,
  );
}

export interface SeriesEvaluation {
  /** The features folder's stage-1 architecture (`features.json`), or '' when it names none. */
  arch: string;
  features: string;
  set: FeatureSet;
  /** Stage-2 probabilities, n × 6 (NaN for rows no fold model predicted). */
  probs: Float32Array;
  metrics: SeriesMetrics;
}

/** `series.csv`: each series' learned study output. */
function readSeriesStudy(srun: string): Map<string, number> {
  const file = join(srun, SERIES_CSV);
  if (!existsSync(file)) {
    throw new InputError(
      `${file} is missing: the series run is not finished (run train-series again)`,
    );
  }
  const lines = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
  const head = lines[0]?.split(',') ?? [];
  const uid = head.indexOf('series_uid');
  const any = head.indexOf('study_any');
  if (uid < 0 || any < 0) {
    throw new InputError(
      `${file}: header must have series_uid and study_any, received ${lines[0]}`,
    );
  }
  const out = new Map<string, number>();
  for (const [i, line] of lines.slice(1).entries()) {
    const f = line.split(',');
    const p = Number(f[any]);
    if (!Number.isFinite(p)) {
      throw new InputError(
        `${file}: line ${i + 2}: study_any must be a number, received "${f[any]}"`,
      );
    }
    out.set(f[uid]!, p);
  }
  return out;
}

/**
 * Scores a finished series run on the out-of-fold images of its trained folds.
 *
 * @throws InputError when the run, its predictions or its features folder are missing or do
 *   not match (row counts).
 */
export function evaluateSeriesRun(
  srun: string,
  o: { bootstrap: number; seed: number },
): SeriesEvaluation {
  const c = readSeriesConfig(srun);
  if (c === null) {
    throw new InputError(
      `${srun} is not a train-series run (${join(srun, CONFIG_FILE)} names no features folder)`,
    );
  }
  const features = seriesFeaturesDir(srun, c);
  const set = loadFeatureSeries(features);
  const probsFile = join(srun, SERIES_PROBS_FILE);
  if (!existsSync(probsFile)) {
    throw new InputError(
      `${probsFile} is missing: the series run is not finished (run train-series again)`,
    );
  }
  const npy = decodeNpy(readFileSync(probsFile), probsFile);
  const [rows, cols] = npy.shape;
  if (rows !== set.n || cols !== LABEL_COUNT) {
    throw new InputError(
      `${probsFile}: shape [${npy.shape.join(', ')}] does not match the ${set.n} rows of ${features}`,
    );
  }
  const probs = Float32Array.from(npy.data as ArrayLike<number>);
  const folds = [...new Set(set.series.filter((s) => s.part === 'oof').map((s) => s.fold!))]
    .filter((k) => existsSync(join(srun, foldDir(k), FOLD_SERIES)))
    .sort((a, b) => a - b);
  if (folds.length === 0) {
    throw new InputError(
      `${srun}: no trained fold (${join(srun, foldDir(0), FOLD_SERIES)} is missing)`,
    );
  }
  const metrics = seriesMetrics(set, probs, readSeriesStudy(srun), folds, o);
  return { arch: set.meta.arch, features, set, probs, metrics };
}
