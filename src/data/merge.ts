/**
 * `ichdet merge`: joins caches with the same preprocessing config into one.
 *
 * Partition mode: when every input is a `--shard K/N` cache of the same file list (same
 * file_list_sha256 and N, distinct K), each slice goes to slot = its file_index in the whole
 * list, exactly where a single `prepare` would have put it, and an image id found in two
 * partitions keeps the file earlier in the list (the later one becomes a reject, as in a
 * single run). The merge of all N partitions is then identical to a cache prepared in one go.
 *
 * General mode (any other set of caches): slices are packed in input order; an image id in
 * two inputs is an InputError naming both.
 *
 * Parts: `copy` (the default) rewrites every record at its slot, so a merge of partitions is
 * byte for byte the single prepare's cache. `link` writes only the index: the inputs' shard files
 * become the merged cache's, numbered on in input order (partitions by K), hard-linked (copied
 * where a link cannot be made), and each row names the file and record where its bytes already
 * are. Every record's bytes and every row but its (shard, record) are then those of `copy`; with
 * `block` partitions (`prepare --queue`) the rows' order (shard, record) is also file order, as
 * in a single prepare. A file may then hold fewer than records_per_shard records, and a slice
 * that became a reject (a duplicate across partitions) keeps its bytes, with no row naming them.
 * `list` is `link` that leaves the files to the caller (`MergeResult.parts`): a queued merge
 * links them next to the published cache.
 *
 * Not resumable: an interrupted merge leaves an incomplete cache; delete it and merge again. So
 * the shard files are made durable once, when they are complete, not after every batch; the
 * cache is marked complete only after that.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import { createProgress } from '../util/progress.js';
import { oneOf } from '../util/validate.js';
import {
  type Cache,
  type CacheConfig,
  type CacheJob,
  checkField,
  INDEX_FILE,
  loadConfig,
  openCache,
  openIndex,
  type RejectRow,
  SHARD_DIR,
  SLICE_COLUMNS,
  type SliceRow,
  shardPath,
} from './cache.js';
import { type FileDigest, ShardWriter, saveConfig } from './cache-writer.js';
import { duplicateReason, finalizeIndex, writeCacheFiles } from './prepare.js';

/** What a merge does with the records (see the header): rewrite them, or take the files. */
export type MergeParts = 'copy' | 'link' | 'list';
export const MERGE_PARTS: readonly MergeParts[] = ['copy', 'link', 'list'];

export interface MergeOptions {
  out: string;
  inputs: readonly string[];
  progress?: boolean;
  /** `copy` (default), `link` or `list`. */
  parts?: MergeParts;
}

/** A shard file of an input that became one of the merged cache's (`link`, `list`). */
export interface MergePart {
  /** Its path in the merged cache, relative to `out`. */
  path: string;
  /** The input's file (absolute). */
  source: string;
  bytes: number;
}

export interface MergeResult {
  out: string;
  mode: 'partition' | 'general';
  inputs: number;
  cached: number;
  rejected: number;
  /** Image ids found in two partitions (partition mode; the later file became a reject). */
  duplicates: number;
  seconds: number;
  /**
   * The size and sha256 of the shard files, computed while they were written (a queued merge's
   * manifest takes them instead of reading the pixel data back); paths relative to `out`.
   */
  digests: FileDigest[];
  /** The inputs' shard files the merged cache is made of (`link`, `list`); [] for `copy`. */
  parts: MergePart[];
}

/** The numbers of a cache's shard files, ascending. */
function shardNumbers(dir: string): number[] {
  const sdir = join(dir, SHARD_DIR);
  if (!existsSync(sdir)) return [];
  const out: number[] = [];
  for (const f of readdirSync(sdir)) {
    const m = /^shard-(\d+)\.bin$/.exec(f);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** A hard link of `source` at `dest`, or a copy where the file system cannot link. */
export function linkOrCopy(source: string, dest: string): void {
  try {
    linkSync(source, dest);
  } catch {
    copyFileSync(source, dest);
  }
}

const COMMIT_EVERY = 256;

function checkSameConfig(dir: string, c: CacheConfig, ref: CacheConfig, refDir: string): void {
  const hint = `as in ${refDir}; merge needs identical preprocessing`;
  checkField(dir, 'version', c.version, ref.version, hint);
  checkField(dir, 'size', c.size, ref.size, hint);
  checkField(
    dir,
    'windows',
    c.windows.map((w) => `${w.center}/${w.width}`).join(','),
    ref.windows.map((w) => `${w.center}/${w.width}`).join(','),
    hint,
  );
  checkField(dir, 'channels', c.channels, ref.channels, hint);
  checkField(dir, 'rsna_fix', c.rsnaFix, ref.rsnaFix, hint);
  checkField(dir, 'crop', c.crop, ref.crop, hint);
  checkField(dir, 'record_bytes', c.recordBytes, ref.recordBytes, hint);
}

function parseSpec(s: string): { k: number; n: number } {
  const [k, n] = s.split('/').map(Number);
  return { k: k ?? 1, n: n ?? 1 };
}

/** What a merge needs of an input cache besides its rows. */
interface Input {
  dir: string;
  config: CacheConfig;
  job: CacheJob;
}

/** Whether the inputs are distinct partitions (by the same rule) of one file list. */
function partitionMode(caches: readonly Input[]): boolean {
  const first = caches[0]!.job;
  const n = parseSpec(first.shard).n;
  const seen = new Map<string, string>();
  for (const c of caches) {
    if (
      c.job.fileListSha256 !== first.fileListSha256 ||
      parseSpec(c.job.shard).n !== n ||
      (c.job.partition ?? 'mod') !== (first.partition ?? 'mod')
    ) {
      return false;
    }
    const other = seen.get(c.job.shard);
    if (other !== undefined) {
      throw new ConfigError(
        `partition ${c.job.shard} of the same file list is given twice: ${other} and ${c.dir}`,
      );
    }
    seen.set(c.job.shard, c.dir);
  }
  return true;
}

/** The job entry of a merged cache (complete: false; set once it is). */
function mergedJob(
  inputs: readonly Input[],
  partition: boolean,
  slots: number,
  files: number,
): CacheJob {
  const ref = inputs[0]!;
  const specs = inputs.map((c) => parseSpec(c.job.shard));
  const n = specs[0]!.n;
  const whole = partition && specs.length === n;
  return {
    images: inputs.every((c) => c.job.images === ref.job.images) ? ref.job.images : '(merged)',
    fileCount: partition ? ref.job.fileCount : files,
    fileListSha256: partition ? ref.job.fileListSha256 : '(merged)',
    shard: whole
      ? '1/1'
      : partition
        ? `${specs
            .map((s) => s.k)
            .sort((a, b) => a - b)
            .join(',')}/${n}`
        : '1/1',
    slots,
    labels: inputs.every((c) => c.job.labels === ref.job.labels) ? ref.job.labels : '(merged)',
    complete: false,
  };
}

/** An input's config and job, read without its rows; it must be complete. */
function readInput(dir: string): Input {
  if (!existsSync(dir)) throw new InputError(`no such cache folder: ${dir}`);
  const db = openIndex(dir, false);
  try {
    const { config, job } = loadConfig(db, dir);
    if (!job.complete) {
      throw new ConfigError(
        `cache ${dir} is incomplete (its prepare was interrupted or is running); run the same prepare command again to finish it`,
      );
    }
    return { dir, config, job };
  } finally {
    db.close();
  }
}

/**
 * Parts `link` and `list`: the index alone is written, by SQLite from the attached input
 * indexes; the inputs' shard files are numbered on in layout order (partitions by K) and each row
 * keeps its record, its shard moved by its input's first number.
 */
async function linkMerge(
  o: MergeOptions,
  out: string,
  mode: 'link' | 'list',
  start: number,
): Promise<MergeResult> {
  const given = o.inputs.map((dir) => {
    if (resolve(dir) === out) throw new ConfigError(`--out must not be an input: "${dir}"`);
    return readInput(dir);
  });
  const ref = given[0]!;
  for (const c of given.slice(1)) checkSameConfig(c.dir, c.config, ref.config, ref.dir);
  const partition = partitionMode(given);
  const inputs = partition
    ? [...given].sort((a, b) => parseSpec(a.job.shard).k - parseSpec(b.job.shard).k)
    : given;

  const parts: MergePart[] = [];
  const bases: number[] = [];
  let next = 0;
  for (const c of inputs) {
    bases.push(next);
    const numbers = shardNumbers(c.dir);
    for (const s of numbers) {
      const source = shardPath(c.dir, s);
      parts.push({
        path: relative(out, shardPath(out, next + s)),
        source,
        bytes: statSync(source).size,
      });
    }
    next += numbers.length === 0 ? 0 : numbers[numbers.length - 1]! + 1;
  }

  mkdirSync(out, { recursive: true });
  const db = openIndex(out, true);
  try {
    // Built in one go in a folder nobody reads yet: no journal until it is done.
    db.pragma('main.journal_mode = OFF');
    db.pragma('main.synchronous = OFF');
    // One input attached at a time (SQLite attaches at most 10).
    const attached = <T>(i: number, fn: () => T): T => {
      db.prepare('ATTACH DATABASE ? AS src').run(join(inputs[i]!.dir, INDEX_FILE));
      try {
        return fn();
      } finally {
        db.exec('DETACH DATABASE src');
      }
    };
    // Which rows stay: in partition mode an image id's earliest file (a later one becomes a
    // reject, as in a single prepare); otherwise an image id in two inputs is an error.
    type Key = { image_id: string; source: string; file_index: number; input: number };
    const keys: Key[] = [];
    for (const i of inputs.keys()) {
      const rows = attached(
        i,
        () =>
          db.prepare('SELECT image_id, source, file_index FROM src.slices').all() as Omit<
            Key,
            'input'
          >[],
      );
      for (const r of rows) keys.push({ ...r, input: i });
    }
    if (partition) keys.sort((a, b) => a.file_index - b.file_index);
    const first = new Map<string, Key>();
    const duplicates: Key[] = [];
    for (const k of keys) {
      const f = first.get(k.image_id);
      if (f === undefined) first.set(k.image_id, k);
      else if (partition) duplicates.push(k);
      else {
        throw new InputError(
          `image id ${k.image_id} is in two caches: ${inputs[f.input]!.dir} (${f.source}) and ${inputs[k.input]!.dir} (${k.source})`,
        );
      }
    }
    db.exec('CREATE TEMP TABLE skip (input INTEGER NOT NULL, source TEXT NOT NULL)');
    const skip = db.prepare('INSERT INTO temp.skip (input, source) VALUES (?, ?)');
    for (const d of duplicates) skip.run(d.input, d.source);

    const cols = SLICE_COLUMNS.map((c) => `"${c}"`);
    for (const i of inputs.keys()) {
      attached(i, () => {
        const names = db.prepare("SELECT name FROM src.pragma_table_info('slices')").pluck();
        const hasContext = (names.all() as string[]).includes('context');
        const select = SLICE_COLUMNS.map((c) =>
          c === 'shard' ? `shard + ${bases[i]!}` : c === 'context' && !hasContext ? '0' : `"${c}"`,
        );
        db.transaction(() => {
          db.exec(
            `INSERT INTO main.slices (${cols.join(', ')}) SELECT ${select.join(', ')} FROM src.slices WHERE source NOT IN (SELECT source FROM temp.skip WHERE input = ${i}) ORDER BY shard, record`,
          );
          db.exec(
            'INSERT INTO main.rejects (source, file_index, reason) SELECT source, file_index, reason FROM src.rejects',
          );
        })();
      });
    }
    const insertReject = db.prepare(
      'INSERT INTO main.rejects (source, file_index, reason) VALUES (?, ?, ?)',
    );
    db.transaction(() => {
      for (const d of duplicates) {
        insertReject.run(
          d.source,
          d.file_index,
          duplicateReason(d.image_id, first.get(d.image_id)!.source),
        );
      }
    })();
    const rejected = db.prepare('SELECT COUNT(*) FROM main.rejects').pluck().get() as number;
    finalizeIndex(db, 'keep');

    const cached = keys.length - duplicates.length;
    const slots = partition ? ref.job.fileCount : cached;
    const config: CacheConfig = { ...ref.config, createdAt: new Date().toISOString() };
    const job = { ...mergedJob(inputs, partition, slots, cached + rejected), complete: true };
    if (mode === 'link') {
      mkdirSync(join(out, SHARD_DIR), { recursive: true });
      for (const p of parts) linkOrCopy(p.source, join(out, p.path));
    }
    saveConfig(db, config, job);
    db.pragma('main.journal_mode = WAL');
    const counts = await writeCacheFiles(out, db, config, job);
    return {
      out,
      mode: partition ? 'partition' : 'general',
      inputs: inputs.length,
      cached: counts.cached,
      rejected: counts.rejected,
      duplicates: duplicates.length,
      seconds: (performance.now() - start) / 1000,
      digests: [],
      parts,
    };
  } finally {
    db.close();
  }
}

/** Merges caches into a new one. @throws ConfigError, InputError */
export async function mergeCaches(o: MergeOptions): Promise<MergeResult> {
  const start = performance.now();
  if (o.inputs.length === 0) {
    throw new ConfigError('merge needs at least one input cache, received none');
  }
  const out = resolve(o.out);
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new ConfigError(`--out must be a new or empty folder, received "${o.out}"`);
  }
  const mode = oneOf('parts', o.parts ?? 'copy', MERGE_PARTS);
  if (mode !== 'copy') return linkMerge(o, out, mode, start);
  const caches: Cache[] = [];
  try {
    for (const dir of o.inputs) {
      if (resolve(dir) === out) throw new ConfigError(`--out must not be an input: "${dir}"`);
      caches.push(openCache(dir));
    }
    const ref = caches[0]!;
    for (const c of caches.slice(1)) checkSameConfig(c.dir, c.config, ref.config, ref.dir);
    const partition = partitionMode(caches);

    type Entry = { row: SliceRow; cache: Cache; slot: number };
    const entries: Entry[] = [];
    const rejects: RejectRow[] = [];
    for (const c of caches) {
      for (const row of c.sliceRows()) entries.push({ row, cache: c, slot: 0 });
      rejects.push(...c.rejects());
    }
    let slots: number;
    let duplicates = 0;
    const kept: Entry[] = [];
    const byId = new Map<string, Entry>();
    if (partition) {
      entries.sort((a, b) => a.row.file_index - b.row.file_index);
      for (const e of entries) {
        const first = byId.get(e.row.image_id);
        if (first) {
          duplicates++;
          rejects.push({
            source: e.row.source,
            file_index: e.row.file_index,
            reason: duplicateReason(e.row.image_id, first.row.source),
          });
          continue;
        }
        byId.set(e.row.image_id, e);
        e.slot = e.row.file_index;
        kept.push(e);
      }
      slots = ref.job.fileCount;
    } else {
      for (const e of entries) {
        const first = byId.get(e.row.image_id);
        if (first) {
          throw new InputError(
            `image id ${e.row.image_id} is in two caches: ${first.cache.dir} (${first.row.source}) and ${e.cache.dir} (${e.row.source})`,
          );
        }
        byId.set(e.row.image_id, e);
        e.slot = kept.length;
        kept.push(e);
      }
      slots = kept.length;
    }

    mkdirSync(out, { recursive: true });
    const config: CacheConfig = { ...ref.config, createdAt: new Date().toISOString() };
    const job = mergedJob(caches, partition, slots, kept.length + rejects.length);
    const db = openIndex(out, true);
    const writer = new ShardWriter(out, config.recordBytes, config.recordsPerShard, true);
    const bar = createProgress({
      total: kept.length,
      label: 'merge',
      unit: 'slices',
      enabled: o.progress ?? true,
    });
    try {
      saveConfig(db, config, job);
      const cols = SLICE_COLUMNS.map((c) => `"${c}"`).join(', ');
      const insert = db.prepare(
        `INSERT INTO slices (${cols}) VALUES (${SLICE_COLUMNS.map((c) => `@${c}`).join(', ')})`,
      );
      const insertReject = db.prepare(
        'INSERT INTO rejects (source, file_index, reason) VALUES (@source, @file_index, @reason)',
      );
      const buf = new Uint8Array(config.recordBytes);
      for (let i = 0; i < kept.length; i += COMMIT_EVERY) {
        const chunk = kept.slice(i, i + COMMIT_EVERY);
        const rows: SliceRow[] = [];
        for (const e of chunk) {
          e.cache.read(e.row.image_id, buf);
          writer.write(e.slot, buf);
          const { shard, record } = writer.locate(e.slot);
          rows.push({ context: 0, ...e.row, shard, record });
        }
        db.transaction(() => {
          for (const r of rows) insert.run(r);
        })();
        bar.tick(chunk.length);
      }
      db.transaction(() => {
        for (const r of rejects) insertReject.run(r);
      })();
      finalizeIndex(db, 'keep');
      writer.finish(slots);
      const finalJob = { ...job, complete: true };
      saveConfig(db, config, finalJob);
      const { cached, rejected } = await writeCacheFiles(out, db, config, finalJob);
      return {
        out,
        mode: partition ? 'partition' : 'general',
        inputs: caches.length,
        cached,
        rejected,
        duplicates,
        seconds: (performance.now() - start) / 1000,
        digests: writer.digests(),
        parts: [],
      };
    } finally {
      bar.stop();
      writer.close();
      db.close();
    }
  } finally {
    for (const c of caches) c.close();
  }
}
