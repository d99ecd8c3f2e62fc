import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheInfo, formatCacheInfo } from '../src/commands/info.js';
import { prepare } from '../src/commands/prepare.js';
import { synth } from '../src/commands/synth.js';
import { type Cache, openCache, shardPath } from '../src/data/cache.js';
import { readWindowedUint8 } from '../src/dicom/fastpath.js';
import { DEFAULT_WINDOWS, parseWindows } from '../src/dicom/window.js';
import { ConfigError, InputError } from '../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-cache-'));
const data = join(root, 'data');
const images = join(data, 'stage_2_train');
const out = join(root, 'cache');
let cache: Cache;

beforeAll(async () => {
  await synth({ out: data, patients: 3, size: 128, workers: 1, faults: 3, progress: false });
  await prepare({
    images,
    labels: join(data, 'stage_2_train.csv'),
    out,
    size: 64,
    workers: 2,
    recordsPerShard: 16,
    progress: false,
  });
  cache = openCache(out);
});

afterAll(() => {
  cache?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The metadata.csv synth wrote: id → patient, study, series, z, slice index. */
function metadata(): Map<string, string[]> {
  const lines = readFileSync(join(data, 'metadata.csv'), 'utf8').trim().split('\n').slice(1);
  return new Map(lines.map((l) => [l.split(',')[0]!, l.split(',').slice(1)]));
}

describe('the cache of a prepared synthetic dataset', () => {
  it('holds every valid slice, with the config it was prepared with', () => {
    expect(cache.count()).toBe(metadata().size);
    expect(cache.config.size).toBe(64);
    expect(cache.config.channels).toBe(3);
    expect(cache.config.recordBytes).toBe(64 * 64 * 3);
    expect(cache.config.windows.map((w) => [w.center, w.width])).toEqual([
      [40, 80],
      [80, 200],
      [40, 380],
    ]);
    expect(cache.config.rsnaFix).toBe(true);
    expect(cache.job.complete).toBe(true);
  });

  it('stores each record exactly as readWindowedUint8 computes it from its file', () => {
    const cfg = { windows: DEFAULT_WINDOWS, size: 64, rsnaFix: true };
    const rows = cache.sliceRows();
    rows.forEach((r, i) => {
      const expected = readWindowedUint8(readFileSync(join(images, r.source)), r.source, cfg);
      expect(Buffer.from(cache.read(r.image_id)).equals(Buffer.from(expected.image.data))).toBe(
        true,
      );
      expect(Buffer.from(cache.read(i)).equals(Buffer.from(expected.image.data))).toBe(true);
    });
  });

  it('gives index rows matching the dataset metadata, with series order and neighbours', () => {
    const meta = metadata();
    const rows = cache.rows();
    const byId = new Map(cache.sliceRows().map((r) => [r.image_id, r]));
    for (const r of rows) {
      const m = meta.get(r.imageId)!;
      expect([r.patientId, r.studyInstanceUid, r.seriesInstanceUid]).toEqual(m.slice(0, 3));
      expect(r.z).toBeCloseTo(Number(m[3]), 6);
      expect(r.sliceIndex).toBe(Number(m[4]));
      const s = byId.get(r.imageId)!;
      if (s.prev_id !== null) {
        const p = byId.get(s.prev_id)!;
        expect(p.series_uid).toBe(s.series_uid);
        expect(p.slice_index).toBe(s.slice_index! - 1);
        expect(p.next_id).toBe(s.image_id);
      } else expect(s.slice_index).toBe(0);
    }
  });

  it('carries the CSV labels, with any = OR of the subtypes on synthetic data', () => {
    const csv = readFileSync(join(data, 'stage_2_train.csv'), 'utf8').trim().split('\n').slice(1);
    const pos = new Set(csv.filter((l) => l.endsWith(',1')).map((l) => l.slice(0, -2)));
    for (const r of cache.rows()) {
      expect(r.labels[5]).toBe(r.labels.slice(0, 5).some((v) => v === 1) ? 1 : 0);
      expect(r.labels[4]).toBe(pos.has(`${r.imageId}_subdural`) ? 1 : 0);
    }
  });

  it('reads random batches in the order asked, as views of one buffer', () => {
    const rows = cache.rows();
    const ids = [rows[40]!.imageId, rows[3]!.imageId, rows[99]!.imageId, rows[3]!.imageId];
    const batch = cache.readBatch(ids);
    expect(batch).toHaveLength(4);
    for (const [i, id] of ids.entries()) expect(batch[i]).toEqual(cache.read(id));
    expect(batch[0]!.buffer).toBe(batch[1]!.buffer);
    const out = new Uint8Array(4 * cache.config.recordBytes);
    cache.readBatch(ids, out);
    expect(out.subarray(0, cache.config.recordBytes)).toEqual(batch[0]);
  });

  it('lays records out at slot = index in the sorted file list, 16 per shard', () => {
    const rows = cache.sliceRows();
    for (const r of rows) {
      expect(r.shard * 16 + r.record).toBe(r.file_index);
      const bytes = readFileSync(shardPath(out, r.shard)).subarray(
        r.record * cache.config.recordBytes,
        (r.record + 1) * cache.config.recordBytes,
      );
      expect(Buffer.from(bytes).equals(Buffer.from(cache.read(r.image_id)))).toBe(true);
    }
  });

  it('names an unknown image id or an index out of range', () => {
    expect(() => cache.read('ID_nope')).toThrow(InputError);
    expect(() => cache.read('ID_nope')).toThrow('no slice with image id "ID_nope"');
    expect(() => cache.read(10_000)).toThrow(/slice index 10000 out of range \[0, 102\)/);
  });
});

describe('openCache config checks', () => {
  it('refuses a cache whose size, windows, channels or RSNA fix differ from what is needed', () => {
    expect(() => openCache(out, { size: 256 })).toThrow(ConfigError);
    expect(() => openCache(out, { size: 256 })).toThrow(`cache ${out} has size 64, expected 256`);
    expect(() => openCache(out, { windows: parseWindows('brain,bone') })).toThrow(
      'has windows 40/80,80/200,40/380, expected 40/80,600/2800',
    );
    expect(() => openCache(out, { channels: 1 })).toThrow('has channels 3, expected 1');
    expect(() => openCache(out, { rsnaFix: false })).toThrow('has rsna_fix true, expected false');
    const ok = openCache(out, { size: 64, windows: DEFAULT_WINDOWS, channels: 3, rsnaFix: true });
    ok.close();
  });

  it('says when a folder is not a cache', () => {
    expect(() => openCache(data)).toThrow(`${data} is not an ichdet cache: index.sqlite not found`);
    expect(() => openCache(join(root, 'nothing'))).toThrow('no such cache folder');
  });
});

describe('ichdet info', () => {
  it('counts slices, patients, studies, series, rejects and positives per label', () => {
    const info = cacheInfo(out);
    expect(info.slices).toBe(102);
    expect(info.rejects).toBe(3);
    expect([info.patients, info.studies, info.series]).toEqual([3, 3, 3]);
    const any = info.labels.find((l) => l.name === 'any')!;
    const expectedAny = cache.rows().filter((r) => r.labels[5] === 1).length;
    expect(any.positives).toBe(expectedAny);
    expect(any.rate).toBeCloseTo(expectedAny / 102, 12);
    const text = formatCacheInfo(info);
    expect(text).toContain('slices 102, rejected 3; patients 3, studies 3, series 3');
    expect(text).toMatch(/any\s+\d+\s+102\s+\d+\.\d\d%/);
  });
});
