/**
 * Stage 2 inside `predict`: the series model(s) of a `train-series` run as the predict pipeline's
 * aggregator (infer/predict.ts step 4). Each series' stage-1 probabilities, in slice order along
 * the normal, with Δz from the slice positions, go through every fold model of SRUN (forward and
 * reversed, as in `predictSeries`); the fold models' outputs are averaged — the same as the test
 * part of `train-series`. The per-slice probabilities become stage 2's, the series' `any` score
 * the learned study output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import type { OnnxLoadOptions } from '../infer/onnx-runtime.js';
import type { Aggregator, SeriesDecision, SlicePrediction } from '../infer/predict.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { MODEL_JSON } from '../run/layout.js';
import type { ThresholdChoice } from '../run/run.js';
import { FOLD_NORM_FILE, type FoldNorm, foldOfModel, mapFoldProbs } from './fold-norm.js';
import { SeriesModel } from './model.js';
import {
  loadSeriesOnnx,
  predictSeriesOnnx,
  SERIES_ONNX_FILE,
  type SeriesOnnxModel,
} from './onnx.js';
import { type FeatureSet, stepsOf } from './read-features.js';
import { foldDir, predictSeries } from './train.js';

export interface SeriesAggregator extends Aggregator {
  /** The fold models' folders. */
  readonly models: string[];
  /**
   * For a `--fold-norm` run: the stage-1 fold whose statistics map the stage-1 probabilities
   * before stage 2 (the stage-1 model is that fold's run), else null (passed unchanged).
   */
  readonly inputFold: number | null;
  /** Frees the models' weights. */
  dispose(): void;
}

/** The fold model folders of a `train-series` run (`SRUN/fold0`, …); InputError when none. */
export function seriesModelDirs(srun: string): string[] {
  const dirs: string[] = [];
  for (let k = 0; existsSync(join(srun, foldDir(k), MODEL_JSON)); k++) {
    dirs.push(join(srun, foldDir(k)));
  }
  if (dirs.length === 0) {
    throw new InputError(
      `${srun} holds no series model (${join(srun, foldDir(0), MODEL_JSON)} is missing); make one with ichdet train-series`,
    );
  }
  return dirs;
}

/** Where the series run was trained with `--fold-norm` and `stage1` is one of its fold models. */
interface InputMap {
  norm: FoldNorm;
  fold: number;
}

/** The input mapping of `srun` for the stage-1 model `stage1` (null: probabilities unchanged). */
export function seriesInputMap(srun: string, stage1: string | undefined): InputMap | null {
  const file = join(resolve(srun), FOLD_NORM_FILE);
  if (stage1 === undefined || !existsSync(file)) return null;
  let norm: FoldNorm;
  try {
    norm = JSON.parse(readFileSync(file, 'utf8')) as FoldNorm;
  } catch (e) {
    throw new InputError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof norm.pooled !== 'object' || typeof norm.folds !== 'object') {
    throw new InputError(`${file}: must hold pooled and folds, received ${JSON.stringify(norm)}`);
  }
  const fold = foldOfModel(norm, stage1);
  return fold === null ? null : { norm, fold };
}

/** An in-memory features set of one series' stage-1 probabilities (no embeddings, no labels). */
function seriesSet(slices: readonly SlicePrediction[], map: InputMap | null): FeatureSet {
  const n = slices.length;
  let probs: Float32Array = new Float32Array(n * LABEL_COUNT);
  for (const [i, s] of slices.entries()) probs.set(s.p, i * LABEL_COUNT);
  if (map !== null) probs = mapFoldProbs(map.norm, map.fold, probs);
  const z = slices.map((s) => s.position);
  const first = slices[0]!;
  return {
    dir: '<predict>',
    meta: {
      format: 'ichdet-features',
      version: 1,
      arch: '',
      folds: 0,
      n,
      dim: 0,
      labels: [...LABEL_NAMES],
      runs: [],
      folds_trained: {},
    },
    n,
    dim: 0,
    imageIds: slices.map((s) => s.imageId),
    probs,
    embeddings: new Float32Array(0),
    labels: new Float32Array(n * LABEL_COUNT).fill(Number.NaN),
    series: [
      {
        seriesUid: first.seriesUid,
        studyUid: first.studyUid,
        patientId: first.patientId,
        fold: null,
        part: 'test',
        rows: slices.map((_, i) => i),
        z,
        dz: stepsOf(z),
      },
    ],
  };
}

/**
 * The aggregator of the series models in `srun`. `stage1` is the stage-1 model folder predict
 * runs: for a `--fold-norm` run whose fold models include it, its probabilities are mapped with
 * that fold's statistics first (`SRUN/fold-norm.json`).
 *
 * @throws InputError when SRUN has no model or a malformed fold-norm.json; ConfigError when a
 *   model needs embeddings (stage 1 in predict gives probabilities only).
 */
export function loadSeriesAggregator(srun: string, o: { stage1?: string } = {}): SeriesAggregator {
  const map = seriesInputMap(srun, o.stage1);
  const dirs = seriesModelDirs(resolve(srun));
  const models = dirs.map((d) => SeriesModel.load(d));
  const dispose = () => {
    for (const m of models) m.dispose();
  };
  if (models.some((m) => m.config.embedding > 0)) {
    dispose();
    throw new ConfigError(
      `the series model in ${srun} reads CNN embeddings, which predict does not compute; train it without --embeddings`,
    );
  }
  return {
    name: 'series-model',
    models: dirs,
    inputFold: map?.fold ?? null,
    series(slices: readonly SlicePrediction[]): SeriesDecision {
      const set = seriesSet(slices, map);
      const p = new Float32Array(slices.length * LABEL_COUNT);
      let any = 0;
      for (const m of models) {
        const r = predictSeries(m, set, set.series);
        const q = r.slices[0]!;
        for (let k = 0; k < p.length; k++) p[k] = p[k]! + q[k]! / models.length;
        any += r.study[0]! / models.length;
      }
      return { p, any };
    },
    dispose,
  };
}

/**
 * The flag threshold of stage 2: `explicit` when given, else the study triage threshold
 * (sensitivity ≥ 0.95) of SRUN/metrics.json, else 0.5.
 */
export function seriesThreshold(srun: string, explicit?: number): ThresholdChoice {
  if (explicit !== undefined) return { value: explicit, source: 'option' };
  const file = join(resolve(srun), 'metrics.json');
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as {
      study?: { stage2?: { triage?: { threshold?: number } | null } };
    };
    const t = m.study?.stage2?.triage?.threshold;
    if (typeof t === 'number' && Number.isFinite(t)) return { value: t, source: file };
  } catch {
    // No metrics (a run still training): the default.
  }
  return { value: 0.5, source: 'default' };
}

/**
 * The aggregator of a series run's fold models in ONNX Runtime (`SRUN/fold<k>/model.onnx`,
 * written by `ichdet export-onnx SRUN`): the same decisions as `loadSeriesAggregator`, within the
 * export's parity tolerance.
 *
 * @throws InputError when SRUN has no model or a fold has no model.onnx (naming the command
 *   that writes it); ConfigError when a model needs embeddings.
 */
export async function loadSeriesOnnxAggregator(
  srun: string,
  o: OnnxLoadOptions & { stage1?: string } = {},
): Promise<SeriesAggregator> {
  const map = seriesInputMap(srun, o.stage1);
  const dirs = seriesModelDirs(resolve(srun));
  for (const d of dirs) {
    if (!existsSync(join(d, SERIES_ONNX_FILE))) {
      throw new InputError(
        `${join(d, SERIES_ONNX_FILE)} is missing: --runtime onnx runs the series models from ONNX files; write them with ichdet export-onnx ${srun}`,
      );
    }
  }
  const models: SeriesOnnxModel[] = [];
  try {
    const { stage1: _stage1, ...onnx } = o;
    for (const d of dirs) models.push(await loadSeriesOnnx(join(d, SERIES_ONNX_FILE), onnx));
  } catch (e) {
    for (const m of models) await m.dispose();
    throw e;
  }
  if (models.some((m) => m.embeddings)) {
    for (const m of models) await m.dispose();
    throw new ConfigError(
      `the series model in ${srun} reads CNN embeddings, which predict does not compute; train it without --embeddings`,
    );
  }
  return {
    name: 'series-model-onnx',
    models: dirs,
    inputFold: map?.fold ?? null,
    async series(slices: readonly SlicePrediction[]): Promise<SeriesDecision> {
      const set = seriesSet(slices, map);
      const p = new Float32Array(slices.length * LABEL_COUNT);
      let any = 0;
      for (const m of models) {
        const r = await predictSeriesOnnx(m, set, set.series);
        const q = r.slices[0]!;
        for (let k = 0; k < p.length; k++) p[k] = p[k]! + q[k]! / models.length;
        any += r.study[0]! / models.length;
      }
      return { p, any };
    },
    dispose() {
      for (const m of models) void m.dispose();
    },
  };
}
