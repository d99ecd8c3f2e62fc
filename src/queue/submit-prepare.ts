/**
 * `prepare --queue`: one job per partition (`prepare --shard K/N`) under one merge job. Paths are
 * made absolute here and must mean the same on every worker (the shared store's mount point); the
 * inputs are checked by the job on the worker, with the local command's own errors. Apart from
 * submit.ts (compare, cv, predict), so a submitting prepare loads none of training's modules.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Queue } from 'bullmq';
import { DEFAULT_RECORDS_PER_SHARD } from '../data/shards.js';
import { CROP_MODES, validatePreprocessConfig } from '../dicom/preprocess.js';
import { DEFAULT_WINDOWS, parseWindows } from '../dicom/window.js';
import { oneOf } from '../util/validate.js';
import { type FollowOptions, positive, type Submitted, submitFlow } from './flow.js';
import {
  canonicalJson,
  concurrencyOf,
  type FlowSpec,
  type JobData,
  jobId,
  type PrepareShardData,
  QUEUE_PREFIX,
} from './jobs.js';

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
    partition: 'block',
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
