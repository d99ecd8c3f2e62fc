import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { merge } from '../src/commands/merge.js';
import { type PrepareOptions, prepare, prepareSummary } from '../src/commands/prepare.js';
import { synth } from '../src/commands/synth.js';
import { cacheChecksums, cacheContent, openCache, shardPath } from '../src/data/cache.js';
import { initCodecs } from '../src/dicom/codecs.js';
import { readWindowedUint8 } from '../src/dicom/fastpath.js';
import { windowedImageUint8 } from '../src/dicom/preprocess.js';
import { decodeSlice } from '../src/dicom/read.js';
import { JPEG_LOSSLESS_SV1, JPEG_LS_LOSSLESS, RLE_LOSSLESS } from '../src/dicom/syntax.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { ConfigError, InputError } from '../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-prepare-'));
const data = join(root, 'data');
const images = join(data, 'stage_2_train');
const labels = join(data, 'stage_2_train.csv');
/** Options every run here shares (batch 2: many small commits, so a kill lands mid-run). */
const base = { images, labels, size: 64, recordsPerShard: 16, batch: 2, progress: false };
const reference = join(root, 'reference');
let files = 0;

beforeAll(async () => {
  const s = await synth({
    out: data,
    patients: 3,
    size: 128,
    workers: 1,
    faults: 3,
    progress: false,
  });
  files = s.images + s.faults.length;
  await prepare({ ...base, out: reference, workers: 2 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The first `n` generated files (sorted) that decode: the synth's faults left out. */
function decodableFiles(n: number): string[] {
  return readdirSync(images)
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .filter((f) => {
      try {
        decodeSlice(readFileSync(join(images, f)), f);
        return true;
      } catch {
        return false;
      }
    })
    .slice(0, n);
}

describe('prepare', () => {
  it('caches the valid files, lists the broken ones in rejects.csv with reasons, and succeeds', async () => {
    const out = join(root, 'plain');
    const r = await prepare({ ...base, out, workers: 1 });
    expect(r.files).toBe(files);
    expect(r.cached).toBe(files - 3);
    expect(r.rejected).toBe(3);
    expect(prepareSummary(r)).toMatch(/^102 slices cached, 3 rejected \(see rejects\.csv\)/);
    const faults = readFileSync(join(data, 'faults.csv'), 'utf8').trim().split('\n').slice(1);
    const rejects = readFileSync(join(out, 'rejects.csv'), 'utf8').trim().split('\n');
    expect(rejects[0]).toBe('file,reason');
    expect(rejects).toHaveLength(4);
    for (const f of faults) {
      const [id, kind] = f.split(',');
      const line = rejects.find((l) => l.startsWith(`${id}.dcm,`));
      expect(line, `${id} (${kind}) is rejected`).toBeDefined();
      const reason = {
        truncated: /truncated/,
        'not-dicom': /not a DICOM file/,
        empty: /empty file/,
      };
      expect(line).toMatch(reason[kind as keyof typeof reason]);
    }
    // Their labels are in the CSV but they have no cached slice.
    expect(r.coverage?.labelsWithoutFile.count).toBe(3);
    expect(r.coverage?.filesWithoutLabels.count).toBe(0);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('12288 bytes');
    // One worker or two: the same cache.
    expect(cacheChecksums(out)).toEqual(cacheChecksums(reference));
  });

  it('decodes compressed files in its decoding threads, to the records of the uncompressed ones', async () => {
    // The decoding threads load the codecs only when a compressed file comes (they never had
    // them before: every compressed file was rejected). Each file is re-encoded losslessly.
    await initCodecs();
    const dir = join(root, 'compressed-images');
    mkdirSync(dir);
    const some = decodableFiles(3);
    const syntaxes = [RLE_LOSSLESS, JPEG_LOSSLESS_SV1, JPEG_LS_LOSSLESS];
    for (const [i, f] of some.entries()) {
      const s = decodeSlice(readFileSync(join(images, f)), f);
      const bytes = encodeSlice(
        {
          rows: s.rows,
          cols: s.cols,
          stored: s.stored as Int16Array | Uint16Array,
          bitsAllocated: s.bitsAllocated as 16,
          bitsStored: s.bitsStored,
          highBit: s.highBit,
          pixelRepresentation: s.pixelRepresentation,
          rescaleSlope: s.rescaleSlope,
          rescaleIntercept: s.rescaleIntercept,
          patientId: s.patientId,
          studyInstanceUid: s.studyInstanceUid,
          seriesInstanceUid: s.seriesInstanceUid,
          sopInstanceUid: s.sopInstanceUid,
          ...(s.imagePositionPatient && { imagePositionPatient: s.imagePositionPatient }),
          modality: 'CT',
        },
        { transferSyntax: syntaxes[i]! },
      );
      writeFileSync(join(dir, f), bytes);
      expect(decodeSlice(bytes, f).transferSyntaxUid).toBe(syntaxes[i]);
    }
    const out = join(root, 'compressed');
    const r = await prepare({ images: dir, out, size: 64, workers: 2, batch: 1, progress: false });
    expect([r.cached, r.rejected]).toEqual([3, 0]);
    const cache = openCache(out);
    const ref = openCache(reference);
    const refRows = ref.rows();
    for (const row of cache.rows()) {
      expect(
        refRows.some((x) => x.imageId === row.imageId),
        row.imageId,
      ).toBe(true);
      const got = cache.read(row.imageId);
      expect(got.some((b) => b !== 0)).toBe(true);
      expect(Buffer.compare(got, ref.read(row.imageId)), row.imageId).toBe(0);
    }
    cache.close();
    ref.close();
  });

  it('keeps full resolution (no resize) and leaves the slot of a duplicate image id zero', async () => {
    // Four slices at their own 128², and a copy of the second under a name listed after it.
    const dir = join(root, 'full-images');
    mkdirSync(dir);
    const some = decodableFiles(4);
    for (const f of some) copyFileSync(join(images, f), join(dir, f));
    copyFileSync(join(images, some[1]!), join(dir, 'zz-copy.dcm'));
    const out = join(root, 'full');
    const r = await prepare({ images: dir, out, size: 128, workers: 2, batch: 2, progress: false });
    expect([r.cached, r.rejected]).toEqual([4, 1]);
    const rejects = readFileSync(join(out, 'rejects.csv'), 'utf8');
    expect(rejects).toContain(`zz-copy.dcm,duplicate image id`);
    expect(rejects).toContain(`(already cached from ${some[1]})`);
    const shard = readFileSync(shardPath(out, 0));
    const record = 128 * 128 * 3;
    expect(shard.length).toBe(5 * record);
    // Slot i holds file i (sorted list); the reference is the general path, not the fast one.
    some.forEach((f, i) => {
      const want = windowedImageUint8(decodeSlice(readFileSync(join(dir, f)), f), {
        windows: DEFAULT_WINDOWS,
        size: 128,
      }).data;
      expect(Buffer.compare(shard.subarray(i * record, (i + 1) * record), want), f).toBe(0);
    });
    expect(shard.subarray(4 * record).every((b) => b === 0)).toBe(true);
  });

  it('does nothing the second time and leaves the cache identical', async () => {
    const r = await prepare({ ...base, out: reference, workers: 2 });
    expect(r.processed).toBe(0);
    expect(r.resumed).toBe(files);
    expect(r.cached).toBe(102);
  });

  it('validates options before any work', async () => {
    const out = join(root, 'never');
    await expect(prepare({ ...base, out, size: 'abc' })).rejects.toThrow(
      '--size must be a positive integer, received "abc"',
    );
    await expect(prepare({ ...base, out, workers: 0 })).rejects.toThrow(
      '--workers must be a positive integer, received 0',
    );
    await expect(prepare({ ...base, out, shard: '3/2' })).rejects.toThrow(
      '--shard must be K/N with integers 1 ≤ K ≤ N, received "3/2"',
    );
    await expect(prepare({ ...base, out, shard: '0/2' })).rejects.toThrow(ConfigError);
    await expect(prepare({ ...base, out, windows: 'brain,nope' })).rejects.toThrow(
      'unknown window "nope"',
    );
    await expect(prepare({ ...base, out, images: join(root, 'missing') })).rejects.toThrow(
      InputError,
    );
    await expect(prepare({ ...base, out, labels: join(root, 'missing.csv') })).rejects.toThrow(
      '--labels file not found',
    );
    await expect(prepare({ ...base, out: data })).rejects.toThrow(
      /--out must be a new or empty folder or an ichdet cache to resume/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a bad label header before reading any image', async () => {
    const bad = join(root, 'bad.csv');
    writeFileSync(bad, 'image,label\n');
    const out = join(root, 'badlabels');
    await expect(prepare({ ...base, out, labels: bad })).rejects.toThrow(
      'bad.csv line 1: expected the header "ID,Label", received "image,label"',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to resume a cache with other options, naming the field and both values', async () => {
    await expect(prepare({ ...base, out: reference, size: 32 })).rejects.toThrow(
      `cache ${reference} has size 64, expected 32`,
    );
    await expect(prepare({ ...base, out: reference, rsnaFix: false })).rejects.toThrow(
      'has rsna_fix true, expected false',
    );
    await expect(prepare({ ...base, out: reference, windows: 'brain' })).rejects.toThrow(
      'has windows 40/80,80/200,40/380, expected 40/80',
    );
  });

  it('works without labels: label columns are unknown (-1)', async () => {
    const out = join(root, 'unlabelled');
    const r = await prepare({ ...base, labels: undefined, out, workers: 1 });
    expect(r.cached).toBe(102);
    const c = openCache(out);
    expect(c.rows().every((row) => row.labels.every((v) => v === -1))).toBe(true);
    c.close();
  });
});

/** Number of slices committed so far in a cache being written (0 before its index exists). */
function committed(dir: string): number {
  const path = join(dir, 'index.sqlite');
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { fileMustExist: true });
    try {
      return db.prepare('SELECT COUNT(*) FROM slices').pluck().get() as number;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/** Runs prepare in a child process and SIGKILLs it once `killAt` slices are committed. */
function runAndKill(
  opts: PrepareOptions,
  killAt: number,
): Promise<{ killed: boolean; at: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'prepare-child.ts'), JSON.stringify(opts)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    let at = 0;
    const timer = setInterval(() => {
      at = committed(opts.out);
      if (at >= killAt) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 2);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal === 'SIGKILL') resolve({ killed: true, at });
      else if (code === 0) resolve({ killed: false, at });
      else reject(new Error(`prepare child exited with ${code}: ${stderr}`));
    });
  });
}

/** Every indexed record of a (possibly unfinished) cache equals its file's windows. */
function expectNoHalfWrittenRecords(dir: string): number {
  const c = openCache(dir, { allowIncomplete: true });
  try {
    const cfg = { windows: DEFAULT_WINDOWS, size: 64, rsnaFix: true };
    for (const r of c.sliceRows()) {
      const want = readWindowedUint8(readFileSync(join(images, r.source)), r.source, cfg);
      expect(Buffer.from(c.read(r.image_id)).equals(Buffer.from(want.image.data))).toBe(true);
    }
    return c.count();
  } finally {
    c.close();
  }
}

describe('prepare lock', () => {
  it('refuses a cache another live process is writing, naming its pid, and leaves no lock behind', async () => {
    const out = join(root, 'locked');
    mkdirSync(out, { recursive: true });
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(join(out, '.prepare.lock'), `${holder.pid}\n`);
      await expect(prepare({ ...base, out, workers: 1 })).rejects.toThrow(
        new RegExp(`cache .*locked is being written by process ${holder.pid} \\(lock `),
      );
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over the lock of a process that is gone, as after kill -9', async () => {
    const out = join(root, 'stale-lock');
    mkdirSync(out, { recursive: true });
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((ok) => gone.on('exit', ok));
    writeFileSync(join(out, '.prepare.lock'), `${gone.pid}\n`);
    const r = await prepare({ ...base, out, workers: 1 });
    expect(r.cached).toBe(files - 3);
    expect(existsSync(join(out, '.prepare.lock'))).toBe(false);
    expect(cacheChecksums(out)).toEqual(cacheChecksums(reference));
  });
});

describe('prepare after kill -9', () => {
  it('resumes after SIGKILLs at two moments and ends identical to an uninterrupted run', async () => {
    const out = join(root, 'killed');
    const opts = { ...base, out, workers: 2 };
    const first = await runAndKill(opts, 1);
    expect(first.killed).toBe(true);
    const n1 = expectNoHalfWrittenRecords(out);
    expect(n1).toBeLessThan(102);
    expect(openCache(out, { allowIncomplete: true }).job.complete).toBe(false);
    expect(() => openCache(out)).toThrow(/is incomplete/);

    const second = await runAndKill(opts, 50);
    expect(second.killed).toBe(true);
    const n2 = expectNoHalfWrittenRecords(out);
    expect(n2).toBeGreaterThanOrEqual(n1);
    expect(n2).toBeLessThan(102);

    const r = await prepare(opts);
    expect(r.resumed).toBeGreaterThanOrEqual(n2);
    expect(r.processed).toBe(files - r.resumed);
    expect(cacheChecksums(out)).toEqual(cacheChecksums(reference));
  }, 60_000);

  it('resumes after a SIGKILL at a random moment, too', async () => {
    const out = join(root, 'killed-random');
    const opts = { ...base, out, workers: 1 };
    const killAt = 10 + Math.floor(Math.random() * 80);
    const k = await runAndKill(opts, killAt);
    expect(k.killed).toBe(true);
    expectNoHalfWrittenRecords(out);
    await prepare(opts);
    expect(cacheChecksums(out)).toEqual(cacheChecksums(reference));
  }, 60_000);
});

describe('prepare --shard K/N and merge', () => {
  const shards = [1, 2, 3].map((k) => join(root, `shard-${k}`));

  beforeAll(async () => {
    for (const [i, out] of shards.entries()) {
      await prepare({ ...base, out, workers: 1, shard: `${i + 1}/3` });
    }
  });

  it('partitions the files by index mod N', () => {
    const counts = shards.map((dir) => {
      const c = openCache(dir);
      for (const r of c.sliceRows())
        expect(r.file_index % 3).toBe(c.job.shard === '1/3' ? 0 : c.job.shard === '2/3' ? 1 : 2);
      const n = c.count() + c.rejects().length;
      c.close();
      return n;
    });
    expect(counts.reduce((a, b) => a + b, 0)).toBe(files);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('merges the partitions into a cache identical to one prepared in one go', async () => {
    const out = join(root, 'merged');
    const r = await merge({ out, inputs: [shards[2]!, shards[0]!, shards[1]!], progress: false });
    expect(r.mode).toBe('partition');
    expect(r.cached).toBe(102);
    expect(r.rejected).toBe(3);
    expect(cacheChecksums(out)).toEqual(cacheChecksums(reference));
    expect(readFileSync(join(out, 'rejects.csv'), 'utf8')).toBe(
      readFileSync(join(reference, 'rejects.csv'), 'utf8'),
    );
  });

  it('merges caches of unrelated datasets in input order, records and rows unchanged', async () => {
    const other = join(root, 'other');
    await synth({ out: other, patients: 1, seed: 7, size: 128, workers: 1, progress: false });
    const otherCache = join(root, 'other-cache');
    await prepare({
      ...base,
      images: join(other, 'stage_2_train'),
      labels: join(other, 'stage_2_train.csv'),
      out: otherCache,
      workers: 1,
    });
    const out = join(root, 'merged-two');
    const r = await merge({ out, inputs: [reference, otherCache], progress: false });
    expect(r.mode).toBe('general');
    const m = openCache(out);
    const inputs = [openCache(reference), openCache(otherCache)];
    try {
      expect(m.count()).toBe(inputs[0]!.count() + inputs[1]!.count());
      expect(r.rejected).toBe(3);
      const merged = new Map(m.sliceRows().map((row) => [row.image_id, row]));
      for (const c of inputs) {
        for (const row of c.sliceRows()) {
          const { shard: _s, record: _r, ...rest } = merged.get(row.image_id)!;
          const { shard: _s2, record: _r2, ...want } = row;
          expect(rest).toEqual(want);
          expect(m.read(row.image_id)).toEqual(c.read(row.image_id));
        }
      }
      // Packed in input order: the second cache's slices follow the first's.
      expect(
        m
          .rows()
          .slice(0, 102)
          .map((x) => x.imageId),
      ).toEqual(inputs[0]!.rows().map((x) => x.imageId));
    } finally {
      m.close();
      for (const c of inputs) c.close();
    }
  });

  it('fails clearly on a duplicate image id, a repeated partition or another config', async () => {
    await expect(
      merge({ out: join(root, 'm1'), inputs: [shards[0]!, reference], progress: false }),
    ).rejects.toThrow(/image id ID_\w+ is in two caches: .*shard-1 \(.*\) and .*reference/);
    await expect(
      merge({ out: join(root, 'm2'), inputs: [shards[0]!, shards[0]!], progress: false }),
    ).rejects.toThrow(/partition 1\/3 of the same file list is given twice/);
    const small = join(root, 'small');
    await prepare({ ...base, out: small, size: 32, workers: 1, shard: '2/3' });
    await expect(
      merge({ out: join(root, 'm3'), inputs: [shards[0]!, small], progress: false }),
    ).rejects.toThrow(`cache ${small} has size 32, expected 64`);
    await expect(merge({ out: join(root, 'm4'), inputs: [], progress: false })).rejects.toThrow(
      'merge needs at least one input cache',
    );
    mkdirSync(join(root, 'm5'));
    writeFileSync(join(root, 'm5', 'x'), '');
    await expect(
      merge({ out: join(root, 'm5'), inputs: [shards[0]!], progress: false }),
    ).rejects.toThrow('--out must be a new or empty folder');
  });
});

describe('block partitions merged by link (what prepare --queue does)', () => {
  const dup = join(root, 'dup-images');
  const dupReference = join(root, 'dup-reference');
  const blocks = [1, 2, 3].map((k) => join(root, `block-${k}`));
  const linked = join(root, 'linked');
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  let results: Awaited<ReturnType<typeof prepare>>[] = [];

  beforeAll(async () => {
    // The same files plus a copy of the first one listed last: a duplicate image id whose first
    // file is in partition 1 and whose copy is in partition 3.
    cpSync(images, dup, { recursive: true });
    const ref = openCache(reference);
    const first = ref.sliceRows()[0]!.source;
    ref.close();
    copyFileSync(join(dup, first), join(dup, 'zz-copy.dcm'));
    const o = { ...base, images: dup, workers: 1 };
    await prepare({ ...o, out: dupReference });
    results = [];
    for (const [i, out] of blocks.entries()) {
      results.push(
        await prepare({ ...o, out, shard: `${i + 1}/3`, partition: 'block', hash: true }),
      );
    }
  });

  it('gives each partition a contiguous run of the file list, sizes within one', () => {
    const runs = blocks.map((d) => {
      const c = openCache(d);
      const idx = [
        ...c.sliceRows().map((r) => r.file_index),
        ...c.rejects().map((r) => r.file_index),
      ];
      c.close();
      return [Math.min(...idx), Math.max(...idx), idx.length];
    });
    // 106 files: [0, 35), [35, 70), [70, 106).
    expect(runs).toEqual([
      [0, 34, 35],
      [35, 69, 35],
      [70, 105, 36],
    ]);
  });

  it('hashes each shard file while committing, to the sha256 of the file as it ends', () => {
    for (const [i, r] of results.entries()) {
      const files = readdirSync(join(blocks[i]!, 'shards')).sort();
      expect(r.digests.map((d) => d.path)).toEqual(files.map((f) => join('shards', f)));
      for (const d of r.digests) {
        expect(d.sha256).toBe(sha(join(blocks[i]!, d.path)));
        expect(d.bytes).toBe(statSync(join(blocks[i]!, d.path)).size);
      }
    }
  });

  it('merges them by link into the single prepare’s rows, records and order, writing no record', async () => {
    const r = await merge({
      out: linked,
      inputs: [blocks[2]!, blocks[0]!, blocks[1]!],
      parts: 'link',
      progress: false,
    });
    expect(r.mode).toBe('partition');
    expect(r.duplicates).toBe(1);
    expect(cacheContent(linked)).toEqual(cacheContent(dupReference));
    expect(readFileSync(join(linked, 'rejects.csv'), 'utf8')).toBe(
      readFileSync(join(dupReference, 'rejects.csv'), 'utf8'),
    );
    expect(readFileSync(join(linked, 'rejects.csv'), 'utf8')).toMatch(
      /zz-copy\.dcm,duplicate image id ID_\w+ \(already cached from /,
    );
    // Each block's files follow the previous block's (blocks by K, whatever the input order):
    // 35, 35 and 36 slots at 16 records per file give 3 + 3 + 3 files, each the block's own.
    expect(r.parts.map((p) => p.path)).toEqual(
      Array.from({ length: 9 }, (_, i) =>
        join('shards', `shard-${String(i).padStart(4, '0')}.bin`),
      ),
    );
    for (const p of r.parts) {
      expect(statSync(join(linked, p.path)).ino).toBe(statSync(p.source).ino);
    }
    expect(r.parts[3]!.source).toBe(shardPath(blocks[1]!, 0));
    // Caches of no common file list: an image id in both is an error, as when copying.
    await expect(
      merge({
        out: join(root, 'l2'),
        inputs: [blocks[0]!, reference],
        parts: 'link',
        progress: false,
      }),
    ).rejects.toThrow(/image id ID_\w+ is in two caches: .*block-1 \(.*\) and .*reference/);
    // Rows name the file and record where the bytes already were.
    const c = openCache(linked);
    const ref = openCache(dupReference);
    try {
      const rows = c.sliceRows();
      expect(rows.map((x) => x.file_index)).toEqual(ref.sliceRows().map((x) => x.file_index));
      // The first slice of block 2 (files 35…69) is record file_index − 35 of the merged file 3.
      const at = rows.find((x) => x.file_index >= 35)!;
      expect(at.file_index).toBeLessThan(35 + 16);
      expect([at.shard, at.record]).toEqual([3, at.file_index - 35]);
      expect(c.read(at.image_id)).toEqual(ref.read(at.image_id));
    } finally {
      c.close();
      ref.close();
    }
  });
});
