/**
 * The prepare jobs, on the worker that took them: a shard runs `prepare --shard K/N` and publishes
 * its cache to STORE/work/<job id>; the merge joins the published shards into the prepare's --out.
 * Kept apart from the training and predict jobs (runners.ts, predict.ts) so that a job process
 * that runs only prepare jobs loads prepare's modules alone, not the models'.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { merge } from '../commands/merge.js';
import { prepare } from '../commands/prepare.js';
import { preparePool } from '../data/prepare.js';
import { encodeSlice } from '../dicom/write.js';
import type { WorkerPool } from '../util/pool.js';
import { type Reporter, silentReporter } from '../util/reporter.js';
import type { PrepareMergeData, PrepareShardData } from './jobs.js';
import { checkPublished, type Manifest, type ManifestFile, publish } from './publish.js';

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

/** Slices the warm-up writes and prepares: enough for the hot loops to be compiled optimised. */
export const WARM_SLICES = 24;

/**
 * Readies this job process for shard jobs before it takes one: its modules are loaded (by
 * importing this file), and a one-thread pool (the default `--workers 1` of a shard job) has run
 * a real prepare of a small generated series (512² 12-bit slices → a 256² cache, hashed as a shard
 * job hashes) in a local temporary folder. The first shard job then runs compiled code in the
 * decoder, the resize, the cache writer and the index, as every later one does (measured: the
 * first of two 1,500-slice shards took 1,257 ms against 980 ms for the second without this).
 */
export async function warmPrepare(): Promise<void> {
  await withLocalDir(async (local) => {
    const images = join(local, 'images');
    mkdirSync(images);
    const n = 512;
    const stored = new Int16Array(n * n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const r = Math.hypot(x - n / 2, y - n / 2) / (n / 2);
        // Air outside, a bright skull ring, brain inside (stored = HU + 1024).
        stored[y * n + x] = r > 0.8 ? 0 : r > 0.72 ? 2024 : 1054 + ((x * 7 + y * 3) % 23);
      }
    }
    for (let i = 0; i < WARM_SLICES; i++) {
      const bytes = encodeSlice({
        rows: n,
        cols: n,
        stored,
        bitsAllocated: 16,
        bitsStored: 12,
        pixelRepresentation: 1,
        rescaleSlope: 1,
        rescaleIntercept: -1024,
        patientId: 'ID_warm',
        studyInstanceUid: '2.25.1',
        seriesInstanceUid: '2.25.2',
        sopInstanceUid: `2.25.3.${i + 1}`,
        imagePositionPatient: [0, 0, 5 * i],
        instanceNumber: i + 1,
        modality: 'CT',
      });
      writeFileSync(join(images, `ID_warm${String(i).padStart(3, '0')}.dcm`), bytes);
    }
    await prepare({
      images,
      out: join(local, 'cache'),
      size: 256,
      hash: true,
      workers: 1,
      pool: sharedPool(1),
      progress: false,
      reporter: silentReporter,
    });
  });
}

/** `prepare --shard K/N` locally, then published to STORE/work/<id>. */
export async function runPrepareShard(d: PrepareShardData, c: JobContext): Promise<Manifest> {
  return withLocalDir(async (local) => {
    const out = join(local, 'cache');
    const t0 = performance.now();
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
      // Contiguous runs of the file list: the merge takes the shard files as they are.
      partition: d.partition,
      // Hashed as they are committed: publishing reads no pixel data back.
      hash: true,
      workers: d.workers,
      pool: sharedPool(d.workers),
      progress: false,
      reporter: c.reporter,
      ...(c.signal && { signal: c.signal }),
    });
    const t1 = performance.now();
    const m = await publish(
      out,
      shardDir(c.store, c.id),
      c.id,
      { files: r.files, cached: r.cached, rejected: r.rejected },
      r.digests,
    );
    c.reporter.log(
      `prepare ${d.shard}: ${r.files} files in ${Math.round(t1 - t0)} ms, published in ${Math.round(performance.now() - t1)} ms`,
    );
    return m;
  });
}

/**
 * Merges the published shards (each checked whole against its manifest): the index is built
 * locally, and the shard jobs' files become the cache's as they are (hard links next to --out,
 * `merge` parts `list`), their sha256 taken from the shard manifests. The pixel data is written
 * once, by the shard jobs.
 */
export async function runPrepareMerge(d: PrepareMergeData, c: JobContext): Promise<Manifest> {
  const inputs = d.shards.map((id) => shardDir(c.store, id));
  const digests = new Map<string, ManifestFile>();
  for (const dir of inputs) {
    for (const f of checkPublished(dir).files) digests.set(join(dir, f.path), f);
  }
  return withLocalDir(async (local) => {
    const out = join(local, 'cache');
    const t0 = performance.now();
    const r = await merge({ out, inputs, progress: false, parts: 'list' });
    const t1 = performance.now();
    const known: ManifestFile[] = [];
    for (const p of r.parts) {
      const f = digests.get(p.source);
      if (f !== undefined) known.push({ path: p.path, bytes: f.bytes, sha256: f.sha256 });
    }
    const m = await publish(
      out,
      d.out,
      c.id,
      { cached: r.cached, rejected: r.rejected },
      known,
      r.parts.map((p) => ({ path: p.path, source: p.source })),
    );
    c.reporter.log(
      `merge: index of ${r.cached} slices in ${Math.round(t1 - t0)} ms, published with ${r.parts.length} shard files in ${Math.round(performance.now() - t1)} ms`,
    );
    return m;
  });
}
