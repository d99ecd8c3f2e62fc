/**
 * Writing a slice cache (the layout is described in cache.ts): records at their slots in the
 * shard files, made durable with fdatasync; the config entries of the index; the README.md a
 * cache carries. `ichdet prepare` and `merge` write caches with these; everything else reads
 * them with `openCache`.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  read,
  readSync,
  writeSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { type CacheConfig, type CacheJob, type Db, SHARD_DIR, shardPath } from './cache.js';
import { locateSlot } from './shards.js';
import { LABEL_NAMES } from './types.js';

const fdatasyncAsync = promisify(fdatasync);
const readAsync = promisify(read);
/** Bytes hashed at a time by `hashCommitted` (about half a millisecond of sha256). */
const HASH_PIECE = 1 << 20;

/** Held by the process writing the cache (its pid); a stale one (process gone) is taken over. */
export const LOCK_FILE = '.prepare.lock';

/** Writes config and job entries (in the caller's transaction, if any). */
export function saveConfig(db: Db, config: CacheConfig, job: CacheJob): void {
  const put = db.prepare('INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)');
  const entries: [string, unknown][] = [
    ['format', config.format],
    ['version', config.version],
    ['size', config.size],
    ['windows', config.windows.map((w) => ({ name: w.name, center: w.center, width: w.width }))],
    ['channels', config.channels],
    ['rsna_fix', config.rsnaFix],
    ['crop', config.crop],
    ['record_bytes', config.recordBytes],
    ['records_per_shard', config.recordsPerShard],
    ['created_at', config.createdAt],
    ['images', job.images],
    ['file_count', job.fileCount],
    ['file_list_sha256', job.fileListSha256],
    ['shard', job.shard],
    ['slots', job.slots],
    ['labels', job.labels],
    ['complete', job.complete],
    ...(job.selection !== undefined ? [['selection', job.selection] as [string, unknown]] : []),
    ...(job.partition !== undefined ? [['partition', job.partition] as [string, unknown]] : []),
  ];
  db.transaction(() => {
    for (const [k, v] of entries) put.run(k, JSON.stringify(v));
  })();
}

/** A file's size and sha256 (its path relative to the cache folder). */
export interface FileDigest {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * The sha256 of a shard file fed as it is written: `at` is the next byte it expects. Exact only
 * while the file is new and every byte is written once, in order (skipped slots as zeros); a write
 * that breaks this drops it (the file is then hashed by reading it, as before).
 */
interface Running {
  hash: Hash;
  at: number;
}

/**
 * Writes records at their slots; `sync()` makes everything written so far durable. With `hash`
 * true, the sha256 of each shard file is computed while it is written in slot order (a merge
 * writes that way); with `'committed'`, from the file itself as a prefix of its slots becomes
 * final (`hashCommitted`: a prepare, whose workers write the records). Either way publishing the
 * cache need not read its pixel data back (`digests`).
 */
export class ShardWriter {
  private readonly fds = new Map<number, number>();
  private readonly dirty = new Set<number>();
  private readonly running = new Map<number, Running | null>();
  private readonly done: FileDigest[] = [];
  private zeros: Uint8Array | undefined;
  private readBuf: Buffer | undefined;
  private hashTarget = 0;
  private pump: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly recordBytes: number,
    readonly recordsPerShard: number,
    readonly hash: boolean | 'committed' = false,
  ) {
    mkdirSync(join(dir, SHARD_DIR), { recursive: true });
  }

  /** Feeds zeros to `r` up to byte `to` (slots never written read as zeros). */
  private feedZeros(r: Running, to: number): void {
    this.zeros ??= new Uint8Array(this.recordBytes);
    while (r.at < to) {
      const n = Math.min(this.zeros.length, to - r.at);
      r.hash.update(this.zeros.subarray(0, n));
      r.at += n;
    }
  }

  /** Feeds a write of `bytes` at byte `pos` of `shard` to its running hash, or drops the hash. */
  private feed(shard: number, pos: number, bytes: Uint8Array): void {
    const r = this.running.get(shard);
    if (!r) return;
    if (pos < r.at) {
      this.running.set(shard, null);
      return;
    }
    this.feedZeros(r, pos);
    r.hash.update(bytes);
    r.at += bytes.length;
  }

  locate(slot: number): { shard: number; record: number } {
    return locateSlot(slot, this.recordsPerShard);
  }

  private fdOf(shard: number): number {
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      const fresh = !existsSync(shardPath(this.dir, shard));
      fd = openSync(shardPath(this.dir, shard), fresh ? 'w+' : 'r+');
      this.fds.set(shard, fd);
      // A file opened again (closed by finish, or one a resumed prepare wrote) is not hashed
      // as it is written; read back from its start it is.
      if (this.hash !== false && !this.running.has(shard)) {
        this.running.set(
          shard,
          fresh || this.hash === 'committed' ? { hash: createHash('sha256'), at: 0 } : null,
        );
      }
    }
    return fd;
  }

  /**
   * Creates every shard file that slots [0, slots) fall in (existing ones are kept), so that
   * other threads can open them for writing.
   */
  create(slots: number): void {
    const shards = Math.ceil(slots / this.recordsPerShard);
    for (let s = 0; s < shards; s++) this.fdOf(s);
  }

  /** Notes that another thread wrote the record of `slot`: its shard needs the next sync. */
  written(slot: number): void {
    const { shard } = this.locate(slot);
    this.dirty.add(shard);
    if (this.hash === true && this.running.get(shard)) this.running.set(shard, null);
  }

  /** Writes one record (recordBytes bytes of `bytes` from `offset`) at its slot. */
  write(slot: number, bytes: Uint8Array, offset = 0): void {
    const { shard, record } = this.locate(slot);
    const fd = this.fdOf(shard);
    if (this.hash === true) {
      this.feed(
        shard,
        record * this.recordBytes,
        bytes.subarray(offset, offset + this.recordBytes),
      );
    }
    let done = 0;
    while (done < this.recordBytes) {
      done += writeSync(
        fd,
        bytes,
        offset + done,
        this.recordBytes - done,
        record * this.recordBytes + done,
      );
    }
    this.dirty.add(shard);
  }

  /** Feeds `r` the bytes of `shard`'s file up to byte `end` (zeros past its end). */
  private feedFromFile(shard: number, r: Running, end: number): void {
    this.readBuf ??= Buffer.allocUnsafe(4 << 20);
    const fd = this.fdOf(shard);
    while (r.at < end) {
      const n = readSync(fd, this.readBuf, 0, Math.min(this.readBuf.length, end - r.at), r.at);
      if (n === 0) {
        this.feedZeros(r, end);
        return;
      }
      r.hash.update(this.readBuf.subarray(0, n));
      r.at += n;
    }
  }

  /**
   * With hash `'committed'`: has each shard file's hash fed from the file up to slot `slots`, in
   * the background. Every slot below it must be final (durable and never written again), as a
   * prepare's committed prefix is. The bytes are read on the libuv thread pool and hashed 1 MiB
   * at a time, so the event loop (which hands the decoding threads their work) never waits long.
   */
  hashCommitted(slots: number): void {
    if (this.hash !== 'committed') return;
    this.hashTarget = Math.max(this.hashTarget, slots);
    this.pump ??= this.pumpHashes().finally(() => {
      this.pump = undefined;
    });
  }

  /** The next piece of a shard file to hash, up to `hashTarget`. */
  private nextPiece(): { shard: number; r: Running; end: number } | undefined {
    for (let s = 0; s * this.recordsPerShard < this.hashTarget; s++) {
      const r = this.running.get(s);
      if (!r) continue;
      const records = Math.min(this.recordsPerShard, this.hashTarget - s * this.recordsPerShard);
      const end = records * this.recordBytes;
      if (r.at < end) return { shard: s, r, end: Math.min(end, r.at + HASH_PIECE) };
    }
    return undefined;
  }

  private async pumpHashes(): Promise<void> {
    const buf = Buffer.allocUnsafe(HASH_PIECE);
    try {
      for (let p = this.nextPiece(); p !== undefined; p = this.nextPiece()) {
        const { bytesRead } = await readAsync(this.fdOf(p.shard), buf, 0, p.end - p.r.at, p.r.at);
        if (this.running.get(p.shard) !== p.r) continue;
        if (bytesRead === 0) this.feedZeros(p.r, p.end);
        else {
          p.r.hash.update(buf.subarray(0, bytesRead));
          p.r.at += bytesRead;
        }
      }
    } catch {
      // A read failed (the writer closed after an error): these files are hashed when published.
      for (const s of this.running.keys()) this.running.set(s, null);
    }
  }

  /** Waits until `hashCommitted`'s background hashing has caught up. */
  async hashed(): Promise<void> {
    while (this.pump) await this.pump;
  }

  /** fdatasync of every shard written since the last call, on the libuv thread pool. */
  async syncAsync(): Promise<void> {
    const shards = [...this.dirty];
    this.dirty.clear();
    await Promise.all(shards.map((s) => fdatasyncAsync(this.fdOf(s))));
  }

  /** fdatasync of every shard written since the last sync. */
  sync(): void {
    for (const s of this.dirty) fdatasyncSync(this.fdOf(s));
    this.dirty.clear();
  }

  /** Sizes every shard file to hold `slots` records (unwritten slots read as zeros). */
  finish(slots: number): void {
    const shards = Math.ceil(slots / this.recordsPerShard);
    for (let s = 0; s < shards; s++) {
      const records = Math.min(this.recordsPerShard, slots - s * this.recordsPerShard);
      const fd = this.fdOf(s);
      ftruncateSync(fd, records * this.recordBytes);
      fdatasyncSync(fd);
      const r = this.running.get(s);
      if (r && r.at <= records * this.recordBytes) {
        if (this.hash === 'committed') this.feedFromFile(s, r, records * this.recordBytes);
        else this.feedZeros(r, records * this.recordBytes);
        const path = relative(this.dir, shardPath(this.dir, s));
        this.done.push({ path, bytes: r.at, sha256: r.hash.digest('hex') });
      }
      this.running.set(s, null);
    }
    this.close();
  }

  /**
   * The size and sha256 of each shard file `finish` sized, of those written new and in order
   * (with `hash`); the others are not listed.
   */
  digests(): FileDigest[] {
    return [...this.done];
  }

  close(): void {
    // Background hashing stops: a file closed unfinished is hashed when published, if ever.
    for (const s of this.running.keys()) this.running.set(s, null);
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    this.dirty.clear();
  }
}

/** The README.md a cache carries. */
export function cacheReadme(c: CacheConfig, j: CacheJob, count: number): string {
  return `# ichdet slice cache

Written by ichdet ${c.version} (\`ichdet prepare\`), cache format ${c.format}.
${count} slices; images from \`${j.images}\`; partition ${j.shard}.

## Records
Each slice is one record of ${c.recordBytes} bytes: uint8, ${c.size} x ${c.size} x ${c.channels}
(height, width, channel; channels interleaved), value = round(255 * window(HU)) with windows
${c.windows.map((w) => `${w.name} (${w.center}/${w.width})`).join(', ')}; RSNA 12-bit fix ${c.rsnaFix ? 'on' : 'off'}.

Records live in \`shards/shard-NNNN.bin\`, at most ${c.recordsPerShard} records per file. A slice's
row in \`slices\` names its file (\`shard\`) and \`record\`: record \`r\` of shard \`s\` is bytes
[r * ${c.recordBytes}, (r + 1) * ${c.recordBytes}) of \`shards/shard-<s as 4 digits>.bin\`. Always locate a slice
by its row: a cache from \`prepare --queue\` keeps each partition's own files, which may hold fewer
records. Bytes no row names are not slices (zeros, or a duplicate's pixels after such a merge).

In NumPy: \`np.memmap("shards/shard-0000.bin", np.uint8, "r").reshape(-1, ${c.size}, ${c.size}, ${c.channels})[record]\`.

## Index
\`index.sqlite\` (SQLite, WAL mode):
- \`slices\`: one row per cached slice: image_id, patient_id, study_uid, series_uid, z (mm along
  the series normal), instance_number, slice_index (order in its series by z), prev_id / next_id
  (neighbours in the series), the six labels (${LABEL_NAMES.join(', ')}; NULL = unlabelled),
  source (path relative to the images folder), file_index (position in the sorted file list),
  rows, cols, pixel spacing, slope, intercept, bits_stored, pixel_representation,
  rsna_fix_applied, shard, record, context (1: cached only as a neighbour of the slices a
  \`--split\` selected, read as 2.5D context and never drawn by \`split\`).
- \`rejects\`: source, file_index, reason (also in \`rejects.csv\`).
- \`config\`: key/value (JSON) preprocessing config and the job that built the cache.
`;
}
