/**
 * The engine of `ichdet index`: images folder → metadata index (meta-index.ts), reading headers
 * only, on a pool of workers.
 *
 * Resumable the way `prepare` is (prepare.ts): the sorted file list fixes each file's
 * `file_index`; batches are read on worker threads but committed in list order, each batch's
 * rows and rejects in one SQLite transaction, so what is committed is always a prefix of the
 * work. A rerun lists the same files (their sha256 is in the config; another list or other
 * options is a ConfigError), skips every file already in `slices` or `rejects`, and goes on;
 * the idempotent final step (labels, slice order and neighbours) then gives the same file as an
 * uninterrupted run. Duplicate image ids are rejected as `prepare` rejects them: the first file
 * in list order is kept.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkAborted } from '../errors.js';
import { listFiles } from '../util/files.js';
import { acquireLock } from '../util/lock.js';
import { WorkerPool } from '../util/pool.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { checkField, type Db, ichdetVersion } from './cache.js';
import type { IndexBatch, IndexBatchResult, IndexFile } from './index-task.js';
import { type CoverageReport, type LabelTable, labelCoverage } from './labels.js';
import { loadMetaConfig, type MetaConfig, openMetaDb, saveMetaConfig } from './meta-index.js';
import { duplicateReason, fileListSha256, finalizeIndex, relPath, sliceRowOf } from './prepare.js';

/** Options after validation (see commands/index-meta.ts). */
export interface IndexJob {
  images: string;
  /** The index file (SQLite). */
  out: string;
  labels: LabelTable | undefined;
  labelsPath: string | undefined;
  rsnaFix: boolean;
  workers: number;
  /** Files per worker task. */
  batch: number;
  progress: boolean;
  reporter?: Reporter | undefined;
  /** Stops dispatching files; what is done is committed, then `Interrupted` is thrown. */
  signal?: AbortSignal | undefined;
}

export interface IndexOutcome {
  out: string;
  files: number;
  /** Slices in the index at the end. */
  indexed: number;
  rejected: number;
  /** Files done by an earlier run and skipped now. */
  resumed: number;
  /** Files read by this run. */
  processed: number;
  /** Bytes this run read from disk (header prefixes). */
  bytesRead: number;
  seconds: number;
  /** Files read by this run per second. */
  filesPerSecond: number;
  coverage: CoverageReport | undefined;
}

function taskModuleUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./index-task.${ext}`, import.meta.url);
}

const INSERT_SLICE = `INSERT INTO slices (image_id, patient_id, study_uid, series_uid, z,
  instance_number, source, file_index, rows, cols, pixel_spacing_row, pixel_spacing_col, slope,
  intercept, bits_stored, pixel_representation, rsna_fix_applied)
  VALUES (@image_id, @patient_id, @study_uid, @series_uid, @z, @instance_number, @source,
  @file_index, @rows, @cols, @pixel_spacing_row, @pixel_spacing_col, @slope, @intercept,
  @bits_stored, @pixel_representation, @rsna_fix_applied)`;

/** Opens a new index or checks that an existing one was started with the same job. */
function openOrResume(job: IndexJob, config: MetaConfig): { db: Db; config: MetaConfig } {
  const db = openMetaDb(job.out, true);
  try {
    const old = loadMetaConfig(db, job.out);
    if (old === undefined) {
      saveMetaConfig(db, config);
      return { db, config };
    }
    const hint = 'run with the same options, or index into a new --out';
    checkField(job.out, 'rsna_fix', old.rsnaFix, config.rsnaFix, hint);
    checkField(job.out, 'images', old.images, config.images, hint);
    checkField(job.out, 'labels', old.labels, config.labels, hint);
    checkField(
      job.out,
      'file list',
      `of ${old.fileCount} files (sha256 ${old.fileListSha256.slice(0, 12)})`,
      `of ${config.fileCount} files (sha256 ${config.fileListSha256.slice(0, 12)})`,
      'the images folder changed since the index was started',
    );
    const merged = { ...config, createdAt: old.createdAt, complete: false };
    saveMetaConfig(db, merged);
    return { db, config: merged };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Commits batch results in list order, one transaction per batch. */
class Committer {
  private readonly insertSlice;
  private readonly insertReject;
  private readonly ids: Map<string, string>;
  constructor(private readonly db: Db) {
    this.insertSlice = db.prepare(INSERT_SLICE);
    this.insertReject = db.prepare(
      'INSERT INTO rejects (source, file_index, reason) VALUES (?, ?, ?)',
    );
    const known = db.prepare('SELECT image_id, source FROM slices').all() as {
      image_id: string;
      source: string;
    }[];
    this.ids = new Map(known.map((r) => [r.image_id, r.source]));
  }

  commit(r: IndexBatchResult): void {
    this.db.transaction(() => {
      for (const item of r.items) {
        if (!item.ok) {
          this.insertReject.run(item.file.rel, item.file.fileIndex, item.reason);
          continue;
        }
        const m = item.meta;
        const other = this.ids.get(m.imageId);
        if (other !== undefined) {
          this.insertReject.run(
            item.file.rel,
            item.file.fileIndex,
            duplicateReason(m.imageId, other),
          );
          continue;
        }
        this.ids.set(m.imageId, item.file.rel);
        this.insertSlice.run(sliceRowOf(m, item.file));
      }
    })();
  }
}

/** Runs (or resumes) an index job; see the header comment for the guarantees. */
export async function runIndex(job: IndexJob): Promise<IndexOutcome> {
  const start = performance.now();
  const pool = new WorkerPool({ taskModule: taskModuleUrl(), size: job.workers });
  pool.start();
  try {
    return await runWithPool(job, pool, start);
  } finally {
    await pool.close();
  }
}

async function runWithPool(job: IndexJob, pool: WorkerPool, start: number): Promise<IndexOutcome> {
  const all = (await listFiles([job.images])).map((f) => relPath(job.images, f));
  const config: MetaConfig = {
    version: ichdetVersion(),
    images: job.images,
    fileCount: all.length,
    fileListSha256: fileListSha256(all),
    rsnaFix: job.rsnaFix,
    labels: job.labelsPath ?? null,
    createdAt: new Date().toISOString(),
    complete: false,
  };
  mkdirSync(dirname(job.out), { recursive: true });
  const release = acquireLock(`${job.out}.lock`, `metadata index ${job.out}`);
  let opened: ReturnType<typeof openOrResume>;
  try {
    opened = openOrResume(job, config);
  } catch (err) {
    release();
    throw err;
  }
  const db = opened.db;
  let processed = 0;
  let bytesRead = 0;
  try {
    const done = new Set<string>([
      ...(db.prepare('SELECT source FROM slices').pluck().all() as string[]),
      ...(db.prepare('SELECT source FROM rejects').pluck().all() as string[]),
    ]);
    const todo: IndexFile[] = [];
    all.forEach((rel, fileIndex) => {
      if (!done.has(rel)) todo.push({ rel, fileIndex });
    });
    const resumed = all.length - todo.length;
    const bar = reporterOf(job).task({ total: todo.length, label: 'index', unit: 'files' });
    const committer = new Committer(db);
    try {
      const batches: IndexFile[][] = [];
      for (let i = 0; i < todo.length; i += job.batch) batches.push(todo.slice(i, i + job.batch));
      const inflight: Promise<IndexBatchResult>[] = [];
      const submit = (b: IndexFile[]) => {
        const task: IndexBatch = { images: job.images, files: b, rsnaFix: job.rsnaFix };
        const p = pool.run<IndexBatch, IndexBatchResult>(task, `files ${b[0]?.rel} …`);
        p.catch(() => {});
        inflight.push(p);
      };
      const window = Math.max(2, job.workers * 3);
      let next = 0;
      while (next < batches.length && inflight.length < window) submit(batches[next++]!);
      while (inflight.length > 0) {
        const r = await inflight.shift()!;
        if (next < batches.length && job.signal?.aborted !== true) submit(batches[next++]!);
        committer.commit(r);
        processed += r.items.length;
        bytesRead += r.bytesRead;
        bar.tick(r.items.length);
      }
    } finally {
      bar.stop();
    }
    checkAborted(
      job.signal,
      `index stopped after ${processed} of ${todo.length} files; run the same command again to resume`,
    );
    finalizeIndex(db, job.labels);
    let coverage: CoverageReport | undefined;
    if (job.labels) {
      const ids = new Set(db.prepare('SELECT image_id FROM slices').pluck().all() as string[]);
      coverage = labelCoverage(job.labels.labels.keys(), ids, job.labels.labels);
    }
    saveMetaConfig(db, { ...opened.config, complete: true });
    db.pragma('wal_checkpoint(TRUNCATE)');
    const indexed = db.prepare('SELECT COUNT(*) FROM slices').pluck().get() as number;
    const rejected = db.prepare('SELECT COUNT(*) FROM rejects').pluck().get() as number;
    const seconds = (performance.now() - start) / 1000;
    return {
      out: job.out,
      files: all.length,
      indexed,
      rejected,
      resumed,
      processed,
      bytesRead,
      seconds,
      filesPerSecond: seconds > 0 ? processed / seconds : 0,
      coverage,
    };
  } finally {
    db.close();
    release();
  }
}
