/**
 * The one typed configuration of a training run, parsed and checked before any work starts and
 * saved as `RUN/config.json`, so a run can be reproduced (and resumed) from its folder alone.
 * Defaults are the reference study's: 224², 10 epochs, batch 32, Adam 1e-4, binary
 * cross-entropy, ImageNet weights, flips and crops on the fly.
 */
import { BACKENDS } from '../backend/choices.js';
import { ConfigError } from '../errors.js';
import { type ArchName, REGISTRY, resolveArch } from '../models/registry.js';
import {
  LOSSES,
  LR_SCHEDULES,
  type LrSchedule,
  MONITORS,
  OPTIMIZERS,
  type TrainConfig,
} from '../run/config.js';
import { nonNegativeInt, oneOf, positiveInt } from '../util/validate.js';

export {
  LOSSES,
  type LossName,
  LR_SCHEDULES,
  type LrSchedule,
  MONITORS,
  type Monitor,
  OPTIMIZERS,
  type OptimizerName,
  type TrainConfig,
} from '../run/config.js';

export const DEFAULT_AUGMENT = 'hflip=0.25,vflip=0.10,crop=0.25';

/** What the caller gives; everything but the paths and the architecture has a default. */
export interface TrainOptionsInput {
  cache: string;
  split: string;
  arch: string;
  out: string;
  size?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  /** `constant` (default, as the reference study) or `cosine` (warm-up, then cosine decay to 0). */
  lrSchedule?: string;
  optimizer?: string;
  loss?: string;
  /** Focal loss γ (default 2). */
  focalGamma?: number;
  /** `imagenet`, `none` or a Keras `.h5` file. */
  weights?: string;
  augment?: string;
  context?: number;
  freezeBackbone?: boolean;
  dropout?: number;
  seed?: number;
  monitor?: string;
  /** Split names trained on (default `train`). */
  trainSplits?: string[];
  /** Split name validated on (default `val`). */
  valSplit?: string;
  /** Worker threads (default: the machine's cores). */
  workers?: number;
  /** Examples per forward/backward pass inside a worker; `0` = chosen from the model and size. */
  microBatch?: number;
  backend?: string;
  /** Mid-epoch checkpoints to `RUN/last/` at most this often, in minutes (0: epoch ends only). */
  checkpointMinutes?: number;
  /** Stop after this many optimiser steps in total (benchmarks and tests); unset: all epochs. */
  maxSteps?: number;
  /**
   * Momentum of every batch-norm layer's moving statistics. Unset: Keras' own (0.99, or 0.999
   * in MobileNetV2) when starting from pretrained weights, whose moving statistics are already
   * close; {@link FROM_SCRATCH_BN_MOMENTUM} from scratch (`weights: 'none'`), where Keras'
   * values leave the statistics near their initial 0 and 1 for thousands of steps.
   */
  bnMomentum?: number;
}

/**
 * Fills defaults and checks every field, naming the field and the value received.
 *
 * @throws ConfigError before anything is read or written.
 */
export function resolveTrainConfig(o: TrainOptionsInput, cores = 2): TrainConfig {
  const arch = resolveArch(o.arch, { field: '--arch' });
  const spec = REGISTRY.find((s) => s.name === arch)!;
  const size = positiveInt('--size', o.size ?? 224);
  const min = Math.max(32, spec.minSize);
  if (size < min) {
    throw new ConfigError(`--size must be ≥ ${min} for ${arch}, received ${size}`);
  }
  const lr = o.lr ?? 1e-4;
  if (!(lr > 0) || !Number.isFinite(lr)) {
    throw new ConfigError(`--lr must be a positive number, received ${lr}`);
  }
  const context = o.context ?? 0;
  if (context !== 0 && context !== 1 && context !== 2) {
    throw new ConfigError(`--context must be 0, 1 or 2, received ${context}`);
  }
  const dropout = o.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new ConfigError(`--dropout must be in [0, 1), received ${dropout}`);
  }
  const focalGamma = o.focalGamma ?? 2;
  if (!(focalGamma >= 0) || !Number.isFinite(focalGamma)) {
    throw new ConfigError(`--focal-gamma must be a number ≥ 0, received ${focalGamma}`);
  }
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ConfigError(`--seed must be an integer ≥ 0, received ${seed}`);
  }
  const checkpointMinutes = o.checkpointMinutes ?? 10;
  if (!(checkpointMinutes >= 0) || !Number.isFinite(checkpointMinutes)) {
    throw new ConfigError(
      `--checkpoint-minutes must be a number ≥ 0, received ${checkpointMinutes}`,
    );
  }
  const trainSplits = o.trainSplits ?? ['train'];
  if (trainSplits.length === 0)
    throw new ConfigError('--train-splits must name at least one split');
  const valSplit = o.valSplit ?? 'val';
  if (trainSplits.includes(valSplit)) {
    throw new ConfigError(`validation split "${valSplit}" is also a training split`);
  }
  const batch = positiveInt('--batch', o.batch ?? 32);
  const workers = positiveInt('--workers', o.workers ?? cores);
  return {
    cache: o.cache,
    split: o.split,
    arch,
    size,
    epochs: positiveInt('--epochs', o.epochs ?? 10),
    batch,
    lr,
    optimizer: oneOf('--optimizer', o.optimizer ?? 'adam', OPTIMIZERS),
    loss: oneOf('--loss', o.loss ?? 'bce', LOSSES),
    focalGamma,
    weights: o.weights ?? 'imagenet',
    augment: o.augment ?? DEFAULT_AUGMENT,
    context,
    freezeBackbone: o.freezeBackbone ?? false,
    dropout,
    seed,
    monitor: oneOf('--monitor', o.monitor ?? 'weighted_log_loss', MONITORS),
    trainSplits,
    valSplit,
    workers: Math.min(workers, batch),
    microBatch: nonNegativeInt('--micro-batch', o.microBatch ?? 0),
    backend: oneOf('--backend', o.backend ?? 'auto', BACKENDS),
    checkpointMinutes,
    maxSteps: o.maxSteps === undefined ? null : positiveInt('--max-steps', o.maxSteps),
    bnMomentum: bnMomentum(o.bnMomentum, o.weights ?? 'imagenet'),
    lrSchedule: oneOf('--lr-schedule', o.lrSchedule ?? 'constant', LR_SCHEDULES),
  };
}

/**
 * Batch-norm momentum of every layer when a model trains from scratch: PyTorch's default
 * (its `momentum=0.1` weighs the new batch as Keras' 0.9 does). With Keras' 0.999 the moving
 * averages of MobileNetV2 keep ~84% of their initial values after 170 steps, so validation sees
 * statistics the weights never trained with, and a model that learns scores at chance; at 0.9
 * they follow the last ~10 batches.
 */
export const FROM_SCRATCH_BN_MOMENTUM = 0.9;

function bnMomentum(v: number | undefined, weights: string): number | null {
  if (v === undefined) return weights === 'none' ? FROM_SCRATCH_BN_MOMENTUM : null;
  if (!(v >= 0 && v < 1)) throw new ConfigError(`--bn-momentum must be in [0, 1), received ${v}`);
  return v;
}

/**
 * Activation memory per example relative to MobileNetV2 at 224² (measured peak wasm heap
 * growth of one training pass; rounded up).
 */
const ACTIVATION_WEIGHT: Record<ArchName, number> = {
  vgg16: 3,
  resnet50: 2.5,
  inception_v3: 2,
  mobilenet_v2: 1,
  xception: 2.5,
  efficientnet_b0: 1.5,
  efficientnet_b2: 2,
  efficientnet_b3: 2.5,
};

/**
 * Examples per forward/backward pass: the configured value, or one that keeps a worker's wasm
 * heap under its ~2 GB limit (16 MobileNetV2 examples at 224², more at smaller sizes), never
 * more than the worker's share of the batch.
 */
export function microBatchFor(c: TrainConfig, share: number): number {
  if (c.microBatch > 0) return Math.min(c.microBatch, share);
  const budget = (16 * (224 * 224)) / (c.size * c.size) / ACTIVATION_WEIGHT[c.arch];
  return Math.max(1, Math.min(share, Math.floor(budget)));
}

/** Share of a `cosine` run's steps spent warming up linearly from 0 to `lr`. */
export const LR_WARMUP = 0.05;

/**
 * The learning rate of optimiser step `step` (0-based) of a run of `total` steps: a function of
 * the step alone, so a resumed run continues the same curve.
 */
export function lrAt(schedule: LrSchedule, lr: number, step: number, total: number): number {
  if (schedule === 'constant' || total <= 1) return lr;
  const warm = Math.max(1, Math.round(LR_WARMUP * total));
  if (step < warm) return (lr * (step + 1)) / warm;
  const t = Math.min(1, (step - warm) / Math.max(1, total - warm));
  return 0.5 * lr * (1 + Math.cos(Math.PI * t));
}
