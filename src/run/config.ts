/**
 * The typed form of `RUN/config.json`: the one configuration of a training run, as
 * `resolveTrainConfig` (train/config.ts) fills and checks it and training saves it, so a run can
 * be reproduced (and resumed) from its folder alone. Reading it back checks every field's type,
 * so a hand-edited or foreign file fails here with the field named, not later.
 */
import { readFileSync } from 'node:fs';
import type { BackendChoice } from '../backend/init.js';
import { InputError } from '../errors.js';
import type { ArchName } from '../models/registry.js';

export const LOSSES = ['bce', 'weighted-bce', 'focal'] as const;
export type LossName = (typeof LOSSES)[number];
export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
/** Validation metric that picks `RUN/best/`. */
export const MONITORS = ['weighted_log_loss', 'loss', 'mean_auc'] as const;
export type Monitor = (typeof MONITORS)[number];

export interface TrainConfig {
  cache: string;
  split: string;
  arch: ArchName;
  size: number;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: OptimizerName;
  loss: LossName;
  focalGamma: number;
  weights: string;
  augment: string;
  context: 0 | 1 | 2;
  freezeBackbone: boolean;
  dropout: number;
  seed: number;
  monitor: Monitor;
  trainSplits: string[];
  valSplit: string;
  workers: number;
  microBatch: number;
  backend: BackendChoice;
  checkpointMinutes: number;
  maxSteps: number | null;
  bnMomentum: number | null;
  /** Learning-rate schedule over the run's steps (see {@link LR_SCHEDULES}). */
  lrSchedule: LrSchedule;
}

/**
 * `constant`: `lr` at every step, as the reference study trained. `cosine`: a linear warm-up
 * over the first 5% of the run's steps, then half a cosine from `lr` down to 0 at the last step.
 */
export const LR_SCHEDULES = ['constant', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

type Kind = 'string' | 'number' | 'boolean' | 'string[]' | 'number|null' | 'string?';
const FIELDS: Record<keyof TrainConfig, Kind> = {
  cache: 'string',
  split: 'string',
  arch: 'string',
  size: 'number',
  epochs: 'number',
  batch: 'number',
  lr: 'number',
  optimizer: 'string',
  loss: 'string',
  focalGamma: 'number',
  weights: 'string',
  augment: 'string',
  context: 'number',
  freezeBackbone: 'boolean',
  dropout: 'number',
  seed: 'number',
  monitor: 'string',
  trainSplits: 'string[]',
  valSplit: 'string',
  workers: 'number',
  microBatch: 'number',
  backend: 'string',
  checkpointMinutes: 'number',
  maxSteps: 'number|null',
  bnMomentum: 'number|null',
  lrSchedule: 'string?',
};

function hasKind(v: unknown, k: Kind): boolean {
  if (k === 'string[]') return Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (k === 'number|null') return v === null || v === undefined || typeof v === 'number';
  if (k === 'string?') return v === undefined || typeof v === 'string';
  return typeof v === k;
}

/**
 * Checks a parsed config.json; InputError names the file, the field and the value received.
 * Fields added after a run was made may be missing: `bnMomentum` defaults to null (Keras' per
 * model), `lrSchedule` to constant.
 */
export function parseTrainConfig(json: unknown, file: string): TrainConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError(`${file} must hold a JSON object, received ${JSON.stringify(json)}`);
  }
  const o = json as Record<string, unknown>;
  for (const [field, kind] of Object.entries(FIELDS) as [keyof TrainConfig, Kind][]) {
    if (!hasKind(o[field], kind)) {
      throw new InputError(
        `${file}: "${field}" must be ${kind}, received ${JSON.stringify(o[field])}`,
      );
    }
  }
  const lrSchedule = (o.lrSchedule as string | undefined) ?? 'constant';
  if (!(LR_SCHEDULES as readonly string[]).includes(lrSchedule)) {
    throw new InputError(
      `${file}: "lrSchedule" must be one of ${LR_SCHEDULES.join(', ')}, received ${JSON.stringify(lrSchedule)}`,
    );
  }
  return {
    ...(o as unknown as TrainConfig),
    bnMomentum: (o.bnMomentum as number | null) ?? null,
    lrSchedule: lrSchedule as LrSchedule,
  };
}

/** Reads and checks a config.json; InputError when it is missing or malformed. */
export function readTrainConfig(file: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseTrainConfig(json, file);
}
