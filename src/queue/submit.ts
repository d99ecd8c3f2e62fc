/**
 * `prepare --queue`, `compare --queue`, `cv --queue`: the work as BullMQ flows, submitted instead of run here.
 * A prepare is one job per partition (`prepare --shard K/N`) under one merge job; a compare is
 * one training job per architecture under one report job (the compare itself, which then finds
 * every run finished); a cv is one training job per fold under the cv itself. A flow's parent runs only when all its children have completed, and fails
 * when one of them fails for good. Paths are made absolute here and must mean the same on every
 * worker (the shared store's mount point); the inputs are checked by the job on the worker, with
 * the local command's own errors.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ConnectionOptions, FlowProducer, type Job, Queue, QueueEvents } from 'bullmq';
import {
  type CompareOptions,
  comparePlan,
  parseArchs,
  trainOptionsFor,
} from '../commands/compare.js';
import { CV_CONFIG_FILE, type CvOptions, openCv } from '../commands/cv.js';
import { DEFAULT_RECORDS_PER_SHARD } from '../data/cache.js';
import { CROP_MODES, validatePreprocessConfig } from '../dicom/preprocess.js';
import { DEFAULT_WINDOWS, parseWindows } from '../dicom/window.js';
import { ConfigError, IchdetError } from '../errors.js';
import { oneOf } from '../util/validate.js';
import { checkRedis, redisOptions } from './connection.js';
import {
  type CompareJobOptions,
  canonicalJson,
  concurrencyOf,
  type FlowSpec,
  type JobData,
  jobId,
  type PrepareShardData,
  QUEUE_PREFIX,
  type QueueName,
} from './jobs.js';
import { type PredictFlowOptions, predictFlow } from './predict.js';

/** How a submission waits: not at all (`--detach`) or until its flow's parent is done. */
export interface FollowOptions {
  /** Return once submitted (default false: follow the jobs until the parent finishes). */
  detach?: boolean;
  /** One line per change of a job's state. */
  log?: (line: string) => void;
  /** Interval in ms of a full read of the jobs' states, besides the queue's events (default 5000). */
  pollMs?: number;
  signal?: AbortSignal;
}

export interface Submitted {
  /** The flow's parent (the merge, the report). */
  parent: string;
  children: string[];
  /** The parent's return value once followed to completion. */
  result?: unknown;
}

/** Retries of a job that threw (a lost worker is recovered separately, by the stalled check). */
const ATTEMPTS = 2;

function positive(option: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`${option} must be a positive integer, received ${String(value)}`);
  }
  return n;
}

async function submitFlow(
  redis: string,
  queueName: QueueName,
  plan: FlowSpec | ((queue: Queue) => Promise<FlowSpec>),
  f: FollowOptions,
): Promise<Submitted> {
  const connection = redisOptions(redis);
  const queue = new Queue(queueName, { connection, prefix: QUEUE_PREFIX });
  try {
    await checkRedis(await queue.client, redis);
    const spec = typeof plan === 'function' ? await plan(queue) : plan;
    return await addAndFollow(connection, queue, spec, f);
  } finally {
    await queue.close();
  }
}

/** How long a prepare's default shard count is kept for its resubmissions: 30 days. */
const PLAN_SECONDS = 30 * 24 * 3600;

/**
 * The default number of partitions of a prepare: twice the summed concurrency of the workers now
 * serving the prepare queue (8 when none is), so every job slot has work and the jobs stay few.
 * The first submission fixes it in Redis under a key of the prepare's other options, so a
 * resubmission names the same jobs whatever workers are up then.
 */
export async function defaultShards(
  queue: Queue,
  plan: Omit<PrepareShardData, 'shard'> & { out: string },
): Promise<number> {
  const client = await queue.client;
  const key = `${QUEUE_PREFIX}:plan:shards:${createHash('sha256').update(canonicalJson(plan)).digest('hex').slice(0, 20)}`;
  const fixed = await client.get(key);
  if (fixed !== null) return Number(fixed);
  const names = new Set<string>();
  for (const w of await queue.getWorkers()) names.add(String(w.rawname ?? w.name));
  let slots = 0;
  for (const n of names) slots += concurrencyOf(n);
  // SET … NX: when two submissions race, the first one's count holds for both.
  await client.runCommand('set', [
    key,
    String(slots === 0 ? 8 : 2 * slots),
    'EX',
    PLAN_SECONDS,
    'NX',
  ]);
  return Number(await client.get(key));
}

async function addAndFollow(
  connection: ConnectionOptions,
  queue: Queue,
  spec: FlowSpec,
  f: FollowOptions,
): Promise<Submitted> {
  const flow = new FlowProducer({ connection, prefix: QUEUE_PREFIX });
  // Listening before the flow is added: the follow wakes on the jobs' events, not on a timer.
  const events = f.detach
    ? undefined
    : new QueueEvents(spec.queue, { connection, prefix: QUEUE_PREFIX });
  try {
    await events?.waitUntilReady();
    const parent = jobId(spec.parent);
    const children = spec.children.map(jobId);
    await flow.add({
      name: spec.parent.name,
      queueName: spec.queue,
      data: spec.parent.data,
      opts: { jobId: parent, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 1000 } },
      children: spec.children.map((c, i) => ({
        name: c.name,
        queueName: spec.queue,
        data: c.data,
        opts: {
          jobId: children[i]!,
          attempts: ATTEMPTS,
          backoff: { type: 'fixed', delay: 1000 },
          failParentOnFailure: true,
        },
      })),
    });
    const log = f.log ?? ((s: string) => process.stderr.write(`${s}\n`));
    log(
      `submitted ${spec.parent.name} ${parent} with ${children.length} jobs on queue ${spec.queue}`,
    );
    if (events === undefined) return { parent, children };
    const result = await follow(queue, events, parent, children, log, f);
    return { parent, children, result };
  } finally {
    await events?.close();
    await flow.close();
  }
}

/**
 * Follows the jobs until the parent completes (its result) or fails (IchdetError). It wakes on
 * the queue's events (a job became active, completed, failed) and then reads only the states of
 * the jobs they name; a full read of every state every `pollMs` covers a missed event.
 */
async function follow(
  queue: Queue,
  events: QueueEvents,
  parent: string,
  children: string[],
  log: (line: string) => void,
  f: FollowOptions,
): Promise<unknown> {
  const seen = new Map<string, string>();
  const mine = new Set([parent, ...children]);
  const pollMs = f.pollMs ?? 5000;
  const dirty = new Set<string>();
  let wake: (() => void) | undefined;
  const onEvent = ({ jobId: id }: { jobId: string }) => {
    if (!mine.has(id)) return;
    dirty.add(id);
    wake?.();
  };
  const onAbort = () => wake?.();
  for (const e of ['active', 'completed', 'failed', 'waiting'] as const) events.on(e, onEvent);
  f.signal?.addEventListener('abort', onAbort);
  let done = 0;
  let full = true;
  try {
    for (;;) {
      if (f.signal?.aborted) {
        throw new IchdetError(`stopped following; the jobs go on (ichdet jobs shows them)`);
      }
      const ids = full ? children : children.filter((id) => dirty.has(id));
      dirty.clear();
      full = false;
      for (const id of ids) {
        const state = await queue.getJobState(id);
        const before = seen.get(id);
        if (before === state) continue;
        seen.set(id, state);
        if (state === 'completed') done++;
        else if (before === 'completed') done--;
        if (state !== 'waiting') log(`${id}: ${state}`);
      }
      const job: Job | undefined = await queue.getJob(parent);
      if (!job) throw new IchdetError(`job ${parent} is not on queue ${queue.name} (removed?)`);
      const state = await job.getState();
      if (seen.get(parent) !== state) {
        seen.set(parent, state);
        log(`${parent}: ${state} (${done}/${children.length} jobs completed)`);
      }
      // Read again: the job may have finished between reading it and reading its state.
      const settled =
        state === 'completed' || state === 'failed' ? await queue.getJob(parent) : job;
      if (state === 'completed') return settled?.returnvalue;
      if (state === 'failed') {
        let reason = settled?.failedReason ?? '';
        for (const id of children) {
          const c = await queue.getJob(id);
          if (c && (await c.getState()) === 'failed') reason = `${id}: ${c.failedReason}`;
        }
        throw new IchdetError(`job ${parent} failed: ${reason}`);
      }
      if (dirty.size > 0) continue;
      await new Promise<void>((r) => {
        const timer = setTimeout(() => {
          full = true;
          r();
        }, pollMs);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      wake = undefined;
    }
  } finally {
    for (const e of ['active', 'completed', 'failed', 'waiting'] as const) events.off(e, onEvent);
    f.signal?.removeEventListener('abort', onAbort);
  }
}

export interface PrepareQueueOptions extends FollowOptions {
  redis: string;
  images: string;
  labels?: string;
  out: string;
  /**
   * Partitions, one job each (default: twice the summed concurrency of the workers serving the
   * prepare queue at the first submission, 8 without any; resubmissions keep it).
   */
  shards?: number | string;
  size?: number | string;
  windows?: string;
  rsnaFix?: boolean;
  /** `head`: crop each slice to the head before resizing (`prepare --crop`). */
  crop?: string;
  recordsPerShard?: number | string;
  /** Threads of each shard's prepare on its worker (default 1). */
  workers?: number | string;
}

/** The prepare's jobs: one shard job per partition under one merge job. @throws ConfigError */
export function prepareFlow(o: Omit<PrepareQueueOptions, 'redis'>): FlowSpec {
  const n = positive('--shards', o.shards, 8);
  const size = positive('--size', o.size, 256);
  const windows = o.windows === undefined ? DEFAULT_WINDOWS : parseWindows(o.windows);
  validatePreprocessConfig({ windows: [...windows], size });
  const base: Omit<PrepareShardData, 'shard'> = {
    out: resolve(o.out),
    images: resolve(o.images),
    ...(o.labels !== undefined && { labels: resolve(o.labels) }),
    size,
    // As given: the cache records the windows' names (brain…), so defaults stay defaults.
    ...(o.windows !== undefined && { windows: o.windows }),
    rsnaFix: o.rsnaFix ?? true,
    ...(oneOf('--crop', o.crop ?? 'none', CROP_MODES) === 'head' && { crop: 'head' as const }),
    recordsPerShard: positive('--records-per-shard', o.recordsPerShard, DEFAULT_RECORDS_PER_SHARD),
    workers: positive('--workers', o.workers, 1),
  };
  const children: JobData[] = Array.from({ length: n }, (_, i) => ({
    name: 'prepare-shard',
    data: { ...base, shard: `${i + 1}/${n}` },
  }));
  return {
    queue: 'prepare',
    parent: { name: 'prepare-merge', data: { out: resolve(o.out), shards: children.map(jobId) } },
    children,
  };
}

/** `ichdet prepare --queue`: submits the flow (and follows it unless detached). */
export function submitPrepare(o: PrepareQueueOptions): Promise<Submitted> {
  const { shards, ...rest } = o;
  if (shards !== undefined) return submitFlow(o.redis, 'prepare', prepareFlow(o), o);
  return submitFlow(
    o.redis,
    'prepare',
    async (queue) => {
      const base = prepareFlow({ ...rest, shards: 1 });
      const shard = base.children[0]!.data as PrepareShardData;
      const { shard: _k, ...plan } = shard;
      const n = await defaultShards(queue, { ...plan, out: resolve(o.out) });
      return prepareFlow({ ...rest, shards: n });
    },
    o,
  );
}

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
