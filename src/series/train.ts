/**
 * Training the stage-2 series model out of fold (`ichdet train-series --features CV --out SRUN`):
 * for each fold k of the features folder, a series model is trained on the oof series whose
 * fold ≠ k and predicts fold k's series (and the test series, averaged over the folds), so the
 * stage-2 metrics are out of fold like stage 1's. Training draws one random window of `window`
 * slices per series per epoch (every other slice with probability ½ for series longer than the
 * window, reversed with probability ½; Δz recomputed for the window), weighted BCE (any ×2, / 7)
 * over the real labelled slices plus the study BCE of the window's `any`, Adam with step decay
 * (the rate halves every third of the epochs). Seeded; each finished fold is saved atomically as
 * `SRUN/fold<k>/` (model, its predictions), so a stopped run resumes at the next fold.
 *
 *     SRUN/config.json        the resolved options
 *     SRUN/fold-norm.json     with --fold-norm: the fold models' logit statistics (fold-norm.ts)
 *     SRUN/fold<k>/           model.json + weights.bin, predictions.npy [m, 6], rows.npy [m],
 *                             series.json (the study output of each predicted series)
 *     SRUN/probs.npy          stage-2 probabilities [n, 6] (NaN for rows no fold predicted)
 *     SRUN/series.csv         series_uid,study_uid,part,fold,study_any
 *     SRUN/metrics.json       stage1, smoothed, stage2 and study blocks
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, initBackend } from '../backend/init.js';
import { ConfigError, checkAborted, InputError } from '../errors.js';
import type { SeriesStageMetrics } from '../eval/stages-types.js';
import { RSNA_LABEL_WEIGHTS } from '../eval/weights.js';
import { decodeNpy, encodeNpy } from '../io/npy.js';
import { ANY_INDEX, LABEL_COUNT } from '../labels.js';
import { writeFolder } from '../run/folder.js';
import { CONFIG_FILE, EVAL_METRICS_FILE } from '../run/layout.js';
import { defaultPoolSize, WorkerPool } from '../util/pool.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { Rng } from '../util/rng.js';
import { applyFoldNorm, FOLD_NORM_FILE, fitFoldNorm } from './fold-norm.js';
import { metricBlock, smoothAlongZ, studyOutput } from './metrics.js';
import { SeriesModel, SLICE_INPUTS } from './model.js';
import { type FeatureSeries, type FeatureSet, loadFeatureSeries } from './read-features.js';
import { probabilityInputs } from './slice-inputs.js';

export const SERIES_PROBS_FILE = 'probs.npy';
export const SERIES_CSV = 'series.csv';
export const FOLD_PREDICTIONS = 'predictions.npy';
export const FOLD_ROWS = 'rows.npy';
export const FOLD_SERIES = 'series.json';
export const foldDir = (k: number) => `fold${k}`;

export interface TrainSeriesConfig {
  features: string;
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  window: number;
  c1: number;
  c2: number;
  gru: number;
  embeddings: boolean;
  /**
   * Map each stage-1 fold model's out-of-fold logits onto the pooled scale, per label, before
   * the series model sees them (series/fold-norm.ts); the metrics' stage-1 and smoothed blocks
   * stay on the raw probabilities.
   */
  foldNorm: boolean;
  dropout: number;
  studyWeight: number;
  seed: number;
  bootstrap: number;
  /** Folds to train (default: all of features.json's). */
  folds: number[] | null;
  backend: BackendChoice;
  /**
   * Folds trained at once, each in its own worker thread with its own single-threaded tfjs
   * (default: the cores, capped at the folds left); 1 trains them one after the other on this
   * thread. The results do not depend on it.
   */
  workers: number;
}

export interface TrainSeriesOptions extends Partial<Omit<TrainSeriesConfig, 'features' | 'out'>> {
  features: string;
  out: string;
  reporter?: Reporter;
  progress?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** `SRUN/metrics.json`: the stage-1, smoothed and stage-2 blocks and the study block. */
export type SeriesMetrics = SeriesStageMetrics;

export interface TrainSeriesResult {
  out: string;
  config: TrainSeriesConfig;
  metrics: SeriesMetrics;
  /** Folds trained now (the others were loaded from SRUN). */
  trained: number[];
  seconds: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new ConfigError(`${name} must be a positive integer, received ${v}`);
  }
  return v;
}

/** Fills in defaults and checks every option. @throws ConfigError naming the option. */
export function resolveTrainSeriesConfig(o: TrainSeriesOptions): TrainSeriesConfig {
  const c: TrainSeriesConfig = {
    // Absolute, so `evaluate --run SRUN` finds the features from any working directory.
    features: resolve(o.features),
    out: o.out,
    epochs: positiveInt('--epochs', o.epochs ?? 40),
    batch: positiveInt('--batch', o.batch ?? 16),
    lr: o.lr ?? 3e-4,
    window: positiveInt('--window', o.window ?? 24),
    c1: positiveInt('--c1', o.c1 ?? 64),
    c2: positiveInt('--c2', o.c2 ?? 32),
    gru: positiveInt('--gru', o.gru ?? 32),
    embeddings: o.embeddings ?? false,
    foldNorm: o.foldNorm ?? false,
    dropout: o.dropout ?? 0.5,
    studyWeight: o.studyWeight ?? 1,
    seed: o.seed ?? 0,
    bootstrap: positiveInt('--bootstrap', o.bootstrap ?? 1000),
    folds: o.folds ?? null,
    backend: o.backend ?? 'auto',
    workers: positiveInt('--workers', o.workers ?? defaultPoolSize()),
  };
  if (!(c.lr > 0)) throw new ConfigError(`--lr must be > 0, received ${c.lr}`);
  if (!(c.studyWeight >= 0)) {
    throw new ConfigError(`--study-weight must be ≥ 0, received ${c.studyWeight}`);
  }
  if (!Number.isInteger(c.seed) || c.seed < 0) {
    throw new ConfigError(`--seed must be an integer ≥ 0, received ${c.seed}`);
  }
  return c;
}

/** One series ready for the model: per-slice inputs, cumulative position, labels. */
interface Prepared {
  s: FeatureSeries;
  /** [L, SLICE_INPUTS] without Δz (filled per window). */
  x: Float32Array;
  /** Position along the normal, cumulative Δz from the first slice. */
  pos: Float64Array;
}

function prepare(set: FeatureSet, s: FeatureSeries): Prepared {
  const L = s.rows.length;
  const x = new Float32Array(L * SLICE_INPUTS);
  const pos = new Float64Array(L);
  for (let i = 0; i < L; i++) {
    const r = s.rows[i]!;
    probabilityInputs(set.probs, r * LABEL_COUNT, x, i * SLICE_INPUTS);
    if (i > 0) pos[i] = pos[i - 1]! + s.dz[i - 1]!;
  }
  return { s, x, pos };
}

/** A window's slice positions in the series: every other slice and/or reversed at random. */
export function sampleWindow(length: number, window: number, rng: Rng): number[] {
  let idx = Array.from({ length }, (_, i) => i);
  if (length > window && rng.chance(0.5)) {
    const start = rng.int(0, 1);
    idx = idx.filter((i) => i % 2 === start);
  }
  if (idx.length > window) {
    const a = rng.int(0, idx.length - window);
    idx = idx.slice(a, a + window);
  }
  if (rng.chance(0.5)) idx.reverse();
  return idx;
}

interface Batch {
  x: Float32Array;
  emb: Float32Array | null;
  mask: Float32Array;
  y: Float32Array;
  /** Per (b, t, l): the loss weight (mask × label present × w_l / 7). */
  w: Float32Array;
  yStudy: Float32Array;
  wStudy: Float32Array;
  b: number;
  t: number;
}

/** Pads the windows to the longest, with mask, labels (NaN → weight 0) and Δz of each window. */
function assemble(
  set: FeatureSet,
  items: { p: Prepared; idx: number[] }[],
  useEmb: boolean,
): Batch {
  const b = items.length;
  const t = Math.max(...items.map((it) => it.idx.length));
  const d = set.dim;
  const x = new Float32Array(b * t * SLICE_INPUTS);
  const emb = useEmb ? new Float32Array(b * t * d) : null;
  const mask = new Float32Array(b * t);
  const y = new Float32Array(b * t * LABEL_COUNT);
  const w = new Float32Array(b * t * LABEL_COUNT);
  const yStudy = new Float32Array(b);
  const wStudy = new Float32Array(b);
  for (const [bi, { p, idx }] of items.entries()) {
    let anyKnown = false;
    for (const [ti, si] of idx.entries()) {
      const o = bi * t + ti;
      const r = p.s.rows[si]!;
      x.set(p.x.subarray(si * SLICE_INPUTS, si * SLICE_INPUTS + 2 * LABEL_COUNT), o * SLICE_INPUTS);
      const next = idx[ti + 1];
      x[o * SLICE_INPUTS + 2 * LABEL_COUNT] =
        next === undefined ? 0 : Math.abs(p.pos[next]! - p.pos[si]!) / 5;
      if (emb !== null) emb.set(set.embeddings.subarray(r * d, (r + 1) * d), o * d);
      mask[o] = 1;
      for (let l = 0; l < LABEL_COUNT; l++) {
        const v = set.labels[r * LABEL_COUNT + l]!;
        if (Number.isNaN(v)) continue;
        y[o * LABEL_COUNT + l] = v;
        w[o * LABEL_COUNT + l] = RSNA_LABEL_WEIGHTS[l]! / 7;
        if (l === ANY_INDEX) {
          anyKnown = true;
          if (v === 1) yStudy[bi] = 1;
        }
      }
    }
    wStudy[bi] = anyKnown ? 1 : 0;
  }
  return { x, emb, mask, y, w, yStudy, wStudy, b, t };
}

function tensorsOf(bt: Batch, dim: number) {
  return {
    x: tf.tensor3d(bt.x, [bt.b, bt.t, SLICE_INPUTS]),
    mask: tf.tensor2d(bt.mask, [bt.b, bt.t]),
    ...(bt.emb !== null && { emb: tf.tensor3d(bt.emb, [bt.b, bt.t, dim]) }),
  };
}

/** Binary cross-entropy of logits, stable: max(z, 0) − z·y + log(1 + e^−|z|). */
function bceLogits(z: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}

/** Adam (Kingma & Ba, Keras' ε placement) with a learning rate given per step. */
class Adam {
  private m: tf.Variable[];
  private v: tf.Variable[];
  private step = 0;
  constructor(private vars: tf.Variable[]) {
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.step++;
    const b1 = 0.9;
    const b2 = 0.999;
    const a = (lr * Math.sqrt(1 - b2 ** this.step)) / (1 - b1 ** this.step);
    tf.tidy(() => {
      for (const [i, x] of this.vars.entries()) {
        const g = grads[x.name];
        if (g === undefined) continue;
        const m = tf.add(tf.mul(this.m[i]!, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        x.assign(tf.sub(x, tf.div(tf.mul(m, a), tf.add(tf.sqrt(v), 1e-7))));
      }
    });
  }
  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/**
 * One whole series' model inputs in the order its rows are listed: x [L, SLICE_INPUTS] (the
 * inputs `predictSeries` feeds the model) and, when asked, the embeddings [L, D].
 */
export function seriesModelInput(
  set: FeatureSet,
  s: FeatureSeries,
  useEmb: boolean,
): { x: Float32Array; emb: Float32Array | null; length: number } {
  const p = prepare(set, s);
  const bt = assemble(set, [{ p, idx: p.s.rows.map((_, i) => i) }], useEmb);
  return { x: bt.x, emb: bt.emb, length: bt.t };
}

/** The series in reverse slice order, Δz recomputed (the distance to the next slice in that order). */
export function reverseSeries(s: FeatureSeries): FeatureSeries {
  const L = s.rows.length;
  const dz = new Float32Array(L);
  for (let i = 0; i + 1 < L; i++) dz[i] = s.dz[L - 2 - i]!;
  return { ...s, rows: [...s.rows].reverse(), z: [...s.z].reverse(), dz };
}

/**
 * Stage-2 probabilities of whole series: per series its slices' [L, 6] in slice order, and its
 * study `any`. With `reverse` (the default) each series is also run in reverse order and the
 * two passes averaged (slice by slice, and the study outputs), as the model was trained on both
 * orders; then predicting a reversed series gives exactly the reversed outputs.
 */
export function predictSeries(
  model: SeriesModel,
  set: FeatureSet,
  series: readonly FeatureSeries[],
  o: { reverse?: boolean; chunk?: number } = {},
): { slices: Float32Array[]; study: Float32Array } {
  const fwd = predictOnce(model, set, series, o.chunk ?? 32);
  if (o.reverse === false) return fwd;
  const bwd = predictOnce(model, set, series.map(reverseSeries), o.chunk ?? 32);
  const slices = fwd.slices.map((f, i) => {
    const b = bwd.slices[i]!;
    const L = f.length / LABEL_COUNT;
    const out = new Float32Array(f.length);
    for (let t = 0; t < L; t++) {
      for (let l = 0; l < LABEL_COUNT; l++) {
        out[t * LABEL_COUNT + l] =
          (f[t * LABEL_COUNT + l]! + b[(L - 1 - t) * LABEL_COUNT + l]!) / 2;
      }
    }
    return out;
  });
  const study = fwd.study.map((v, i) => (v + bwd.study[i]!) / 2);
  return { slices, study };
}

function predictOnce(
  model: SeriesModel,
  set: FeatureSet,
  series: readonly FeatureSeries[],
  chunk: number,
): { slices: Float32Array[]; study: Float32Array } {
  const slices: Float32Array[] = [];
  const study = new Float32Array(series.length);
  for (let a = 0; a < series.length; a += chunk) {
    const part = series.slice(a, a + chunk).map((s) => prepare(set, s));
    const bt = assemble(
      set,
      part.map((p) => ({ p, idx: p.s.rows.map((_, i) => i) })),
      model.config.embedding > 0,
    );
    const [sl, st] = tf.tidy(() => {
      const out = model.apply(tensorsOf(bt, set.dim), false);
      return [tf.sigmoid(out.slices), tf.sigmoid(out.study)];
    });
    const sd = sl!.dataSync() as Float32Array;
    const td = st!.dataSync() as Float32Array;
    tf.dispose([sl!, st!]);
    for (const [i, p] of part.entries()) {
      const L = p.s.rows.length;
      slices.push(sd.slice(i * bt.t * LABEL_COUNT, (i * bt.t + L) * LABEL_COUNT));
      study[a + i] = td[i]!;
    }
  }
  return { slices, study };
}

/** A trained fold's held-out predictions (its oof series and the test series). */
export interface FoldResult {
  rows: Int32Array;
  preds: Float32Array;
  series: { series_uid: string; study: number }[];
}

/** What a fold reports after each step: steps done of `total`, the epoch and the mean loss. */
export type FoldStep = (done: number, total: number, epoch: number, loss: number) => void;

/** The optimiser steps a fold takes: `epochs × ⌈train series / batch⌉`. */
export function foldSteps(c: TrainSeriesConfig, set: FeatureSet, k: number): number {
  const train = set.series.filter((s) => s.part === 'oof' && s.fold !== k).length;
  return c.epochs * Math.ceil(train / c.batch);
}

/**
 * Trains fold k's series model and predicts its held-out series. Everything it draws comes from
 * generators seeded by (seed, k), so a fold gives the same bytes whichever thread trains it and
 * whatever other folds run beside it.
 */
export async function trainFold(
  c: TrainSeriesConfig,
  set: FeatureSet,
  k: number,
  onStep: FoldStep,
  signal: AbortSignal | undefined,
): Promise<{ model: SeriesModel; result: FoldResult }> {
  const train = set.series
    .filter((s) => s.part === 'oof' && s.fold !== k)
    .map((s) => prepare(set, s));
  const held = set.series.filter((s) => (s.part === 'oof' && s.fold === k) || s.part === 'test');
  if (train.length === 0) {
    throw new InputError(`${set.dir}: fold ${k} leaves no oof series to train on`);
  }
  const model = new SeriesModel({
    c1: c.c1,
    c2: c.c2,
    gru: c.gru,
    embedding: c.embeddings ? set.dim : 0,
    dropout: c.dropout,
    seed: c.seed * 1000 + k,
  });
  const adam = new Adam(model.trainable());
  const rng = new Rng(c.seed, k, 0x5e);
  const decayEvery = Math.max(1, Math.ceil(c.epochs / 3));
  const steps = Math.ceil(train.length / c.batch);
  const totalSteps = c.epochs * steps;
  try {
    for (let e = 0; e < c.epochs; e++) {
      const lr = c.lr * 0.5 ** Math.floor(e / decayEvery);
      const order = train.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let sum = 0;
      for (let s = 0; s < steps; s++) {
        checkAborted(signal, `train-series stopped in fold ${k}; run it again to resume there`);
        const items = order.slice(s * c.batch, (s + 1) * c.batch).map((i) => ({
          p: train[i]!,
          idx: sampleWindow(train[i]!.s.rows.length, c.window, rng),
        }));
        const bt = assemble(set, items, c.embeddings);
        const { value, grads } = tf.tidy(() => {
          const inputs = tensorsOf(bt, set.dim);
          const y = tf.tensor3d(bt.y, [bt.b, bt.t, LABEL_COUNT]);
          const w = tf.tensor3d(bt.w, [bt.b, bt.t, LABEL_COUNT]);
          const ys = tf.tensor1d(bt.yStudy);
          const ws = tf.tensor1d(bt.wStudy);
          const slices = Math.max(
            1,
            bt.mask.reduce((a, b) => a + b, 0),
          );
          const studies = Math.max(
            1,
            bt.wStudy.reduce((a, b) => a + b, 0),
          );
          return tf.variableGrads(() => {
            const out = model.apply(inputs, true);
            const sliceLoss = tf.div(tf.sum(tf.mul(bceLogits(out.slices, y), w)), slices);
            const studyLoss = tf.div(tf.sum(tf.mul(bceLogits(out.study, ys), ws)), studies);
            return tf.add(sliceLoss, tf.mul(studyLoss, c.studyWeight)) as tf.Scalar;
          }, model.trainable());
        });
        adam.apply(grads, lr);
        sum += value.dataSync()[0]!;
        tf.dispose([value, ...Object.values(grads)]);
        onStep(e * steps + s + 1, totalSteps, e + 1, sum / (s + 1));
      }
    }
  } finally {
    adam.dispose();
  }
  const pred = predictSeries(model, set, held);
  const total = held.reduce((a, s) => a + s.rows.length, 0);
  const rows = new Int32Array(total);
  const preds = new Float32Array(total * LABEL_COUNT);
  let o = 0;
  for (const [i, s] of held.entries()) {
    rows.set(s.rows, o);
    preds.set(pred.slices[i]!, o * LABEL_COUNT);
    o += s.rows.length;
  }
  return {
    model,
    result: {
      rows,
      preds,
      series: held.map((s, i) => ({ series_uid: s.seriesUid, study: pred.study[i]! })),
    },
  };
}

/** Saves fold k (model and held-out predictions) atomically as `SRUN/fold<k>/`. */
export async function saveFold(
  c: TrainSeriesConfig,
  k: number,
  model: SeriesModel,
  result: FoldResult,
): Promise<void> {
  await writeFolder(c.out, foldDir(k), async (tmp) => {
    await model.save(tmp, { fold: k, features: c.features });
    writeFileSync(join(tmp, FOLD_ROWS), encodeNpy(result.rows, [result.rows.length]));
    writeFileSync(
      join(tmp, FOLD_PREDICTIONS),
      encodeNpy(result.preds, [result.rows.length, LABEL_COUNT]),
    );
    writeFileSync(join(tmp, FOLD_SERIES), `${JSON.stringify(result.series)}\n`);
  });
}

function readFold(dir: string): FoldResult {
  const rows = decodeNpy(readFileSync(join(dir, FOLD_ROWS)), join(dir, FOLD_ROWS));
  const preds = decodeNpy(readFileSync(join(dir, FOLD_PREDICTIONS)), join(dir, FOLD_PREDICTIONS));
  const series = JSON.parse(readFileSync(join(dir, FOLD_SERIES), 'utf8')) as FoldResult['series'];
  return { rows: rows.data as Int32Array, preds: preds.data as Float32Array, series };
}

const SAME_KEYS: (keyof TrainSeriesConfig)[] = [
  'features',
  'epochs',
  'batch',
  'lr',
  'window',
  'c1',
  'c2',
  'gru',
  'embeddings',
  'foldNorm',
  'dropout',
  'studyWeight',
  'seed',
];

function checkSavedConfig(c: TrainSeriesConfig): void {
  const file = join(c.out, CONFIG_FILE);
  if (!existsSync(file)) return;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // Runs made before the features path was stored absolute hold it relative to the cwd.
  if (typeof saved.features === 'string') saved.features = resolve(saved.features);
  // Runs made before --fold-norm existed trained without it.
  saved.foldNorm ??= false;
  for (const key of SAME_KEYS) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(c[key])) {
      throw new ConfigError(
        `${file} holds a run with ${key} ${JSON.stringify(saved[key])}, received ${JSON.stringify(c[key])}; use another --out to train anew`,
      );
    }
  }
}

/**
 * Trains (or resumes) the out-of-fold series models and writes SRUN's predictions and metrics.
 *
 * @throws ConfigError for bad options or a SRUN made with other options; InputError for a bad
 *   features folder; Interrupted when `signal` aborts (finished folds are kept).
 */
export async function trainSeries(o: TrainSeriesOptions): Promise<TrainSeriesResult> {
  const c = resolveTrainSeriesConfig(o);
  const reporter = reporterOf(o);
  const t0 = performance.now();
  const set = loadFeatureSeries(c.features);
  const norm = c.foldNorm ? fitFoldNorm(set) : null;
  const inputs = norm === null ? set : applyFoldNorm(set, norm);
  const present = [...new Set(set.series.filter((s) => s.part === 'oof').map((s) => s.fold!))].sort(
    (a, b) => a - b,
  );
  const folds = c.folds ?? present;
  for (const k of folds) {
    if (!present.includes(k)) {
      throw new ConfigError(
        `--folds: fold ${k} has no oof series in ${c.features}; folds: ${present.join(', ')}`,
      );
    }
  }
  mkdirSync(c.out, { recursive: true });
  checkSavedConfig(c);
  writeFileSync(join(c.out, CONFIG_FILE), `${JSON.stringify(c, null, 2)}\n`);
  if (norm !== null)
    writeFileSync(join(c.out, FOLD_NORM_FILE), `${JSON.stringify(norm, null, 2)}\n`);

  const results = new Map<number, FoldResult>();
  const todo: number[] = [];
  for (const k of folds) {
    const dir = join(c.out, foldDir(k));
    if (existsSync(join(dir, FOLD_SERIES))) {
      reporter.log(`fold ${k}: already trained, loading ${dir}`);
      results.set(k, readFold(dir));
    } else todo.push(k);
  }
  const trained =
    Math.min(c.workers, todo.length) > 1
      ? await trainFoldsInWorkers(c, set, todo, results, reporter, o.signal)
      : await trainFoldsHere(c, inputs, todo, results, reporter, o.signal);

  // Stage-2 probabilities of every row: oof rows from their fold's model, test rows averaged.
  const probs = new Float32Array(set.n * LABEL_COUNT).fill(Number.NaN);
  const sums = new Float64Array(set.n * LABEL_COUNT);
  const counts = new Uint32Array(set.n);
  const studyOf = new Map<string, number[]>();
  const foldOfSeries = new Map(set.series.map((s) => [s.seriesUid, s] as const));
  for (const [k, r] of results) {
    for (const [i, row] of r.rows.entries()) {
      for (let l = 0; l < LABEL_COUNT; l++)
        sums[row * LABEL_COUNT + l]! += r.preds[i * LABEL_COUNT + l]!;
      counts[row]!++;
    }
    for (const ss of r.series) {
      const fs = foldOfSeries.get(ss.series_uid);
      if (fs === undefined || (fs.part === 'oof' && fs.fold !== k)) continue;
      const list = studyOf.get(ss.series_uid) ?? [];
      list.push(ss.study);
      studyOf.set(ss.series_uid, list);
    }
  }
  for (const s of set.series) {
    for (const row of s.rows) {
      if (counts[row] === 0) continue;
      for (let l = 0; l < LABEL_COUNT; l++) {
        probs[row * LABEL_COUNT + l] = sums[row * LABEL_COUNT + l]! / counts[row]!;
      }
    }
  }
  writeFileSync(join(c.out, SERIES_PROBS_FILE), encodeNpy(probs, [set.n, LABEL_COUNT]));
  const seriesStudy = new Map<string, number>();
  const csv = ['series_uid,study_uid,part,fold,study_any'];
  for (const s of set.series) {
    const list = studyOf.get(s.seriesUid);
    if (list === undefined) continue;
    const p = list.reduce((a, b) => a + b, 0) / list.length;
    seriesStudy.set(s.seriesUid, p);
    csv.push(`${s.seriesUid},${s.studyUid},${s.part},${s.fold ?? ''},${p}`);
  }
  writeFileSync(join(c.out, SERIES_CSV), `${csv.join('\n')}\n`);

  const metrics = seriesMetrics(set, probs, seriesStudy, folds, c);
  writeFileSync(join(c.out, EVAL_METRICS_FILE), `${JSON.stringify(metrics, null, 2)}\n`);
  return { out: c.out, config: c, metrics, trained, seconds: (performance.now() - t0) / 1000 };
}

/** Trains the folds one after the other on this thread, one progress bar per fold. */
async function trainFoldsHere(
  c: TrainSeriesConfig,
  set: FeatureSet,
  todo: readonly number[],
  results: Map<number, FoldResult>,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<number[]> {
  if (todo.length > 0) await initBackend(c.backend);
  const trained: number[] = [];
  for (const k of todo) {
    const bar = reporter.task({
      total: foldSteps(c, set, k),
      label: `series fold ${k}`,
      unit: 'steps',
    });
    let trainedFold: Awaited<ReturnType<typeof trainFold>>;
    try {
      trainedFold = await trainFold(
        c,
        set,
        k,
        (_done, _total, epoch, loss) => {
          bar.tick();
          bar.setInfo(`epoch ${epoch}/${c.epochs} loss ${loss.toFixed(4)}`);
        },
        signal,
      );
    } finally {
      bar.stop();
    }
    const { model, result } = trainedFold;
    await saveFold(c, k, model, result);
    model.dispose();
    results.set(k, result);
    trained.push(k);
    reporter.log(`fold ${k}: trained and saved in ${join(c.out, foldDir(k))}`);
  }
  return trained;
}

/**
 * Trains the folds in parallel, `min(workers, folds)` worker threads each training whole folds
 * (series/fold-task.ts) and saving each as it finishes. Each fold's progress (steps, epoch, loss)
 * comes back through shared memory and feeds one aggregate bar; an abort raises a flag the
 * workers check every step, and the folds already saved stay for the next run.
 */
async function trainFoldsInWorkers(
  c: TrainSeriesConfig,
  set: FeatureSet,
  todo: readonly number[],
  results: Map<number, FoldResult>,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<number[]> {
  checkAborted(signal, 'train-series stopped before training; run it again to resume');
  const states = todo.map((k) => ({
    k,
    shared: foldShared(),
    shown: 0,
    total: foldSteps(c, set, k),
  }));
  const total = states.reduce((a, s) => a + s.total, 0);
  const size = Math.min(c.workers, todo.length);
  const bar = reporter.task({
    total,
    label: `series folds ${todo.join(', ')} (${size} workers)`,
    unit: 'steps',
  });
  const show = () => {
    const info: string[] = [];
    for (const s of states) {
      const p = new Float64Array(s.shared, 0, FOLD_PROGRESS_SLOTS);
      const done = p[0]!;
      if (done > s.shown) bar.tick(done - s.shown);
      s.shown = done;
      if (done > 0 && done < s.total) {
        info.push(`fold ${s.k} epoch ${p[1]}/${c.epochs} loss ${p[2]!.toFixed(4)}`);
      }
    }
    bar.setInfo(info.join('; '));
  };
  const stop = () => {
    for (const s of states) Atomics.store(new Int32Array(s.shared, FOLD_STOP_OFFSET, 1), 0, 1);
  };
  signal?.addEventListener('abort', stop, { once: true });
  const timer = setInterval(show, 200);
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const pool = new WorkerPool({ taskModule: new URL(`./fold-task.${ext}`, import.meta.url), size });
  const trained: number[] = [];
  try {
    const settled = await Promise.allSettled(
      states.map(async (s) => {
        const item: FoldTask = { config: c, k: s.k, shared: s.shared };
        const r = await pool.run<FoldTask, FoldResult>(item, `fold ${s.k}`);
        results.set(s.k, r);
        trained.push(s.k);
        reporter.log(`fold ${s.k}: trained and saved in ${join(c.out, foldDir(s.k))}`);
      }),
    );
    show();
    checkAborted(
      signal,
      `train-series stopped with folds ${todo.filter((k) => !results.has(k)).join(', ')} unfinished; run it again to resume there`,
    );
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', stop);
    bar.stop();
    await pool.close();
  }
  return trained.sort((a, b) => a - b);
}

/** Shared memory of one fold in a worker: steps done, epoch, mean loss (float64), stop flag (int32). */
export const FOLD_PROGRESS_SLOTS = 3;
export const FOLD_STOP_OFFSET = FOLD_PROGRESS_SLOTS * 8;
function foldShared(): SharedArrayBuffer {
  return new SharedArrayBuffer(FOLD_STOP_OFFSET + 8);
}

/** One fold for a worker thread (series/fold-task.ts). */
export interface FoldTask {
  config: TrainSeriesConfig;
  k: number;
  shared: SharedArrayBuffer;
}

/** The three image-level blocks and the study block on the evaluated folds' labelled oof rows. */
export function seriesMetrics(
  set: FeatureSet,
  stage2: Float32Array,
  seriesStudy: Map<string, number>,
  folds: number[],
  c: Pick<TrainSeriesConfig, 'bootstrap' | 'seed'>,
): SeriesMetrics {
  const evaluated = set.series.filter((s) => s.part === 'oof' && folds.includes(s.fold!));
  const smoothed = smoothAlongZ(
    set.probs,
    evaluated.map((s) => s.rows),
  );
  const rows: number[] = [];
  for (const s of evaluated) {
    for (const r of s.rows) {
      let ok = true;
      for (let l = 0; l < LABEL_COUNT; l++)
        if (Number.isNaN(set.labels[r * LABEL_COUNT + l]!)) ok = false;
      if (ok) rows.push(r);
    }
  }
  if (rows.length === 0) {
    throw new InputError(
      `${set.dir}: no labelled oof row in folds ${folds.join(', ')} to evaluate`,
    );
  }
  const take = (a: Float32Array) => {
    const out = new Float64Array(rows.length * LABEL_COUNT);
    for (const [i, r] of rows.entries()) {
      for (let l = 0; l < LABEL_COUNT; l++) out[i * LABEL_COUNT + l] = a[r * LABEL_COUNT + l]!;
    }
    return out;
  };
  const y = take(set.labels);
  const n = rows.length;
  // Studies: label = any slice's `any`; stage 1 = max over its slices; stage 2 = max over its series.
  const studies = new Map<string, { y: number; p1: number; p2: number }>();
  for (const s of evaluated) {
    const st = studies.get(s.studyUid) ?? { y: 0, p1: 0, p2: 0 };
    for (const r of s.rows) {
      if (set.labels[r * LABEL_COUNT + ANY_INDEX] === 1) st.y = 1;
      st.p1 = Math.max(st.p1, set.probs[r * LABEL_COUNT + ANY_INDEX]!);
    }
    st.p2 = Math.max(st.p2, seriesStudy.get(s.seriesUid) ?? 0);
    studies.set(s.studyUid, st);
  }
  const list = [...studies.values()];
  const ys = list.map((s) => s.y);
  return {
    folds,
    stage1: metricBlock(y, take(set.probs), n, c.bootstrap, c.seed),
    smoothed: metricBlock(y, take(smoothed), n, c.bootstrap, c.seed),
    stage2: metricBlock(y, take(stage2), n, c.bootstrap, c.seed),
    study: {
      studies: list.length,
      positives: ys.reduce((a, b) => a + b, 0),
      stage1: studyOutput(
        ys,
        list.map((s) => s.p1),
        c.bootstrap,
        c.seed,
      ),
      stage2: studyOutput(
        ys,
        list.map((s) => s.p2),
        c.bootstrap,
        c.seed,
      ),
    },
  };
}
