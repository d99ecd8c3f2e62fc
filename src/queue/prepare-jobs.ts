/**
 * The prepare jobs, on the worker that took them: a shard runs `prepare --shard K/N` and publishes
 * its cache to STORE/work/<job id>; the merge joins the published shards into the prepare's --out.
 * Kept apart from the training and predict jobs (runners.ts, predict.ts) so that a job process
 * that runs only prepare jobs loads prepare's modules alone, not the models'.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { merge } from '../commands/merge.js';
import { prepare } from '../commands/prepare.js';
import { preparePool } from '../data/prepare.js';
import type { WorkerPool } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';
import type { PrepareMergeData, PrepareShardData } from './jobs.js';
import { checkPublished, type Manifest, publish } from './publish.js';

export interface JobContext {
  /** The shared folder every worker sees. */
  store: string;
  /** The job's id. */
  id: string;
  reporter: Reporter;
  signal?: AbortSignal;
}

/** Where a prepare shard job publishes its cache. */
export function shardDir(store: string, id: string): string {
  return join(store, 'work', id);
}

/** A folder on this machine's disk, removed after `fn`. */
export async function withLocalDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-job-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The decoding threads of this job process, by size, kept between its shard jobs (BullMQ reuses a
 * sandboxed job process for the next job): a shard does not pay for starting them again.
 */
const pools = new Map<number, WorkerPool>();

/** The kept pool of `size` threads (started on first use). */
export function sharedPool(size: number): WorkerPool {
  let pool = pools.get(size);
  if (pool === undefined) {
    pool = preparePool(size);
    pools.set(size, pool);
  }
  return pool;
}

/** `prepare --shard K/N` locally, then published to STORE/work/<id>. */
export async function runPrepareShard(d: PrepareShardData, c: JobContext): Promise<Manifest> {
  return withLocalDir(async (local) => {
    const out = join(local, 'cache');
    const r = await prepare({
      images: d.images,
      ...(d.labels !== undefined && { labels: d.labels }),
      out,
      size: d.size,
      ...(d.windows !== undefined && { windows: d.windows }),
      rsnaFix: d.rsnaFix,
      ...(d.crop !== undefined && { crop: d.crop }),
      recordsPerShard: d.recordsPerShard,
      shard: d.shard,
      workers: d.workers,
      pool: sharedPool(d.workers),
      progress: false,
      reporter: c.reporter,
      ...(c.signal && { signal: c.signal }),
    });
    return publish(out, shardDir(c.store, c.id), c.id, {
      files: r.files,
      cached: r.cached,
      rejected: r.rejected,
    });
  });
}

/** Merges the published shards (each checked whole against its manifest) locally, then publishes. */
export async function runPrepareMerge(d: PrepareMergeData, c: JobContext): Promise<Manifest> {
  const inputs = d.shards.map((id) => shardDir(c.store, id));
  for (const dir of inputs) checkPublished(dir);
  return withLocalDir(async (local) => {
    const out = join(local, 'cache');
    const r = await merge({ out, inputs, progress: false });
    // The shard files' sha256 were computed as the merge wrote them: not read back.
    return publish(out, d.out, c.id, { cached: r.cached, rejected: r.rejected }, r.digests);
  });
}
