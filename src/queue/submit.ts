/**
 * `compare --queue`, `cv --queue`, `predict --queue`: the work as BullMQ flows (flow.ts),
 * submitted instead of run here (`prepare --queue` is in submit-prepare.ts). A compare is
 * one training job per architecture under one report job (the compare itself, which then finds
 * every run finished); a cv is one training job per fold under the cv itself. Paths are made absolute here and must mean the same on every
 * worker (the shared store's mount point); the inputs are checked by the job on the worker, with
 * the local command's own errors.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type CompareOptions,
  comparePlan,
  parseArchs,
  trainOptionsFor,
} from '../commands/compare.js';
import { CV_CONFIG_FILE, type CvOptions, openCv } from '../commands/cv.js';
import { type FollowOptions, type Submitted, submitFlow } from './flow.js';
import type { CompareJobOptions, FlowSpec } from './jobs.js';
import { type PredictFlowOptions, predictFlow } from './predict.js';

export type CompareQueueOptions = Omit<CompareOptions, 'log' | 'progress'> &
  FollowOptions & { redis: string };

/** The compare's jobs: one training job per architecture under the report job. */
export function compareFlow(o: Omit<CompareQueueOptions, 'redis'>): FlowSpec {
  const archs = parseArchs(o.archs);
  const { detach: _d, log: _l, pollMs: _p, signal: _s, ...rest } = o;
  const { workers } = comparePlan(rest, archs.length);
  const compare: CompareJobOptions = {
    ...rest,
    archs,
    workers,
    out: resolve(o.out),
    cache: resolve(o.cache),
    split: resolve(o.split),
    ...(o.masks !== undefined && { masks: resolve(o.masks) }),
  };
  for (const arch of archs) trainOptionsFor(compare, archs.length, arch, '');
  return {
    queue: 'train',
    parent: { name: 'compare-report', data: { compare } },
    children: archs.map((arch) => ({ name: 'train-arch', data: { compare, arch } })),
  };
}

/** `ichdet compare --queue`: submits the flow (and follows it unless detached). */
export function submitCompare(o: CompareQueueOptions): Promise<Submitted> {
  return submitFlow(o.redis, 'train', compareFlow(o), o);
}

export type CvQueueOptions = Omit<CvOptions, 'log' | 'progress' | 'reporter' | 'resume'> &
  FollowOptions & { redis: string };

/**
 * The cv's jobs: one training job per fold under the report job (cv itself, which then predicts
 * out of fold). The split file is read here, to count the folds.
 */
export function cvFlow(o: Omit<CvQueueOptions, 'redis'>): FlowSpec {
  const { detach: _d, log: _l, pollMs: _p, signal: _s, ...rest } = o;
  const out = resolve(o.out);
  // A folder that holds a cv already (a resubmission) continues with its cv.json, as --resume.
  const cv = openCv({ ...rest, out, resume: existsSync(join(out, CV_CONFIG_FILE)) }, out);
  return {
    queue: 'train',
    parent: { name: 'cv-report', data: { cv, out } },
    children: Array.from({ length: cv.folds }, (_, k) => ({
      name: 'cv-fold' as const,
      data: { cv, out, k },
    })),
  };
}

/** `ichdet cv --queue`: submits the flow (and follows it unless detached). */
export function submitCv(o: CvQueueOptions): Promise<Submitted> {
  return submitFlow(o.redis, 'train', cvFlow(o), o);
}

export type PredictQueueOptions = PredictFlowOptions & FollowOptions & { redis: string };

/**
 * `ichdet predict --queue`: one job per study under their merge into --out (predict's own
 * outputs); reads the inputs' headers here to find the studies.
 */
export async function submitPredict(o: PredictQueueOptions): Promise<Submitted> {
  return submitFlow(o.redis, 'predict', (_q) => predictFlow(o), o);
}
