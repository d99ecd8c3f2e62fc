/**
 * The preprocessed slice cache that `ichdet prepare` writes and training reads. This module
 * holds the format (constants, schema, config) and reads caches; cache-writer.ts writes them.
 *
 * Layout of a cache folder:
 *
 *   CACHE/index.sqlite            SQLite (WAL mode): tables `config`, `slices`, `rejects`
 *   CACHE/shards/shard-NNNN.bin   fixed-size uint8 records, at most `recordsPerShard` per file
 *   CACHE/rejects.csv             file,reason of every file that could not be cached
 *   CACHE/labels-report.txt       what label curation found (when --labels was given)
 *   CACHE/config.json             the config table, for humans
 *   CACHE/README.md               this description, with the cache's numbers filled in
 *
 * A record is one slice: size × size × C bytes, row-major, channels interleaved (HWC), each
 * value round(255 × window(HU)) exactly as `readWindowedUint8` computes it. Record `r` of shard
 * `s` starts at byte r × recordBytes of `shards/shard-<s, 4 digits>.bin`, so any slice is read
 * with one positioned read and nothing else is loaded. A slot whose file was rejected, or that a
 * shard cache (`--shard K/N`) does not own, holds zero bytes and has no index row.
 *
 * Slots are deterministic: `prepare` gives the i-th file of the sorted file list slot i (a
 * `--shard K/N` cache gives its j-th own file slot j), so bytes land at the same positions
 * however the run was scheduled, interrupted or resumed. Readers never compute a position from
 * a slot: each row names its shard file and record. A cache merged with parts `link` (what
 * `prepare --queue` publishes) keeps its partitions' shard files, numbered on in partition order,
 * so a file may hold fewer than `recordsPerShard` records (see data/merge.ts).
 *
 * Table `slices` has one row per cached slice (see SCHEMA); label columns are NULL when the
 * image has no label for that column. `config` is a key/value table (values JSON): the
 * preprocessing config (format, version, size, windows, channels, rsna_fix, crop, record_bytes,
 * records_per_shard, created_at) that every reader checks, and the job that made it (images,
 * file_count, file_list_sha256, shard, labels, complete).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CropMode } from '../dicom/preprocess.js';
import type { Window } from '../dicom/window.js';
import { ConfigError, InputError } from '../errors.js';
import { SHARD_DIR, shardPath } from './shards.js';
import { type CacheIndexRow, LABEL_NAMES, type Labels } from './types.js';

/** Version of this layout; a reader refuses other versions. */
export const CACHE_FORMAT = 1;
export const INDEX_FILE = 'index.sqlite';

/** What decides the bytes of a record: checked by every reader and by a resumed prepare. */
export interface CacheConfig {
  format: number;
  /** ichdet version (package.json) that wrote the cache. */
  version: string;
  size: number;
  windows: Window[];
  channels: number;
  rsnaFix: boolean;
  /** `head`: each slice was cropped to the square around the head before resizing. */
  crop: CropMode;
  recordBytes: number;
  recordsPerShard: number;
  /** ISO time the cache was created; informational, never compared. */
  createdAt: string;
}

/** The job that filled the cache: checked when a prepare resumes. */
export interface CacheJob {
  /** Absolute images folder; `source` columns are relative to it. */
  images: string;
  /** Files in the whole sorted list (all partitions). */
  fileCount: number;
  /** sha256 of the sorted relative paths, one per line. */
  fileListSha256: string;
  /** `K/N` (1-based K); `1/1` for a whole cache. */
  shard: string;
  /** `block` when `shard` is the K-th of N contiguous runs of the file list; absent: every N-th file. */
  partition?: 'block';
  /** Slots this cache owns (files of its partition). */
  slots: number;
  /** The label CSV used, or null. */
  labels: string | null;
  /** True once the final step (labels, neighbours, rejects.csv) has run. */
  complete: boolean;
  /** What restricted the files (`prepare --split`); absent for a whole folder. */
  selection?: string;
}

/** What a command needs from a cache; any field left out is not checked. */
export interface CacheExpectation {
  size?: number;
  windows?: readonly Pick<Window, 'center' | 'width'>[];
  channels?: number;
  rsnaFix?: boolean;
}

/** The label columns, in LABEL_NAMES order (`any` is quoted in SQL). */
export const LABEL_COLUMNS = LABEL_NAMES.map((n) => `"${n}"`);

/**
 * The `slices` columns a file's header gives (ids, position, order, labels, geometry, rescale):
 * shared by the cache (which adds the slot) and the metadata index of `ichdet index`.
 */
export const SLICE_HEADER_COLUMNS_SQL = `
  image_id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL,
  study_uid TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  z REAL,
  instance_number INTEGER,
  slice_index INTEGER,
  prev_id TEXT,
  next_id TEXT,
  ${LABEL_COLUMNS.map((c) => `${c} INTEGER`).join(',\n  ')},
  source TEXT NOT NULL UNIQUE,
  file_index INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  cols INTEGER NOT NULL,
  pixel_spacing_row REAL,
  pixel_spacing_col REAL,
  slope REAL NOT NULL,
  intercept REAL NOT NULL,
  bits_stored INTEGER NOT NULL,
  pixel_representation INTEGER NOT NULL,
  rsna_fix_applied INTEGER NOT NULL`;

/** Tables of a cache's index.sqlite. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slices (${SLICE_HEADER_COLUMNS_SQL},
  shard INTEGER NOT NULL,
  record INTEGER NOT NULL,
  context INTEGER NOT NULL DEFAULT 0,
  UNIQUE (shard, record)
);
CREATE INDEX IF NOT EXISTS slices_series ON slices (series_uid);
CREATE TABLE IF NOT EXISTS rejects (
  source TEXT PRIMARY KEY,
  file_index INTEGER NOT NULL,
  reason TEXT NOT NULL
);
`;

/** One `slices` row as stored (labels as columns). */
export interface SliceRow {
  image_id: string;
  patient_id: string;
  study_uid: string;
  series_uid: string;
  z: number | null;
  instance_number: number | null;
  slice_index: number | null;
  prev_id: string | null;
  next_id: string | null;
  epidural: number | null;
  intraparenchymal: number | null;
  intraventricular: number | null;
  subarachnoid: number | null;
  subdural: number | null;
  any: number | null;
  source: string;
  file_index: number;
  rows: number;
  cols: number;
  pixel_spacing_row: number | null;
  pixel_spacing_col: number | null;
  slope: number;
  intercept: number;
  bits_stored: number;
  pixel_representation: number;
  rsna_fix_applied: number;
  shard: number;
  record: number;
  /**
   * 1 for a context row: a slice cached only as a neighbour of selected ones
   * (`prepare --split`), never trained or evaluated on unless a split selects it. Absent (read
   * as 0) in caches written before the column existed.
   */
  context?: number;
}

export interface RejectRow {
  source: string;
  file_index: number;
  reason: string;
}

/** The columns of `slices`, in table order. */
export const SLICE_COLUMNS: readonly (keyof SliceRow)[] = [
  'image_id',
  'patient_id',
  'study_uid',
  'series_uid',
  'z',
  'instance_number',
  'slice_index',
  'prev_id',
  'next_id',
  ...LABEL_NAMES,
  'source',
  'file_index',
  'rows',
  'cols',
  'pixel_spacing_row',
  'pixel_spacing_col',
  'slope',
  'intercept',
  'bits_stored',
  'pixel_representation',
  'rsna_fix_applied',
  'shard',
  'record',
  'context',
];

export { DEFAULT_RECORDS_PER_SHARD, SHARD_DIR, shardPath } from './shards.js';

/** The ichdet version from package.json. */
export function ichdetVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export type Db = Database.Database;

/** Opens (creating when asked) the index database in WAL mode. */
export function openIndex(dir: string, create: boolean): Db {
  const path = join(dir, INDEX_FILE);
  if (!create && !existsSync(path)) {
    throw new InputError(`${dir} is not an ichdet cache: ${INDEX_FILE} not found`);
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a killed process; a power cut may lose the last
  // commits, which only makes a rerun redo those slices (rows never precede durable bytes).
  db.pragma('synchronous = NORMAL');
  if (create) {
    db.exec(SCHEMA);
    // A cache written before the context column: add it (every row then reads 0).
    const cols = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('slices');
    if (!cols.includes('context')) {
      db.exec('ALTER TABLE slices ADD COLUMN context INTEGER NOT NULL DEFAULT 0');
    }
  }
  return db;
}

function readConfigTable(db: Db, dir: string): Map<string, unknown> {
  let rows: { key: string; value: string }[];
  try {
    rows = db.prepare('SELECT key, value FROM config').all() as typeof rows;
  } catch {
    throw new InputError(`${dir} is not an ichdet cache: ${INDEX_FILE} has no config table`);
  }
  return new Map(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
}

/** Reads the config and job of an open index. */
export function loadConfig(db: Db, dir: string): { config: CacheConfig; job: CacheJob } {
  const t = readConfigTable(db, dir);
  const get = <T>(key: string): T => {
    if (!t.has(key)) throw new InputError(`${dir}: cache config has no "${key}" entry`);
    return t.get(key) as T;
  };
  const format = get<number>('format');
  if (format !== CACHE_FORMAT) {
    throw new ConfigError(
      `${dir}: cache format is ${format}, expected ${CACHE_FORMAT} (prepare the cache again with this ichdet)`,
    );
  }
  return {
    config: {
      format,
      version: get('version'),
      size: get('size'),
      windows: get('windows'),
      channels: get('channels'),
      rsnaFix: get('rsna_fix'),
      // Caches made before the crop existed were not cropped.
      crop: t.has('crop') ? (t.get('crop') as CropMode) : 'none',
      recordBytes: get('record_bytes'),
      recordsPerShard: get('records_per_shard'),
      createdAt: get('created_at'),
    },
    job: {
      images: get('images'),
      fileCount: get('file_count'),
      fileListSha256: get('file_list_sha256'),
      shard: get('shard'),
      slots: get('slots'),
      labels: get('labels'),
      complete: get('complete'),
      ...(t.has('selection') && { selection: t.get('selection') as string }),
      ...(t.get('partition') === 'block' && { partition: 'block' as const }),
    },
  };
}

function windowsText(ws: readonly Pick<Window, 'center' | 'width'>[]): string {
  return ws.map((w) => `${w.center}/${w.width}`).join(',');
}

/**
 * Compares two values of a config field.
 *
 * @throws ConfigError `cache ... was prepared with size 128, expected 256`.
 */
export function checkField(
  dir: string,
  field: string,
  actual: unknown,
  expected: unknown,
  hint = '',
): void {
  const a = typeof actual === 'string' ? actual : JSON.stringify(actual);
  const e = typeof expected === 'string' ? expected : JSON.stringify(expected);
  if (a !== e) {
    throw new ConfigError(
      `cache ${dir} has ${field} ${a}, expected ${e}${hint ? ` (${hint})` : ''}`,
    );
  }
}

/** Checks what a command needs against a cache's config. */
export function checkExpectation(dir: string, c: CacheConfig, e: CacheExpectation): void {
  if (e.size !== undefined) checkField(dir, 'size', c.size, e.size);
  if (e.channels !== undefined) checkField(dir, 'channels', c.channels, e.channels);
  if (e.rsnaFix !== undefined) checkField(dir, 'rsna_fix', c.rsnaFix, e.rsnaFix);
  if (e.windows !== undefined) {
    checkField(dir, 'windows', windowsText(c.windows), windowsText(e.windows));
  }
}

/** Converts a stored label column (NULL = unlabelled) to the Labels convention (-1). */
function labelsOf(r: SliceRow): Labels {
  return LABEL_NAMES.map((n) => r[n] ?? -1) as Labels;
}

export interface OpenCacheOptions extends CacheExpectation {
  /** Open a cache whose prepare has not finished (info does; training does not). */
  allowIncomplete?: boolean;
}

/** A cache opened for reading. */
export interface Cache {
  readonly dir: string;
  readonly config: CacheConfig;
  readonly job: CacheJob;
  /** Slices in the index. */
  count(): number;
  /** Every slice, in slot order (shard, record), as `split` and training need them. */
  rows(): CacheIndexRow[];
  /** Full index rows, in the same order as rows(). */
  sliceRows(): SliceRow[];
  rejects(): RejectRow[];
  /** One record by image id or by position in rows(); `out` is reused when it has the size. */
  read(key: string | number, out?: Uint8Array): Uint8Array;
  /**
   * Many records, reads sorted by file offset; results in the order asked. The returned arrays
   * are views of one buffer (or of `out`, when it holds ids.length records).
   */
  readBatch(keys: readonly (string | number)[], out?: Uint8Array): Uint8Array[];
  close(): void;
}

/**
 * Opens a cache for reading and checks its config against what the caller needs.
 *
 * @throws InputError when the folder is not a cache; ConfigError when its config differs from
 *   `opts` (naming the field, the cache's value and the expected one) or it is incomplete.
 */
export function openCache(dir: string, opts: OpenCacheOptions = {}): Cache {
  if (!existsSync(dir)) throw new InputError(`no such cache folder: ${dir}`);
  const db = openIndex(dir, false);
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(db, dir);
    checkExpectation(dir, loaded.config, opts);
    if (!loaded.job.complete && !opts.allowIncomplete) {
      throw new ConfigError(
        `cache ${dir} is incomplete (its prepare was interrupted or is running); run the same prepare command again to finish it`,
      );
    }
  } catch (err) {
    db.close();
    throw err;
  }
  const { config, job } = loaded;
  const all = db.prepare('SELECT * FROM slices ORDER BY shard, record').all() as SliceRow[];
  const byId = new Map<string, number>();
  for (const [i, r] of all.entries()) byId.set(r.image_id, i);
  const fds = new Map<number, number>();
  const rb = config.recordBytes;

  const locate = (key: string | number): SliceRow => {
    const i = typeof key === 'number' ? key : byId.get(key);
    const row = i === undefined ? undefined : all[i];
    if (!row) {
      throw new InputError(
        typeof key === 'number'
          ? `cache ${dir}: slice index ${key} out of range [0, ${all.length})`
          : `cache ${dir}: no slice with image id "${key}"`,
      );
    }
    return row;
  };
  const fdOf = (shard: number): number => {
    let fd = fds.get(shard);
    if (fd === undefined) {
      fd = openSync(shardPath(dir, shard), 'r');
      fds.set(shard, fd);
    }
    return fd;
  };
  const readInto = (row: SliceRow, dst: Uint8Array): void => {
    const n = readSync(fdOf(row.shard), dst, 0, rb, row.record * rb);
    if (n !== rb) {
      throw new InputError(
        `cache ${dir}: ${shardPath(dir, row.shard)} is short: record ${row.record} gave ${n} of ${rb} bytes`,
      );
    }
  };

  return {
    dir,
    config,
    job,
    count: () => all.length,
    rows: () =>
      all.map((r) => ({
        imageId: r.image_id,
        patientId: r.patient_id,
        studyInstanceUid: r.study_uid,
        seriesInstanceUid: r.series_uid,
        z: r.z ?? Number.NaN,
        sliceIndex: r.slice_index ?? 0,
        labels: labelsOf(r),
        ...(r.context === 1 && { context: true }),
      })),
    sliceRows: () => all.map((r) => ({ ...r })),
    rejects: () => db.prepare('SELECT * FROM rejects ORDER BY file_index').all() as RejectRow[],
    read(key, out) {
      const row = locate(key);
      const dst = out !== undefined && out.length === rb ? out : new Uint8Array(rb);
      readInto(row, dst);
      return dst;
    },
    readBatch(keys, out) {
      const n = keys.length;
      const buf = out !== undefined && out.length === n * rb ? out : new Uint8Array(n * rb);
      const rowsAsked = keys.map(locate);
      const order = rowsAsked.map((_, i) => i);
      order.sort((a, b) => {
        const ra = rowsAsked[a]!;
        const rb2 = rowsAsked[b]!;
        return ra.shard - rb2.shard || ra.record - rb2.record;
      });
      for (const i of order) readInto(rowsAsked[i]!, buf.subarray(i * rb, (i + 1) * rb));
      return rowsAsked.map((_, i) => buf.subarray(i * rb, (i + 1) * rb));
    },
    close() {
      for (const fd of fds.values()) closeSync(fd);
      fds.clear();
      db.close();
    },
  };
}

/**
 * Checksums of what a reader of a cache sees, whatever files hold the records: a canonical dump
 * of the index (every `slices` row by image id without its shard and record, every `rejects` row
 * by source, the config without created_at and images), every record's bytes by image id, and the
 * image ids in the order `rows()` gives them. A cache merged from `prepare --queue`'s partitions
 * (whose records stay in the partitions' files) equals the single prepare's in all three.
 */
export function cacheContent(dir: string): { index: string; records: string; order: string } {
  const cache = openCache(dir);
  try {
    const h = createHash('sha256');
    const rows = cache.sliceRows().sort((a, b) => (a.image_id < b.image_id ? -1 : 1));
    for (const { shard: _s, record: _r, ...rest } of rows) h.update(`${JSON.stringify(rest)}\n`);
    for (const r of [...cache.rejects()].sort((a, b) => (a.source < b.source ? -1 : 1))) {
      h.update(`${JSON.stringify(r)}\n`);
    }
    const db = openIndex(dir, false);
    try {
      const skip = new Set(['created_at', 'images']);
      for (const r of db.prepare('SELECT key, value FROM config ORDER BY key').all() as {
        key: string;
        value: string;
      }[]) {
        if (!skip.has(r.key)) h.update(`${r.key}=${r.value}\n`);
      }
    } finally {
      db.close();
    }
    const records = createHash('sha256');
    const buf = new Uint8Array(cache.config.recordBytes);
    for (const r of rows) records.update(cache.read(r.image_id, buf));
    const order = createHash('sha256');
    for (const r of cache.rows()) order.update(`${r.imageId}\n`);
    return { index: h.digest('hex'), records: records.digest('hex'), order: order.digest('hex') };
  } finally {
    cache.close();
  }
}

/**
 * Checksums that say whether two caches are the same, files and all: sha256 of every shard file,
 * and of a canonical dump of the index (every `slices` row by image id, every `rejects` row by source,
 * and the config without created_at and images).
 */
export function cacheChecksums(dir: string): { index: string; shards: Record<string, string> } {
  const db = openIndex(dir, false);
  try {
    const h = createHash('sha256');
    for (const r of db.prepare('SELECT * FROM slices ORDER BY image_id').iterate()) {
      h.update(`${JSON.stringify(r)}\n`);
    }
    for (const r of db.prepare('SELECT * FROM rejects ORDER BY source').iterate()) {
      h.update(`${JSON.stringify(r)}\n`);
    }
    const skip = new Set(['created_at', 'images']);
    for (const r of db.prepare('SELECT key, value FROM config ORDER BY key').all() as {
      key: string;
      value: string;
    }[]) {
      if (!skip.has(r.key)) h.update(`${r.key}=${r.value}\n`);
    }
    const shards: Record<string, string> = {};
    const sdir = join(dir, SHARD_DIR);
    if (existsSync(sdir)) {
      for (const f of readdirSync(sdir).sort()) {
        shards[f] = createHash('sha256')
          .update(readFileSync(join(sdir, f)))
          .digest('hex');
      }
    }
    return { index: h.digest('hex'), shards };
  } finally {
    db.close();
  }
}
