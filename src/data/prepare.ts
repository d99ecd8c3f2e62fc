/**
 * The engine of `ichdet prepare`: DICOM folder → slice cache (layout in data/cache.ts).
 *
 * Resumable and crash-safe by construction:
 * 1. The sorted file list fixes each file's slot (`--shard K/N` keeps files with
 *    fileIndex % N === K − 1, or with partition `block` the K-th of N contiguous runs of the
 *    list; the j-th of them in slot j), so a record's position never depends on timing, worker
 *    count or interruptions.
 * 2. Batches are decoded on worker threads but committed in list order. A commit writes the
 *    batch's records at their slots (pwrite), fdatasyncs the shard files, and only then inserts
 *    the batch's index rows and rejects in ONE SQLite transaction. An index row therefore exists
 *    only for bytes already on disk: a kill at any moment leaves durable, indexed records plus
 *    perhaps unindexed bytes that a rerun rewrites with the same values.
 * 3. A rerun lists the same files (the list's sha256 is in the config; a different list, or
 *    other options, is a ConfigError), skips every file already in `slices` or `rejects`, and
 *    goes on. Because commits are in order, what is done is always a prefix of the work.
 * 4. The final step is idempotent: label columns from the CSV, slice order and neighbours per
 *    series, shard files sized to hold every slot, rejects.csv, README.md, config.json.
 *
 * Two files with the same image id (SOPInstanceUID): the first in list order is cached, the
 * later one is rejected as a duplicate and its slot stays zero.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { CropMode } from '../dicom/preprocess.js';
import type { Window } from '../dicom/window.js';
import { ConfigError, checkAborted } from '../errors.js';
import { listFiles, writeFileAtomic } from '../util/files.js';
import { acquireLock } from '../util/lock.js';
import { WorkerPool } from '../util/pool.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import {
  type CacheConfig,
  type CacheJob,
  checkField,
  type Db,
  INDEX_FILE,
  ichdetVersion,
  loadConfig,
  openIndex,
  SHARD_DIR,
  type SliceRow,
} from './cache.js';
import {
  cacheReadme,
  type FileDigest,
  LOCK_FILE,
  ShardWriter,
  saveConfig,
} from './cache-writer.js';
import {
  type CoverageReport,
  formatLabelsReport,
  type LabelTable,
  labelCoverage,
} from './labels.js';
import type { DecodedMeta, PrepareBatch, PrepareBatchResult, PrepareFile } from './prepare-task.js';
import { compareSlices } from './series.js';
import { LABEL_NAMES } from './types.js';

export interface ShardSpec {
  /** 1-based partition number. */
  k: number;
  n: number;
}

/**
 * How `--shard K/N` splits the sorted file list: every N-th file (`mod`, the default), or N
 * contiguous runs (`block`: `prepare --queue` uses it, so the partitions' shard files, one after
 * the other, hold the records in file order and become the merged cache's files as they are).
 */
export type Partition = 'mod' | 'block';
export const PARTITIONS: readonly Partition[] = ['mod', 'block'];

/** The files [lo, hi) of the list that partition K/N `block` owns: sizes differ by at most 1. */
export function blockRange(s: ShardSpec, files: number): [number, number] {
  return [Math.floor(((s.k - 1) * files) / s.n), Math.floor((s.k * files) / s.n)];
}

/** Options after validation (see commands/prepare.ts). */
export interface PrepareJob {
  images: string;
  out: string;
  labels: LabelTable | undefined;
  labelsPath: string | undefined;
  size: number;
  windows: Window[];
  rsnaFix: boolean;
  /** Crop each slice to the head before resizing (default none). */
  crop: CropMode;
  workers: number;
  shard: ShardSpec;
  partition: Partition;
  recordsPerShard: number;
  /**
   * Compute each shard file's sha256 while the prepare runs (the committed records read back in
   * the background while the workers decode), so a manifest need not read the files afterwards.
   */
  hash?: boolean | undefined;
  /** Files per worker task. */
  batch: number;
  progress: boolean;
  /** Progress events (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter | undefined;
  /** Stops dispatching files; what is done is committed, then `Interrupted` is thrown. */
  signal?: AbortSignal | undefined;
  /**
   * Cache only these files (`prepare --index … --split …`), in this order, instead of every
   * file of the images folder; context files are flagged as context rows.
   */
  selection?: Selection | undefined;
  /** Start even when the file system lacks the planned space. */
  force?: boolean | undefined;
  /**
   * Decoding threads already started, kept open after the prepare (a queue worker's shard jobs
   * share one); default: a pool of `workers` threads for this prepare only.
   */
  pool?: WorkerPool | undefined;
}

/** The files a restricted prepare caches (see meta-index.ts `selectWithContext`). */
export interface Selection {
  files: { rel: string; context: boolean }[];
  /** What chose them, for the cache's config (`split.csv [train,val] + context 2 of meta.sqlite`). */
  describe: string;
}

/** Bytes of index per record, measured on synthetic caches (SQLite row, key and WAL), rounded up. */
export const INDEX_BYTES_PER_RECORD = 1024;

/** The bytes a prepare will add: `records` × record size, plus its index rows. */
export function plannedBytes(records: number, recordBytes: number): number {
  return records * (recordBytes + INDEX_BYTES_PER_RECORD);
}

/** Bytes in a human unit (GiB, MiB, KiB). */
export function formatBytes(n: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [u, name] of units) if (n >= u) return `${(n / u).toFixed(1)} ${name}`;
  return `${n} B`;
}

/**
 * Says what a run will write and refuses to start one that does not fit.
 *
 * @throws ConfigError when `planned` exceeds the free bytes of `dir`'s file system, unless
 *   `force`.
 */
export function checkDiskSpace(
  dir: string,
  planned: number,
  o: { records: number; force: boolean; log: (line: string) => void },
): void {
  const st = statfsSync(dir);
  const free = st.bavail * st.bsize;
  o.log(
    `prepare: ${o.records} records to write, ${formatBytes(planned)} planned in ${dir}; ${formatBytes(free)} free`,
  );
  if (planned > free && !o.force) {
    throw new ConfigError(
      `not enough disk space for the cache in ${dir}: ${o.records} records need about ${formatBytes(planned)} (${planned} bytes), the file system has ${formatBytes(free)} (${free} bytes) free; free some space, choose another --out, a smaller --size or a --split, or pass --force to try anyway`,
    );
  }
}

export interface PrepareOutcome {
  out: string;
  /** Files of this partition. */
  files: number;
  /** Slices in the index at the end. */
  cached: number;
  /** Rejects at the end. */
  rejected: number;
  /** Files already done by an earlier run and skipped now. */
  resumed: number;
  /** Files decoded by this run. */
  processed: number;
  seconds: number;
  /** Files decoded by this run per second. */
  slicesPerSecond: number;
  coverage: CoverageReport | undefined;
  config: CacheConfig;
  /** The size and sha256 of each shard file (paths relative to `out`), with `hash`; else []. */
  digests: FileDigest[];
}

function taskModuleUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./prepare-task.${ext}`, import.meta.url);
}

/** A started pool of `size` decoding threads for prepares (`PrepareJob.pool`); close it after. */
export function preparePool(size: number): WorkerPool {
  const pool = new WorkerPool({ taskModule: taskModuleUrl(), size });
  pool.start();
  return pool;
}

/** Relative paths with `/` separators, so the list (and its hash) is the same on every OS. */
export function relPath(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}

export function fileListSha256(rels: readonly string[]): string {
  const h = createHash('sha256');
  for (const r of rels) h.update(`${r}\n`);
  return h.digest('hex');
}

/** Opens a new cache or checks that an existing one was started with the same job. */
function openOrResume(
  job: PrepareJob,
  config: CacheConfig,
  cacheJob: CacheJob,
): { db: Db; config: CacheConfig } {
  const out = job.out;
  const exists = existsSync(join(out, INDEX_FILE));
  if (!exists && existsSync(out)) {
    const entries = readdirSync(out).filter((e) => e !== SHARD_DIR && e !== LOCK_FILE);
    if (entries.length > 0) {
      throw new ConfigError(
        `--out must be a new or empty folder or an ichdet cache to resume, received "${out}" with ${entries.length} entries and no ${INDEX_FILE}`,
      );
    }
    // A shards/ folder with no index is a first run killed before its first commit.
    rmSync(join(out, SHARD_DIR), { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  const db = openIndex(out, true);
  try {
    const hasConfig = (db.prepare('SELECT COUNT(*) AS n FROM config').get() as { n: number }).n;
    if (!hasConfig) {
      saveConfig(db, config, cacheJob);
      return { db, config };
    }
    const old = loadConfig(db, out);
    const hint = 'run with the same options, or prepare into a new --out';
    checkField(out, 'version', old.config.version, config.version, hint);
    checkField(out, 'size', old.config.size, config.size, hint);
    checkField(
      out,
      'windows',
      old.config.windows.map((w) => `${w.center}/${w.width}`).join(','),
      config.windows.map((w) => `${w.center}/${w.width}`).join(','),
      hint,
    );
    checkField(out, 'rsna_fix', old.config.rsnaFix, config.rsnaFix, hint);
    checkField(out, 'crop', old.config.crop, config.crop, hint);
    checkField(out, 'records_per_shard', old.config.recordsPerShard, config.recordsPerShard, hint);
    checkField(out, 'shard', old.job.shard, cacheJob.shard, hint);
    checkField(out, 'partition', old.job.partition ?? 'mod', cacheJob.partition ?? 'mod', hint);
    checkField(out, 'images', old.job.images, cacheJob.images, hint);
    checkField(out, 'selection', old.job.selection ?? 'none', cacheJob.selection ?? 'none', hint);
    checkField(
      out,
      'file list',
      `of ${old.job.fileCount} files (sha256 ${old.job.fileListSha256.slice(0, 12)})`,
      `of ${cacheJob.fileCount} files (sha256 ${cacheJob.fileListSha256.slice(0, 12)})`,
      'the images folder changed since the cache was started',
    );
    const merged: CacheConfig = { ...config, createdAt: old.config.createdAt };
    saveConfig(db, merged, { ...cacheJob, complete: false });
    return { db, config: merged };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Lists the files, assigns slots, and returns the work not done yet. */
async function planWork(job: PrepareJob) {
  const all = job.selection
    ? job.selection.files.map((f) => f.rel)
    : (await listFiles([job.images])).map((f) => relPath(job.images, f));
  const context = new Set(job.selection?.files.filter((f) => f.context).map((f) => f.rel));
  const mine: PrepareFile[] = [];
  const [lo, hi] = blockRange(job.shard, all.length);
  const owns =
    job.partition === 'block'
      ? (i: number) => i >= lo && i < hi
      : (i: number) => i % job.shard.n === job.shard.k - 1;
  all.forEach((rel, fileIndex) => {
    if (owns(fileIndex)) {
      mine.push({ rel, fileIndex, slot: mine.length, ...(context.has(rel) && { context: true }) });
    }
  });
  return { all, mine };
}

const INSERT_SLICE = `INSERT INTO slices (image_id, patient_id, study_uid, series_uid, z,
  instance_number, source, file_index, rows, cols, pixel_spacing_row, pixel_spacing_col, slope,
  intercept, bits_stored, pixel_representation, rsna_fix_applied, shard, record, context)
  VALUES (@image_id, @patient_id, @study_uid, @series_uid, @z, @instance_number, @source,
  @file_index, @rows, @cols, @pixel_spacing_row, @pixel_spacing_col, @slope, @intercept,
  @bits_stored, @pixel_representation, @rsna_fix_applied, @shard, @record, @context)`;

/**
 * Commits decoded batches in list order, as a group commit: the workers have written a batch's
 * records at their slots (pwrite into the page cache); `stage` notes their shards, zeroes the
 * slot of a duplicate (its slot stays zero, as if never written) and queues the rows; `flush` fdatasyncs the shard
 * files (on the libuv thread pool, so decoding goes on meanwhile) and then inserts every queued
 * row in ONE transaction. Rows are inserted only after their bytes are durable.
 */
class Committer {
  private readonly insertSlice;
  private readonly insertReject;
  private readonly ids: Map<string, string>;
  private zeros: Uint8Array | undefined;
  private pending: {
    rows: Record<string, unknown>[];
    rejects: [string, number, string][];
    /** One past the highest slot of the batch. */
    end: number;
  }[] = [];
  private flushing: Promise<void> | undefined;
  /** Files whose rows are committed (for the progress bar). */
  committed = 0;
  constructor(
    private readonly db: Db,
    private readonly writer: ShardWriter,
    private readonly recordBytes: number,
    private readonly onCommit: (files: number) => void,
  ) {
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

  /** Queues a batch's rows (its records are written); starts a flush when none is running. */
  stage(r: PrepareBatchResult): void {
    const rows: Record<string, unknown>[] = [];
    const rejects: [string, number, string][] = [];
    let end = 0;
    for (const item of r.items) {
      end = Math.max(end, item.file.slot + 1);
      if (!item.ok) {
        rejects.push([item.file.rel, item.file.fileIndex, item.reason]);
        continue;
      }
      const m = item.meta;
      const other = this.ids.get(m.imageId);
      if (other !== undefined) {
        rejects.push([item.file.rel, item.file.fileIndex, duplicateReason(m.imageId, other)]);
        this.zeros ??= new Uint8Array(this.recordBytes);
        this.writer.write(item.file.slot, this.zeros);
        continue;
      }
      this.ids.set(m.imageId, item.file.rel);
      this.writer.written(item.file.slot);
      const { shard, record } = this.writer.locate(item.file.slot);
      rows.push({
        ...sliceRowOf(m, item.file),
        shard,
        record,
        context: item.file.context === true ? 1 : 0,
      });
    }
    this.pending.push({ rows, rejects, end });
    this.flushing ??= this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending;
        this.pending = [];
        await this.writer.syncAsync();
        let files = 0;
        this.db.transaction(() => {
          for (const g of group) {
            for (const row of g.rows) this.insertSlice.run(row);
            for (const rj of g.rejects) this.insertReject.run(...rj);
            files += g.rows.length + g.rejects.length;
          }
        })();
        this.committed += files;
        this.onCommit(files);
        // Batches commit in list order: every slot below the last one's end is final now.
        this.writer.hashCommitted(Math.max(...group.map((g) => g.end)));
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Waits until everything staged is committed. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}

export function duplicateReason(imageId: string, other: string): string {
  return `duplicate image id ${imageId} (already cached from ${other})`;
}

/**
 * The per-file columns of a slice row that `prepare` and `index` both record (the header's ids,
 * position, geometry and rescale, and the file's place in the list): one mapping for both.
 */
export function sliceRowOf(m: DecodedMeta, file: { rel: string; fileIndex: number }) {
  return {
    image_id: m.imageId,
    patient_id: m.patientId,
    study_uid: m.studyUid,
    series_uid: m.seriesUid,
    z: m.z,
    instance_number: m.instanceNumber,
    source: file.rel,
    file_index: file.fileIndex,
    rows: m.rows,
    cols: m.cols,
    pixel_spacing_row: m.pixelSpacing?.[0] ?? null,
    pixel_spacing_col: m.pixelSpacing?.[1] ?? null,
    slope: m.slope,
    intercept: m.intercept,
    bits_stored: m.bitsStored,
    pixel_representation: m.pixelRepresentation,
    rsna_fix_applied: m.rsnaFixApplied ? 1 : 0,
  };
}

/**
 * The idempotent final step: labels (`'keep'` leaves the label columns as they are), slice order and neighbours per series (by z, then instance
 * number, then image id; unknown z last), in one transaction.
 */
export function finalizeIndex(db: Db, labels: LabelTable | undefined | 'keep'): void {
  type Key = Pick<SliceRow, 'image_id' | 'series_uid' | 'z' | 'instance_number'>;
  const keys = db
    .prepare('SELECT image_id, series_uid, z, instance_number FROM slices')
    .all() as Key[];
  const series = new Map<string, Key[]>();
  for (const k of keys) {
    const s = series.get(k.series_uid);
    if (s) s.push(k);
    else series.set(k.series_uid, [k]);
  }
  const setOrder = db.prepare(
    'UPDATE slices SET slice_index = ?, prev_id = ?, next_id = ? WHERE image_id = ?',
  );
  const setLabels = db.prepare(
    `UPDATE slices SET ${LABEL_NAMES.map((n) => `"${n}" = ?`).join(', ')} WHERE image_id = ?`,
  );
  db.transaction(() => {
    for (const s of series.values()) {
      s.sort((a, b) =>
        compareSlices(
          { position: a.z, instanceNumber: a.instance_number, imageId: a.image_id },
          { position: b.z, instanceNumber: b.instance_number, imageId: b.image_id },
        ),
      );
      s.forEach((k, i) => {
        setOrder.run(i, s[i - 1]?.image_id ?? null, s[i + 1]?.image_id ?? null, k.image_id);
      });
    }
    if (labels === 'keep') return;
    for (const k of keys) {
      const l = labels?.labels.get(k.image_id);
      setLabels.run(...LABEL_NAMES.map((_, j) => (l && l[j]! >= 0 ? l[j]! : null)), k.image_id);
    }
  })();
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Writes rejects.csv, README.md and config.json from the index. */
export async function writeCacheFiles(
  out: string,
  db: Db,
  config: CacheConfig,
  job: CacheJob,
): Promise<{ cached: number; rejected: number }> {
  const rejects = db
    .prepare('SELECT source, reason FROM rejects ORDER BY file_index, source')
    .all() as { source: string; reason: string }[];
  const csv = ['file,reason', ...rejects.map((r) => `${csvField(r.source)},${csvField(r.reason)}`)];
  await writeFileAtomic(join(out, 'rejects.csv'), `${csv.join('\n')}\n`);
  const cached = (db.prepare('SELECT COUNT(*) FROM slices').pluck().get() as number) ?? 0;
  await writeFileAtomic(join(out, 'README.md'), cacheReadme(config, job, cached));
  await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify({ config, job }, null, 2)}\n`);
  return { cached, rejected: rejects.length };
}

/** Runs (or resumes) a prepare job; see the header comment for the guarantees. */
export async function runPrepare(job: PrepareJob): Promise<PrepareOutcome> {
  const start = performance.now();
  if (job.pool !== undefined) return runWithPool(job, job.pool, start);
  // Workers load their modules while the files are listed and the index is opened.
  const pool = preparePool(job.workers);
  try {
    return await runWithPool(job, pool, start);
  } finally {
    await pool.close();
  }
}

async function runWithPool(
  job: PrepareJob,
  pool: WorkerPool,
  start: number,
): Promise<PrepareOutcome> {
  const { all, mine } = await planWork(job);
  const channels = job.windows.length;
  const config: CacheConfig = {
    format: 1,
    version: ichdetVersion(),
    size: job.size,
    windows: job.windows.map((w) => ({ name: w.name, center: w.center, width: w.width })),
    channels,
    rsnaFix: job.rsnaFix,
    crop: job.crop,
    recordBytes: job.size * job.size * channels,
    recordsPerShard: job.recordsPerShard,
    createdAt: new Date().toISOString(),
  };
  const cacheJob: CacheJob = {
    images: job.images,
    fileCount: all.length,
    fileListSha256: fileListSha256(all),
    shard: `${job.shard.k}/${job.shard.n}`,
    ...(job.partition === 'block' && { partition: 'block' as const }),
    slots: mine.length,
    labels: job.labelsPath ?? null,
    complete: false,
    ...(job.selection && { selection: job.selection.describe }),
  };
  mkdirSync(job.out, { recursive: true });
  const release = acquireLock(join(job.out, LOCK_FILE), `cache ${job.out}`);
  let opened: ReturnType<typeof openOrResume>;
  try {
    opened = openOrResume(job, config, cacheJob);
  } catch (err) {
    release();
    throw err;
  }
  const db = opened.db;
  const writer = new ShardWriter(
    job.out,
    config.recordBytes,
    config.recordsPerShard,
    job.hash === true ? 'committed' : false,
  );
  // The workers write records into these files; they must exist before the first batch.
  writer.create(mine.length);
  let processed = 0;
  let resumed = 0;
  try {
    const done = new Set<string>([
      ...(db.prepare('SELECT source FROM slices').pluck().all() as string[]),
      ...(db.prepare('SELECT source FROM rejects').pluck().all() as string[]),
    ]);
    const todo = mine.filter((f) => !done.has(f.rel));
    resumed = mine.length - todo.length;
    const reporter = reporterOf(job);
    checkDiskSpace(job.out, plannedBytes(todo.length, config.recordBytes), {
      records: todo.length,
      force: job.force === true,
      log: (line) => reporter.log(line),
    });
    const bar = reporter.task({ total: todo.length, label: 'prepare', unit: 'slices' });
    const committer = new Committer(db, writer, config.recordBytes, (n) => bar.tick(n));
    try {
      const batches: PrepareFile[][] = [];
      for (let i = 0; i < todo.length; i += job.batch) batches.push(todo.slice(i, i + job.batch));
      const inflight: Promise<PrepareBatchResult>[] = [];
      const submit = (b: PrepareFile[]) => {
        const task: PrepareBatch = {
          images: job.images,
          out: job.out,
          recordsPerShard: config.recordsPerShard,
          files: b,
          windows: config.windows,
          size: config.size,
          rsnaFix: config.rsnaFix,
          crop: config.crop,
        };
        const p = pool.run<PrepareBatch, PrepareBatchResult>(task, `files ${b[0]?.rel} …`);
        p.catch(() => {});
        inflight.push(p);
      };
      const window = Math.max(2, job.workers * 3);
      let next = 0;
      while (next < batches.length && inflight.length < window) submit(batches[next++]!);
      while (inflight.length > 0) {
        const r = await inflight.shift()!;
        if (next < batches.length && job.signal?.aborted !== true) submit(batches[next++]!);
        committer.stage(r);
        processed += r.items.length;
      }
    } finally {
      // Also on an error: what was staged is committed (its bytes are written), then we stop.
      await committer.drain();
      bar.stop();
    }
    checkAborted(
      job.signal,
      `prepare stopped after ${processed} of ${todo.length} files; run the same command again to resume`,
    );
    finalizeIndex(db, job.labels);
    await writer.hashed();
    writer.finish(mine.length);
    let coverage: CoverageReport | undefined;
    if (job.labels) {
      const ids = new Set(db.prepare('SELECT image_id FROM slices').pluck().all() as string[]);
      coverage = labelCoverage(job.labels.labels.keys(), ids, job.labels.labels);
      await writeFileAtomic(
        join(job.out, 'labels-report.txt'),
        formatLabelsReport(job.labels.report, coverage),
      );
    }
    const finalJob = { ...cacheJob, complete: true };
    saveConfig(db, opened.config, finalJob);
    const { cached, rejected } = await writeCacheFiles(job.out, db, opened.config, finalJob);
    const seconds = (performance.now() - start) / 1000;
    return {
      out: job.out,
      files: mine.length,
      cached,
      rejected,
      resumed,
      processed,
      seconds,
      slicesPerSecond: seconds > 0 ? processed / seconds : 0,
      coverage,
      config: opened.config,
      digests: writer.digests(),
    };
  } finally {
    writer.close();
    db.close();
    release();
  }
}
