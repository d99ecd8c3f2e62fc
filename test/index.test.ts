import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSlice } from '../src/commands/export.js';
import { type IndexOptions, type IndexResult, indexImages } from '../src/commands/index-meta.js';
import { cacheInfo } from '../src/commands/info.js';
import { prepare } from '../src/commands/prepare.js';
import { split } from '../src/commands/split.js';
import { synth } from '../src/commands/synth.js';
import { openCache, type SliceRow } from '../src/data/cache.js';
import { openMetaIndex } from '../src/data/meta-index.js';
import { contextIndices } from '../src/data/series.js';
import { HeaderReader } from '../src/dicom/header.js';
import { decodeSlice } from '../src/dicom/read.js';
import { encodeDataset, encodeSlice } from '../src/dicom/write.js';
import { ConfigError } from '../src/errors.js';
import { scanFile } from '../src/infer/predict.js';
import { readSplitCsv, resolveSplit } from '../src/train/split-file.js';

const RT_DOSE = '1.2.840.10008.5.1.4.1.1.481.2';
const MR_IMAGE = '1.2.840.10008.5.1.4.1.1.4';
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';

let root: string;
let images: string;
let labels: string;
let cache: string;
let meta: string;
let indexed: IndexResult;
/** The 512² extra slice, for the header-only reader. */
let bigFile: string;

/** A 64² CT slice of an extra series (stored = HU + 1024). */
function ctSlice(id: string, z: number, extra: Record<string, unknown> = {}) {
  const stored = new Int16Array(64 * 64).fill(1064);
  return encodeSlice({
    rows: 64,
    cols: 64,
    stored,
    bitsAllocated: 16,
    bitsStored: 16,
    pixelRepresentation: 1,
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    patientId: 'ID_extra',
    studyInstanceUid: 'ID_extra_study',
    seriesInstanceUid: 'ID_extra_series',
    sopInstanceUid: id,
    imagePositionPatient: [0, 0, z],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.5, 0.5],
    instanceNumber: Math.round(z),
    extra,
  });
}

/** An RT dose grid: greyscale, 32-bit unsigned, one frame, pixel data present; not CT. */
function rtDose(): Uint8Array {
  const px = new Uint32Array(8 * 8).map((_, i) => i * 1000);
  return encodeDataset({
    SOPClassUID: RT_DOSE,
    SOPInstanceUID: 'ID_rtdose',
    PatientID: 'ID_extra',
    StudyInstanceUID: 'ID_extra_study',
    SeriesInstanceUID: 'ID_dose_series',
    Modality: 'RTDOSE',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: 1,
    Rows: 8,
    Columns: 8,
    BitsAllocated: 32,
    BitsStored: 32,
    HighBit: 31,
    PixelRepresentation: 0,
    DoseGridScaling: 0.0001,
    PixelData: [px.buffer],
    _vrMap: { PixelData: 'OW' },
  });
}

/** A 16-bit image with no Modality, only a SOP class. */
function noModality(id: string, sopClass: string, z: number): Uint8Array {
  const px = new Int16Array(64 * 64).fill(40);
  return encodeDataset({
    SOPClassUID: sopClass,
    SOPInstanceUID: id,
    PatientID: 'ID_extra',
    StudyInstanceUID: 'ID_extra_study',
    SeriesInstanceUID: 'ID_extra_series',
    ImagePositionPatient: [0, 0, z],
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: 64,
    Columns: 64,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 1,
    PixelData: [px.buffer],
    _vrMap: { PixelData: 'OW' },
  });
}

/** The reasons the extra files must be rejected with, worked out from the files by hand. */
const EXPECTED_REJECTS: Record<string, string | RegExp> = {
  'x-rtdose.dcm': 'not a CT slice: Modality RTDOSE',
  'x-mr.dcm': `not a CT slice: Modality absent and SOPClassUID ${MR_IMAGE} is not a CT image class`,
  'x-bits.dcm': 'inconsistent pixel layout: BitsAllocated 16, BitsStored 17, HighBit 16',
  'x-slope.dcm': 'RescaleSlope must be a finite number, received NaN',
  'x-cut-header.dcm': /^truncated file|^cannot parse DICOM/,
  'x-cut-pixels.dcm': 'truncated pixel data: (7FE0,0010) declares 8192 bytes, the file holds 5000',
  'zz-duplicate.dcm': /^duplicate image id ID_\w+ \(already cached from ID_\w+\.dcm\)$/,
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ichdet-index-'));
  // RSNA layout: stage_2_train/ID_<hex>.dcm and stage_2_train.csv; faults add a truncated,
  // a non-DICOM and an empty file.
  const data = join(root, 'synth');
  await synth({
    out: data,
    size: 64,
    prevalence: 'balanced',
    patients: 4,
    slicesPerSeries: '8:10',
    seed: 5,
    faults: 3,
    workers: 1,
    progress: false,
  });
  images = join(data, 'stage_2_train');
  labels = join(data, 'stage_2_train.csv');
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(images, name), bytes);
  put('x-rtdose.dcm', rtDose());
  put('x-mr.dcm', noModality('ID_mr', MR_IMAGE, 0));
  put('x-ct-nomodality.dcm', noModality('ID_ct_nomod', CT_IMAGE, 5));
  put('x-bits.dcm', ctSlice('ID_bits', 10, { BitsStored: 17, HighBit: 16 }));
  put('x-slope.dcm', ctSlice('ID_slope', 15, { RescaleSlope: 'abc' }));
  // A header longer than the first 16 KiB prefix: the reader must grow it.
  put('x-long-header.dcm', ctSlice('ID_long', 20, { ImageComments: 'x'.repeat(40_000) }));
  const whole = ctSlice('ID_cut', 25);
  put('x-cut-header.dcm', whole.subarray(0, 300));
  const cutPx = ctSlice('ID_cut_px', 30);
  // Pixel Data (64 × 64 × 2 bytes) is the last element: keep 5,000 of its 8,192 bytes.
  put('x-cut-pixels.dcm', cutPx.subarray(0, cutPx.length - 8192 + 5000));
  const first = readFileSync(labels, 'utf8').split('\n')[1]!.split('_').slice(0, 2).join('_');
  copyFileSync(join(images, `${first}.dcm`), join(images, 'zz-duplicate.dcm'));
  bigFile = join(root, 'big.dcm');
  const big = new Int16Array(512 * 512).fill(1064);
  writeFileSync(
    bigFile,
    encodeSlice({
      rows: 512,
      cols: 512,
      stored: big,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelRepresentation: 0,
      rescaleSlope: 1,
      rescaleIntercept: 1,
      patientId: 'ID_big',
      studyInstanceUid: 'ID_big',
      seriesInstanceUid: 'ID_big',
      sopInstanceUid: 'ID_big',
      imagePositionPatient: [0, 0, 1],
    }),
  );
  cache = join(root, 'cache-all');
  await prepare({ images, labels, out: cache, size: 32, workers: 1, progress: false });
  meta = join(root, 'meta.sqlite');
  indexed = await indexImages({ images, labels, out: meta, workers: 2, progress: false });
}, 60_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** The cache's rows without their slot columns, in file order. */
function cacheRows(dir: string): Omit<SliceRow, 'shard' | 'record' | 'context'>[] {
  const c = openCache(dir);
  try {
    return c
      .sliceRows()
      .sort((a, b) => a.file_index - b.file_index)
      .map(({ shard: _s, record: _r, context: _c, ...rest }) => rest);
  } finally {
    c.close();
  }
}

/** Every row of the index file, canonically (what "the same file" means for SQLite). */
function dump(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const slices = db.prepare('SELECT * FROM slices ORDER BY image_id').all();
    const rejects = db.prepare('SELECT * FROM rejects ORDER BY source').all();
    const config = db
      .prepare("SELECT key, value FROM config WHERE key <> 'created_at' ORDER BY key")
      .all();
    return JSON.stringify({ slices, rejects, config });
  } finally {
    db.close();
  }
}

describe('ichdet index', () => {
  it('records for every image what a full prepare records, row for row', () => {
    const fromCache = cacheRows(cache);
    const index = openMetaIndex(meta);
    try {
      const fromIndex = index.sliceRows();
      expect(fromIndex.length).toBe(fromCache.length);
      // 4 series of 8–10 synthetic slices, one duplicate file left out, two extra CT slices.
      expect(fromIndex.length).toBeGreaterThanOrEqual(4 * 8 + 2);
      expect(fromIndex).toEqual(fromCache);
      const ids = fromIndex.map((r) => r.image_id);
      expect(ids).toContain('ID_ct_nomod');
      expect(ids).toContain('ID_long');
      expect(indexed.indexed).toBe(fromIndex.length);
    } finally {
      index.close();
    }
  });

  it('rejects bad files with the same reasons as prepare', () => {
    const index = openMetaIndex(meta);
    const c = openCache(cache);
    try {
      const a = index.rejects();
      expect(a).toEqual(c.rejects());
      const reasons = new Map(a.map((r) => [r.source, r.reason]));
      for (const [file, reason] of Object.entries(EXPECTED_REJECTS)) {
        if (typeof reason === 'string') expect(reasons.get(file)).toBe(reason);
        else expect(reasons.get(file)).toMatch(reason);
      }
      // The synth faults: a truncated, a non-DICOM and an empty file.
      const synthFaults = a.filter((r) => !(r.source in EXPECTED_REJECTS)).map((r) => r.reason);
      expect(synthFaults).toHaveLength(3);
      expect(synthFaults).toContain('empty file (0 bytes)');
      expect(synthFaults.some((s) => s.startsWith('truncated pixel data: (7FE0,0010)'))).toBe(true);
      expect(synthFaults.some((s) => s.startsWith("not a DICOM file: no 'DICM' magic"))).toBe(true);
    } finally {
      index.close();
      c.close();
    }
  });

  it('reads only a 16 KiB prefix of a 512² slice and gets the decoder attributes', () => {
    const reader = new HeaderReader();
    const a = reader.read(bigFile, { rsnaFix: true });
    expect(reader.bytesRead).toBe(16 * 1024);
    const full = decodeSlice(readFileSync(bigFile), bigFile, { ctOnly: true });
    const { hu: _h, stored: _s, source: _src, ...attrs } = full;
    expect(a).toEqual(attrs);
    // BitsStored 12, unsigned, intercept 1 > −100: the RSNA fix applies.
    expect(a.rsnaFixApplied).toBe(true);
  });

  it('a split from the index equals the split from the cache with the same seed', async () => {
    const o = { subset: 0.75, val: 0.25, seed: 7 };
    const a = await split({ ...o, index: meta, out: join(root, 'from-index.csv') });
    const b = await split({ ...o, cache, out: join(root, 'from-cache.csv') });
    expect(a.images).toBeGreaterThan(0);
    expect(readFileSync(a.out, 'utf8')).toBe(readFileSync(b.out, 'utf8'));
    expect(a.counts).toEqual(b.counts);
  });

  it('split needs exactly one of --cache and --index', async () => {
    await expect(split({ out: join(root, 'x.csv') })).rejects.toThrow(
      'give exactly one of --cache DIR and --index FILE, received neither',
    );
  });

  it('prepare --split caches exactly the selected images plus their context neighbours, flagged', async () => {
    const splitCsv = join(root, 'by-image.csv');
    await split({ index: meta, out: splitCsv, subset: 0.3, val: 0.25, group: 'none', seed: 2 });
    const chosen = new Set(
      readSplitCsv(splitCsv)
        .filter((r) => r.split === 'train')
        .map((r) => r.imageId),
    );
    // By hand: each train image and the slice either side of it in its series (full cache order).
    const full = cacheRows(cache);
    const bySeries = new Map<string, string[]>();
    for (const r of [...full].sort((x, y) => x.slice_index! - y.slice_index!)) {
      bySeries.set(r.series_uid, [...(bySeries.get(r.series_uid) ?? []), r.image_id]);
    }
    const expected = new Map<string, number>();
    for (const ids of bySeries.values()) {
      ids.forEach((id, i) => {
        if (!chosen.has(id)) return;
        for (const j of contextIndices(i, ids.length, 1)) {
          const n = ids[j]!;
          expected.set(n, chosen.has(n) ? 0 : 1);
        }
      });
    }
    const out = join(root, 'cache-train');
    const r = await prepare({
      images,
      labels,
      out,
      size: 32,
      workers: 1,
      progress: false,
      index: meta,
      split: splitCsv,
      splits: 'train',
      context: 1,
    });
    expect(r.rejected).toBe(0);
    const restricted = openCache(out);
    const all = openCache(cache);
    try {
      const got = new Map(restricted.sliceRows().map((s) => [s.image_id, s.context]));
      expect(got).toEqual(expected);
      expect([...got.values()].filter((v) => v === 1).length).toBeGreaterThan(0);
      // The records are those of the full cache.
      for (const id of got.keys()) expect(restricted.read(id)).toEqual(all.read(id));
      const context = restricted.rows().filter((x) => x.context === true);
      expect(context.length).toBe([...expected.values()].filter((v) => v === 1).length);
      // Training and evaluation take positions from the split file: the train images only,
      // never a context row; the val split, not cached, is not needed to read train.
      const rowsOf = restricted.rows();
      const used = resolveSplit(restricted, readSplitCsv(splitCsv), { train: [], val: 'train' });
      const ids = [...used.val].map((p) => rowsOf[p]!);
      expect(new Set(ids.map((x) => x.imageId))).toEqual(chosen);
      expect(ids.every((x) => x.context === undefined)).toBe(true);
    } finally {
      restricted.close();
      all.close();
    }
    // split never draws a context row; info counts them and says what selected the files.
    const again = await split({
      cache: out,
      out: join(root, 'again.csv'),
      val: 0.25,
      group: 'none',
    });
    expect(again.images).toBe(chosen.size);
    for (const row of readSplitCsv(again.out)) expect(chosen.has(row.imageId)).toBe(true);
    const info = cacheInfo(out);
    expect(info.contextRows).toBe(expected.size - chosen.size);
    expect(info.job.selection).toContain('[train] + context 1');
    expect(info.bytesOnDisk).toBeGreaterThanOrEqual(expected.size * 32 * 32 * 3);
  });

  it('a cache written before the context column still reads, every row selectable', () => {
    const old = join(root, 'cache-old');
    rmSync(old, { recursive: true, force: true });
    const db = new Database(join(cache, 'index.sqlite'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    copyFileSync(join(cache, 'index.sqlite'), join(root, 'old.sqlite'));
    const od = new Database(join(root, 'old.sqlite'));
    od.exec('ALTER TABLE slices DROP COLUMN context');
    od.close();
    const c = openCache(cache);
    const n = c.count();
    c.close();
    // Same folder layout, old schema.
    cpSync(cache, old, { recursive: true });
    copyFileSync(join(root, 'old.sqlite'), join(old, 'index.sqlite'));
    const o = openCache(old);
    try {
      expect(o.count()).toBe(n);
      expect(o.rows().every((r) => r.context === undefined)).toBe(true);
    } finally {
      o.close();
    }
  });

  it('a resumed prepare adds the context column to an old cache, every row 0', async () => {
    const old = join(root, 'cache-old');
    await prepare({ images, labels, out: old, size: 32, workers: 1, progress: false });
    const db = new Database(join(old, 'index.sqlite'), { readonly: true });
    try {
      const counts = db.prepare('SELECT context, COUNT(*) AS n FROM slices GROUP BY context').all();
      expect(counts).toEqual([{ context: 0, n: cacheRows(cache).length }]);
    } finally {
      db.close();
    }
  });

  it('prepare --split without --index is refused, naming what is missing', async () => {
    await expect(
      prepare({ images, out: join(root, 'nope'), split: join(root, 'by-image.csv') }),
    ).rejects.toThrow(/--split needs --index META/);
  });

  it('prepare refuses a run the file system has no room for, unless --force', async () => {
    const out = join(root, 'too-big');
    const err = await prepare({
      images,
      out,
      size: 300_000,
      workers: 1,
      progress: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    // 300,000² × 3 bytes per record, plus 1 KiB of index each.
    expect(String((err as Error).message)).toMatch(
      /not enough disk space for the cache in .*too-big: \d+ records need about [\d.]+ TiB \(\d+ bytes\), the file system has .* free; .* or pass --force to try anyway/,
    );
  });

  it('resumes after kill -9 to the same file as an uninterrupted run', async () => {
    const out = join(root, 'killed.sqlite');
    const opts: IndexOptions = { images, labels, out, workers: 1, batch: 2, progress: false };
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'index-child.ts'), JSON.stringify(opts)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const at = await new Promise<number>((resolve, reject) => {
      let seen = 0;
      const timer = setInterval(() => {
        seen = committedFiles(out);
        if (seen >= 10) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 5);
      child.on('exit', (code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL') resolve(seen);
        else reject(new Error(`index child was not killed (exit ${code}): ${stderr}`));
      });
    });
    expect(at).toBeGreaterThanOrEqual(10);
    const total = indexed.indexed + indexed.rejected;
    expect(committedFiles(out)).toBeLessThan(total);
    expect(() => openMetaIndex(out)).toThrow(/is incomplete/);
    const r = await indexImages({ ...opts, workers: 2 });
    expect(r.resumed).toBeGreaterThanOrEqual(10);
    expect(r.resumed + r.processed).toBe(total);
    expect(dump(out)).toBe(dump(meta));
  }, 30_000);
});

function committedFiles(path: string): number {
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { fileMustExist: true, readonly: true });
    try {
      const n = db.prepare('SELECT (SELECT COUNT(*) FROM slices) + (SELECT COUNT(*) FROM rejects)');
      return n.pluck().get() as number;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe('only CT image slices enter the CT pipeline', () => {
  it('prepare, index and predict reject an RT dose grid; export reads it and says what it is', async () => {
    const file = join(images, 'x-rtdose.dcm');
    const bytes = readFileSync(file);
    expect(scanFile(file, bytes)).toEqual({
      ok: false,
      reason: 'not a CT slice: Modality RTDOSE',
    });
    expect(() => new HeaderReader().read(file, { rsnaFix: true })).toThrow(
      'not a CT slice: Modality RTDOSE',
    );
    const r = await exportSlice({ file, out: join(root, 'dose.npy'), hu: true });
    expect(r.read).toEqual({ modality: 'RTDOSE', sopClassUid: RT_DOSE, ct: false });
    expect(r.shape).toEqual([8, 8]);
    // A slice with no Modality but the CT Image Storage class is a CT slice.
    const ct = join(images, 'x-ct-nomodality.dcm');
    expect(scanFile(ct, readFileSync(ct)).ok).toBe(true);
  });
});
