/**
 * The tiny synthetic dataset most end-to-end tests start from: `synth` into DIR/synth, then
 * `prepare` into DIR/cache. Balanced prevalence and 64² slices unless told otherwise. And the
 * tiny models they predict with: a CNN run (`tinyRun`) and a series run (`tinySeriesRun`).
 */
import { join } from 'node:path';
import { prepare } from '../src/commands/prepare.js';
import { synth } from '../src/commands/synth.js';
import {
  type TrainSeriesOptions,
  type TrainSeriesResult,
  trainSeries,
} from '../src/series/train.js';
import type { SynthOptionsInput } from '../src/synth/options.js';
import { type TrainOptions, type TrainResult, train } from '../src/train/train.js';

export interface TinyData {
  /** The synth output (stage_2_train/, stage_2_train.csv, masks/). */
  data: string;
  /** The prepared cache. */
  cache: string;
}

export async function tinyCache(
  dir: string,
  o: {
    synth: Omit<SynthOptionsInput, 'out'>;
    /** Cache image side (default 32). */
    size?: number;
    workers?: number;
  },
): Promise<TinyData> {
  const data = join(dir, 'synth');
  const workers = o.workers ?? 1;
  await synth({
    size: 64,
    prevalence: 'balanced',
    workers,
    progress: false,
    ...o.synth,
    out: data,
  });
  const cache = join(dir, 'cache');
  await prepare({
    images: join(data, 'stage_2_train'),
    labels: join(data, 'stage_2_train.csv'),
    out: cache,
    size: o.size ?? 32,
    workers,
    progress: false,
  });
  return { data, cache };
}

/**
 * A tiny CNN run: MobileNetV2 from random weights (BN momentum 0.9, train's default then), one
 * epoch at 32², batch 16, lr 1e-3, seed 1, one worker on wasm, quiet. `o` overrides any of it.
 */
export function tinyRun(
  o: { cache: string; split: string; out: string } & Partial<TrainOptions>,
): Promise<TrainResult> {
  return train({
    arch: 'mobilenet_v2',
    size: 32,
    epochs: 1,
    batch: 16,
    lr: 1e-3,
    weights: 'none',
    workers: 1,
    seed: 1,
    backend: 'wasm',
    checkpointMinutes: 0,
    progress: false,
    log: () => {},
    ...o,
  });
}

/**
 * A tiny series run: one epoch, batch 4, c1 = c2 = 8, a GRU of 4, 10 bootstrap rounds, on wasm,
 * quiet. `o` overrides any of it.
 */
export function tinySeriesRun(
  o: { features: string; out: string } & Partial<TrainSeriesOptions>,
): Promise<TrainSeriesResult> {
  return trainSeries({
    epochs: 1,
    batch: 4,
    c1: 8,
    c2: 8,
    gru: 4,
    bootstrap: 10,
    backend: 'wasm',
    progress: false,
    log: () => {},
    ...o,
  });
}
