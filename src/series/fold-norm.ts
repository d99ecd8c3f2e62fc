/**
 * Per-fold-model standardisation of the series model's stage-1 inputs (`train-series
 * --fold-norm`). Each out-of-fold row of a features folder was scored by a different stage-1
 * fold model (`runs[fold]`), and fold models trained for a few epochs from scratch disagree in
 * calibration: one puts the mean intraventricular logit at −5, another at −2.4. A series model
 * trained on some fold models' outputs and scored on another's then learns the wrong scale.
 *
 * The fix maps each fold model's logits, label by label, onto the pooled out-of-fold scale:
 *
 *     logit' = (logit − mean_k) / sd_k × sd + mean
 *
 * with mean_k, sd_k the mean and standard deviation of fold model k's logits over the rows it
 * scored (its own held-out fold) and mean, sd those of all out-of-fold rows together. Only the
 * stage-1 outputs enter it, never a label, so it leaks nothing: fold k's statistics come from
 * the same images fold k's model was never trained on, as its probabilities do.
 *
 * Test rows (the mean over every fold model) are left as they are: the ensemble's outputs sit
 * near the pooled scale, and no single fold's statistics describe them. At inference `predict`
 * runs one stage-1 model: when it is one of the fold models (`runs`, e.g. `CV/runs/fold0`), its
 * probabilities are mapped with that fold's statistics (`mapFoldProbs`, series/aggregator.ts);
 * any other model's pass unchanged. The series model itself, and its ONNX export, are unchanged.
 *
 * Logits are those of the probabilities clipped to [1e-4, 1 − 1e-4], as the model sees them
 * (series/slice-inputs.ts); a spread below 1e-3 is taken as 1e-3.
 */
import { dirname, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { LABEL_COUNT } from '../labels.js';
import type { FeatureSet } from './read-features.js';

/** The saved statistics (`SRUN/fold-norm.json`): per label, in LABEL_NAMES order. */
export interface FoldNorm {
  /** Mean and standard deviation of every out-of-fold row's logits. */
  pooled: { rows: number; mean: number[]; sd: number[] };
  /** Per stage-1 fold model (key: the fold whose rows it scored). */
  folds: Record<string, { rows: number; mean: number[]; sd: number[] }>;
  /**
   * The stage-1 fold model's run folder per fold (absolute; features.json `runs[k]` beside the
   * features folder), so `predict` can tell which fold model it runs.
   */
  runs: Record<string, string>;
}

export const FOLD_NORM_FILE = 'fold-norm.json';

const CLIP = 1e-4;
const MIN_SD = 1e-3;

function logitOf(p: number): number {
  const q = Math.min(1 - CLIP, Math.max(CLIP, p));
  return Math.log(q / (1 - q));
}

function moments(probs: Float32Array, rows: readonly number[]) {
  const mean = new Array<number>(LABEL_COUNT).fill(0);
  const sd = new Array<number>(LABEL_COUNT).fill(0);
  for (const r of rows) {
    for (let l = 0; l < LABEL_COUNT; l++) mean[l]! += logitOf(probs[r * LABEL_COUNT + l]!);
  }
  for (let l = 0; l < LABEL_COUNT; l++) mean[l]! /= rows.length;
  for (const r of rows) {
    for (let l = 0; l < LABEL_COUNT; l++) {
      const d = logitOf(probs[r * LABEL_COUNT + l]!) - mean[l]!;
      sd[l]! += d * d;
    }
  }
  for (let l = 0; l < LABEL_COUNT; l++) sd[l] = Math.max(MIN_SD, Math.sqrt(sd[l]! / rows.length));
  return { rows: rows.length, mean, sd };
}

/**
 * The statistics of a features folder's out-of-fold rows: pooled and per fold model.
 *
 * @throws InputError when the folder has no out-of-fold row.
 */
export function fitFoldNorm(set: FeatureSet): FoldNorm {
  const byFold = new Map<number, number[]>();
  const all: number[] = [];
  for (const s of set.series) {
    if (s.part !== 'oof' || s.fold === null) continue;
    const list = byFold.get(s.fold) ?? [];
    list.push(...s.rows);
    byFold.set(s.fold, list);
    all.push(...s.rows);
  }
  if (all.length === 0) {
    throw new InputError(`${set.dir}: --fold-norm needs out-of-fold rows, found none`);
  }
  const folds: FoldNorm['folds'] = {};
  const runs: FoldNorm['runs'] = {};
  for (const k of [...byFold.keys()].sort((a, b) => a - b)) {
    folds[String(k)] = moments(set.probs, byFold.get(k)!);
    const run = set.meta.runs[k];
    if (run !== undefined) runs[String(k)] = resolve(dirname(resolve(set.dir)), run);
  }
  return { pooled: moments(set.probs, all), folds, runs };
}

/** Fold model k's logit of label l mapped onto the pooled scale. */
function pooledLogit(norm: FoldNorm, f: FoldNorm['folds'][string], l: number, p: number): number {
  return ((logitOf(p) - f.mean[l]!) / f.sd[l]!) * norm.pooled.sd[l]! + norm.pooled.mean[l]!;
}

/**
 * Probabilities [n × 6] of stage-1 fold model `fold` mapped onto the pooled scale, as
 * `applyFoldNorm` maps that fold's out-of-fold rows; a fold `norm` does not know maps to a copy.
 */
export function mapFoldProbs(norm: FoldNorm, fold: number, p: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(p);
  const f = norm.folds[String(fold)];
  if (f === undefined) return out;
  for (let i = 0; i < out.length; i++) {
    out[i] = 1 / (1 + Math.exp(-pooledLogit(norm, f, i % LABEL_COUNT, p[i]!)));
  }
  return out;
}

/**
 * The stage-1 fold whose model `stage1` is (its run folder, or `best/` or `last/` inside it),
 * or null when it is none of `norm`'s fold models.
 */
export function foldOfModel(norm: FoldNorm, stage1: string): number | null {
  const dir = resolve(stage1);
  for (const [k, run] of Object.entries(norm.runs ?? {})) {
    if (dir === run || dirname(dir) === run) return Number(k);
  }
  return null;
}

/**
 * The features set with each out-of-fold row's probabilities mapped onto the pooled scale of
 * `norm` (test rows and rows of a fold `norm` does not know are copied unchanged). The input set
 * is not modified.
 */
export function applyFoldNorm(set: FeatureSet, norm: FoldNorm): FeatureSet {
  const probs = Float32Array.from(set.probs);
  for (const s of set.series) {
    if (s.part !== 'oof' || s.fold === null) continue;
    for (const r of s.rows) {
      const row = set.probs.subarray(r * LABEL_COUNT, (r + 1) * LABEL_COUNT);
      probs.set(mapFoldProbs(norm, s.fold, row), r * LABEL_COUNT);
    }
  }
  return { ...set, probs };
}
