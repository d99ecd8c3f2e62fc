import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_FORMAT,
  type Cache,
  type CacheConfig,
  openCache,
  openIndex,
  SLICE_COLUMNS,
  type SliceRow,
} from '../src/data/cache.js';
import { ShardWriter, saveConfig } from '../src/data/cache-writer.js';
import { BatchLoader, type InputSpec, inputChannels } from '../src/data/input.js';
import type { SplitRow } from '../src/data/split.js';
import { resize } from '../src/dicom/resize.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { ConfigError, InputError } from '../src/errors.js';
import type { Preprocessing } from '../src/models/registry.js';
import {
  type AugmentDraw,
  drawAugment,
  formatAugment,
  NO_AUGMENT,
  parseAugment,
} from '../src/train/augment.js';
import { epochOrder, exampleDraw } from '../src/train/data.js';
import { readSplitCsv, resolveSplit } from '../src/train/split-file.js';
import { Rng } from '../src/util/rng.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-train-data-'));

interface TinySlice {
  id: string;
  series: string;
  prev: string | null;
  next: string | null;
}

/**
 * Writes a complete cache by hand: `slices[i]` at slot i (two records per shard), its record
 * `records[i]` (size × size × 3 bytes).
 */
function writeCache(
  dir: string,
  size: number,
  slices: readonly TinySlice[],
  records: readonly Uint8Array[],
): Cache {
  const recordBytes = size * size * 3;
  const config: CacheConfig = {
    format: CACHE_FORMAT,
    version: '0.0.0',
    size,
    windows: [...DEFAULT_WINDOWS],
    channels: 3,
    rsnaFix: true,
    crop: 'none',
    recordBytes,
    recordsPerShard: 2,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  mkdirSync(dir, { recursive: true });
  const db = openIndex(dir, true);
  saveConfig(db, config, {
    images: '/none',
    fileCount: slices.length,
    fileListSha256: '',
    shard: '1/1',
    slots: slices.length,
    labels: null,
    complete: true,
  });
  const insert = db.prepare(
    `INSERT INTO slices (${SLICE_COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${SLICE_COLUMNS.map((c) => `@${c}`).join(', ')})`,
  );
  const writer = new ShardWriter(dir, recordBytes, 2);
  slices.forEach((s, i) => {
    writer.write(i, records[i]!);
    const row: SliceRow = {
      image_id: s.id,
      patient_id: `P_${s.series}`,
      study_uid: `1.2.${s.series}`,
      series_uid: `1.2.${s.series}.1`,
      z: i,
      instance_number: i,
      slice_index: i,
      prev_id: s.prev,
      next_id: s.next,
      epidural: 0,
      intraparenchymal: 0,
      intraventricular: 0,
      subarachnoid: 0,
      subdural: 0,
      any: 0,
      source: `${s.id}.dcm`,
      file_index: i,
      rows: 512,
      cols: 512,
      pixel_spacing_row: 0.5,
      pixel_spacing_col: 0.5,
      slope: 1,
      intercept: -1024,
      bits_stored: 12,
      pixel_representation: 0,
      rsna_fix_applied: 0,
      shard: Math.floor(i / 2),
      record: i % 2,
      context: 0,
    };
    insert.run(row);
  });
  writer.finish(slices.length);
  db.close();
  return openCache(dir);
}

/**
 * The 4 × 4 cache: series A is a0 → a1 → a2 → a3, stored out of order; b0 is alone in its
 * series, and its prev_id names a slice the cache does not hold. The byte at position p,
 * row y, column x, channel c is 50p + 12y + 3x + c (all distinct, ≤ 247).
 */
const S = 4;
const SLICES: TinySlice[] = [
  { id: 'ID_a1', series: 'A', prev: 'ID_a0', next: 'ID_a2' },
  { id: 'ID_a0', series: 'A', prev: null, next: 'ID_a1' },
  { id: 'ID_a3', series: 'A', prev: 'ID_a2', next: null },
  { id: 'ID_b0', series: 'B', prev: 'ID_gone', next: null },
  { id: 'ID_a2', series: 'A', prev: 'ID_a1', next: 'ID_a3' },
];
const A0 = 1;
const A1 = 0;
const A2 = 4;
const A3 = 2;
const B0 = 3;
const byte = (p: number, y: number, x: number, c: number): number => 50 * p + 12 * y + 3 * x + c;

let cache: Cache;
/** An 8 × 8 cache of pseudo-random bytes, for the resize and crop checks. */
let noisy: Cache;
let noisyRecords: Uint8Array[];

beforeAll(() => {
  const records = SLICES.map((_, p) => {
    const r = new Uint8Array(S * S * 3);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        for (let c = 0; c < 3; c++) r[(y * S + x) * 3 + c] = byte(p, y, x, c);
    return r;
  });
  const dir = join(root, 'tiny');
  cache = writeCache(dir, S, SLICES, records);
  const rng = new Rng(7);
  noisyRecords = [0, 1].map(() => Uint8Array.from({ length: 8 * 8 * 3 }, () => rng.int(0, 255)));
  noisy = writeCache(
    join(root, 'noisy'),
    8,
    [
      { id: 'ID_n0', series: 'N', prev: null, next: 'ID_n1' },
      { id: 'ID_n1', series: 'N', prev: 'ID_n0', next: null },
    ],
    noisyRecords,
  );
});

afterAll(() => {
  cache?.close();
  noisy?.close();
  rmSync(root, { recursive: true, force: true });
});

function splitFile(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

describe('readSplitCsv', () => {
  it('reads the rows of a split file, CRLF and a final newline included', () => {
    const path = splitFile(
      'ok.csv',
      'image_id,split,repeat\r\nID_a0,train,2\r\n1.2.840.1.5,fold3,0\r\nID_b0,val,1\r\n',
    );
    expect(readSplitCsv(path)).toEqual<SplitRow[]>([
      { imageId: 'ID_a0', split: 'train', repeat: 2 },
      { imageId: '1.2.840.1.5', split: 'fold3', repeat: 0 },
      { imageId: 'ID_b0', split: 'val', repeat: 1 },
    ]);
  });

  it.each([
    [
      'image,split,repeat\nID_a0,train,1\n',
      1,
      'header must be "image_id,split,repeat", received "image,split,repeat"',
    ],
    [
      'image_id,split,repeat\nID_a0,train,1\nID_a1,train\n',
      3,
      'expected 3 fields (image_id,split,repeat), received "ID_a1,train"',
    ],
    [
      'image_id,split,repeat\nID a0,train,1\n',
      2,
      'image_id must be a non-empty id without spaces or quotes, received "ID a0"',
    ],
    [
      'image_id,split,repeat\n,train,1\n',
      2,
      'image_id must be a non-empty id without spaces or quotes, received ""',
    ],
    [
      'image_id,split,repeat\nID_a0,tr/ain,1\n',
      2,
      'split must be a name of letters, digits, _ or -, received "tr/ain"',
    ],
    [
      'image_id,split,repeat\nID_a0,train,1\n\nID_a1,val,-1\n',
      4,
      'repeat must be an integer ≥ 0, received "-1"',
    ],
    [
      'image_id,split,repeat\nID_a0,train,1.5\n',
      2,
      'repeat must be an integer ≥ 0, received "1.5"',
    ],
    ['image_id,split,repeat\nID_a0,train,\n', 2, 'repeat must be an integer ≥ 0, received ""'],
    [
      'image_id,split,repeat\nID_a0,train,1\nID_a1,val,1\nID_a0,val,1\n',
      4,
      'image ID_a0 is listed twice (first on line 2)',
    ],
  ])('rejects %j naming file, line %i and the value', (text, line, message) => {
    const path = splitFile('bad.csv', text);
    expect(() => readSplitCsv(path)).toThrow(new InputError(`${path}:${line}: ${message}`));
  });

  it('says which file it cannot read', () => {
    const path = join(root, 'absent.csv');
    expect(() => readSplitCsv(path)).toThrow(InputError);
    expect(() => readSplitCsv(path)).toThrow(`cannot read split file ${path}: ENOENT`);
  });
});

describe('resolveSplit', () => {
  const rows: SplitRow[] = [
    { imageId: 'ID_b0', split: 'train', repeat: 3 },
    { imageId: 'ID_a0', split: 'val', repeat: 1 },
    { imageId: 'ID_a2', split: 'train', repeat: 0 },
    { imageId: 'ID_a1', split: 'train', repeat: 1 },
    { imageId: 'ID_a3', split: 'val', repeat: 5 },
  ];

  it('repeats each training image `repeat` times in file order and lists validation images once', () => {
    const r = resolveSplit(cache, rows, { train: ['train'], val: 'val' });
    expect([...r.train]).toEqual([B0, B0, B0, A1]);
    expect([...r.val]).toEqual([A0, A3]);
  });

  it('trains on every fold but k and validates on fold k', () => {
    const folds: SplitRow[] = [
      { imageId: 'ID_a0', split: 'fold0', repeat: 1 },
      { imageId: 'ID_a1', split: 'fold1', repeat: 2 },
      { imageId: 'ID_a2', split: 'fold2', repeat: 1 },
      { imageId: 'ID_a3', split: 'fold1', repeat: 1 },
      { imageId: 'ID_b0', split: 'fold0', repeat: 2 },
    ];
    const r = resolveSplit(cache, folds, { train: ['fold0', 'fold2'], val: 'fold1' });
    expect([...r.train]).toEqual([A0, A2, B0, B0]);
    expect([...r.val]).toEqual([A1, A3]);
  });

  it('names the first split image missing from the cache and how many are', () => {
    const bad = [
      ...rows,
      { imageId: 'ID_x', split: 'val', repeat: 1 },
      { imageId: 'ID_y', split: 'train', repeat: 1 },
    ];
    expect(() => resolveSplit(cache, bad, { train: ['train'], val: 'val' })).toThrow(
      new InputError(
        `split image ID_x is not in cache ${cache.dir} (2 of 7 split images are missing); was the split made from another cache?`,
      ),
    );
  });

  it('refuses a named split without examples, and a validation split that is also trained on', () => {
    const have = 'the split file has train (3), val (2)';
    expect(() => resolveSplit(cache, rows, { train: ['train'], val: 'fold1' })).toThrow(
      new ConfigError(`validation split "fold1" has no examples (no rows); ${have}`),
    );
    expect(() => resolveSplit(cache, rows, { train: ['train', 'fold9'], val: 'val' })).toThrow(
      new ConfigError(`training split "fold9" has no examples (no rows); ${have}`),
    );
    const zero = rows.map((r) => (r.split === 'train' ? { ...r, repeat: 0 } : r));
    expect(() => resolveSplit(cache, zero, { train: ['train'], val: 'val' })).toThrow(
      new ConfigError(`training split "train" has no examples (every repeat is 0); ${have}`),
    );
    expect(() => resolveSplit(cache, rows, { train: ['train', 'val'], val: 'val' })).toThrow(
      new ConfigError('validation split "val" is also a training split'),
    );
  });
});

describe('augmentation options', () => {
  it('parses the reference spec, with missing keys 0 and the default crop scale', () => {
    expect(parseAugment('hflip=0.25,vflip=0.10,crop=0.25')).toEqual({
      hflip: 0.25,
      vflip: 0.1,
      crop: 0.25,
      cropScale: [0.8, 1],
    });
    expect(parseAugment('vflip=1')).toEqual({ hflip: 0, vflip: 1, crop: 0, cropScale: [0.8, 1] });
    expect(parseAugment(' crop = 0.5 , crop_scale=0.6:0.9')).toEqual({
      hflip: 0,
      vflip: 0,
      crop: 0.5,
      cropScale: [0.6, 0.9],
    });
    expect(parseAugment('none')).toEqual(NO_AUGMENT);
  });

  it.each([
    ['rotate=0.5', 'unknown augment "rotate", expected hflip, vflip, crop or crop_scale (or none)'],
    ['hflip=1.5', 'augment hflip must be a probability in [0, 1], received "1.5"'],
    ['vflip=-0.1', 'augment vflip must be a probability in [0, 1], received "-0.1"'],
    ['crop=', 'augment crop must be a probability in [0, 1], received ""'],
    ['hflip', 'augment entries are key=value, received "hflip"'],
    ['hflip=0.1,hflip=0.2', 'augment hflip is given twice in "hflip=0.1,hflip=0.2"'],
    [
      'crop_scale=0.9:0.8',
      'augment crop_scale must be lo:hi with 0 < lo ≤ hi ≤ 1, received "0.9:0.8"',
    ],
    ['crop_scale=0:1', 'augment crop_scale must be lo:hi with 0 < lo ≤ hi ≤ 1, received "0:1"'],
    ['crop_scale=0.5', 'augment crop_scale must be lo:hi with 0 < lo ≤ hi ≤ 1, received "0.5"'],
  ])('rejects %j naming the key and the value', (spec, message) => {
    expect(() => parseAugment(spec)).toThrow(new ConfigError(message));
  });

  it('formats options back to a spec that parses to the same options', () => {
    const o = parseAugment('hflip=0.25,crop=0.5,crop_scale=0.7:0.95');
    expect(formatAugment(o)).toBe('hflip=0.25,vflip=0,crop=0.5,crop_scale=0.7:0.95');
    expect(parseAugment(formatAugment(o))).toEqual(o);
    expect(formatAugment(NO_AUGMENT)).toBe('none');
  });

  it('draws flips and crops at their probabilities, crops inside the image at their scale', () => {
    const o = parseAugment('hflip=0.25,vflip=0.10,crop=0.5,crop_scale=0.5:1');
    const rng = new Rng(3);
    const n = 4000;
    let h = 0;
    let v = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const d = drawAugment(o, rng, 256);
      h += d.hflip ? 1 : 0;
      v += d.vflip ? 1 : 0;
      if (d.crop === null) continue;
      c++;
      const { y, x, side } = d.crop;
      expect(Number.isInteger(y) && Number.isInteger(x) && Number.isInteger(side)).toBe(true);
      expect(side).toBeGreaterThanOrEqual(128);
      expect(side).toBeLessThanOrEqual(256);
      expect(Math.min(x, y)).toBeGreaterThanOrEqual(0);
      expect(Math.max(x, y) + side).toBeLessThanOrEqual(256);
    }
    // Binomial standard deviations: 27, 19 and 32 draws.
    expect(Math.abs(h - 0.25 * n)).toBeLessThan(110);
    expect(Math.abs(v - 0.1 * n)).toBeLessThan(80);
    expect(Math.abs(c - 0.5 * n)).toBeLessThan(130);
    expect(drawAugment(NO_AUGMENT, rng, 256)).toEqual({ hflip: false, vflip: false, crop: null });
    const all = parseAugment('hflip=1,vflip=1,crop=1,crop_scale=1:1');
    expect(drawAugment(all, rng, 256)).toEqual({
      hflip: true,
      vflip: true,
      crop: { y: 0, x: 0, side: 256 },
    });
  });

  it('draws an example’s augmentation from (seed, epoch, position) alone', () => {
    const o = parseAugment('hflip=0.5,vflip=0.5,crop=0.5');
    const d = exampleDraw(o, 11, 2, 37, 64);
    expect(exampleDraw(o, 11, 2, 37, 64)).toEqual(d);
    expect(d).toEqual(drawAugment(o, new Rng(11, 2, 37), 64));
    const others = [0, 1, 2, 3, 4, 5, 6, 7].map((p) =>
      JSON.stringify(exampleDraw(o, 11, 2, p, 64)),
    );
    expect(new Set(others).size).toBeGreaterThan(4);
  });
});

describe('epochOrder', () => {
  const train = Int32Array.from([4, 4, 4, 0, 1, 2, 3, 3, 7, 9, 5, 6]);

  it('is a permutation of the training positions, repeats included, leaving the input alone', () => {
    const copy = train.slice();
    const order = epochOrder(train, 5, 0);
    expect(train).toEqual(copy);
    expect([...order].sort((a, b) => a - b)).toEqual([...train].sort((a, b) => a - b));
    expect(order).not.toEqual(train);
  });

  it('is a Fisher–Yates shuffle seeded by (seed, epoch): the same for both, else different', () => {
    const rng = new Rng(5, 3);
    const expected = [...train];
    for (let i = expected.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [expected[i], expected[j]] = [expected[j]!, expected[i]!];
    }
    expect([...epochOrder(train, 5, 3)]).toEqual(expected);
    expect(epochOrder(train, 5, 3)).toEqual(epochOrder(train, 5, 3));
    expect(epochOrder(train, 5, 4)).not.toEqual(epochOrder(train, 5, 3));
    expect(epochOrder(train, 6, 3)).not.toEqual(epochOrder(train, 5, 3));
  });
});

/** The loader's value at example e, pixel (y, x), channel ch of an n-example batch. */
const at = (
  x: Float32Array,
  size: number,
  channels: number,
  e: number,
  y: number,
  xx: number,
  ch: number,
) => x[((e * size + y) * size + xx) * channels + ch]!;

function loader(spec: Partial<InputSpec> = {}, c: Cache = cache): BatchLoader {
  return new BatchLoader(c, { size: S, context: 0, preprocessing: 'none', ...spec });
}

describe('BatchLoader', () => {
  it('counts input channels as windows × (2·context + 1)', () => {
    expect(inputChannels(3, 0)).toBe(3);
    expect(inputChannels(3, 1)).toBe(9);
    expect(inputChannels(3, 2)).toBe(15);
    expect(loader({ context: 2 }).channels).toBe(15);
  });

  it.each<[Preprocessing, (v: number, c: number) => number]>([
    ['none', (v) => v],
    ['tf', (v) => (2 * v) / 255 - 1],
    ['caffe', (v, c) => v - [103.939, 116.779, 123.68][c]!],
  ])('scales %s inputs as Keras preprocess_input does', (preprocessing, f) => {
    const x = loader({ preprocessing }).load([B0, A1], null);
    expect(x.length).toBe(2 * S * S * 3);
    for (const [e, p] of [B0, A1].entries())
      for (let y = 0; y < S; y++)
        for (let xx = 0; xx < S; xx++)
          for (let c = 0; c < 3; c++)
            expect(at(x, S, 3, e, y, xx, c)).toBeCloseTo(f(byte(p, y, xx, c), c), 5);
  });

  it('gives hand-computed values: byte 169 at b0 (1, 2) channel 1', () => {
    // 50·3 + 12·1 + 3·2 + 1 = 169.
    expect(at(loader({ preprocessing: 'none' }).load([B0], null), S, 3, 0, 1, 2, 1)).toBe(169);
    expect(at(loader({ preprocessing: 'tf' }).load([B0], null), S, 3, 0, 1, 2, 1)).toBeCloseTo(
      0.3254902,
      6,
    );
    expect(at(loader({ preprocessing: 'caffe' }).load([B0], null), S, 3, 0, 1, 2, 1)).toBeCloseTo(
      52.221,
      4,
    );
  });

  it('mirrors exactly under hflip and vflip', () => {
    const l = loader({ preprocessing: 'tf' });
    const plain = l.load([A2], null);
    const draw = (hflip: boolean, vflip: boolean): AugmentDraw => ({ hflip, vflip, crop: null });
    const h = l.load([A2], [draw(true, false)]);
    const v = l.load([A2], [draw(false, true)]);
    const hv = l.load([A2], [draw(true, true)]);
    for (let y = 0; y < S; y++)
      for (let xx = 0; xx < S; xx++)
        for (let c = 0; c < 3; c++) {
          const p = at(plain, S, 3, 0, y, xx, c);
          expect(at(h, S, 3, 0, y, S - 1 - xx, c)).toBe(p);
          expect(at(v, S, 3, 0, S - 1 - y, xx, c)).toBe(p);
          expect(at(hv, S, 3, 0, S - 1 - y, S - 1 - xx, c)).toBe(p);
        }
  });

  it('takes context channels from the series neighbours, repeating the nearest slice at the edges', () => {
    const l = loader({ context: 2, preprocessing: 'caffe' });
    const expected: [number, number[]][] = [
      [A1, [A0, A0, A1, A2, A3]],
      [A0, [A0, A0, A0, A1, A2]],
      [A2, [A0, A1, A2, A3, A3]],
      [A3, [A1, A2, A3, A3, A3]],
      [B0, [B0, B0, B0, B0, B0]], // its prev_id is not in the cache
    ];
    const x = l.load(
      expected.map(([p]) => p),
      null,
    );
    for (const [e, [p, slices]] of expected.entries()) {
      expect(l.contextOf(p)).toEqual(slices);
      for (const [s, q] of slices.entries())
        for (let c = 0; c < 3; c++) {
          const ch = 3 * s + c;
          expect(at(x, S, 15, e, 2, 1, ch)).toBeCloseTo(
            byte(q, 2, 1, c) - [103.939, 116.779, 123.68][ch % 3]!,
            4,
          );
        }
    }
    expect(loader({ context: 1 }).contextOf(A0)).toEqual([A0, A0, A1]);
  });

  it('resizes bilinearly with half-pixel centres, as resize() does', () => {
    for (const size of [3, 6, 11]) {
      const x = loader({ size, preprocessing: 'none' }, noisy).load([1], null);
      const expected = resize(Float32Array.from(noisyRecords[1]!), 8, 8, 3, size, size, 'bilinear');
      expect(x.length).toBe(expected.length);
      for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo(expected[i]!, 4);
    }
  });

  it('crops then resizes exactly as resizing the cropped region on its own, flips after', () => {
    const crop = { y: 2, x: 1, side: 5 };
    const region = new Float32Array(5 * 5 * 3);
    for (let y = 0; y < 5; y++)
      for (let xx = 0; xx < 5; xx++)
        for (let c = 0; c < 3; c++)
          region[(y * 5 + xx) * 3 + c] =
            noisyRecords[0]![((y + crop.y) * 8 + xx + crop.x) * 3 + c]!;
    const size = 7;
    const expected = resize(region, 5, 5, 3, size, size, 'bilinear');
    const l = loader({ size, preprocessing: 'tf' }, noisy);
    const x = l.load(
      [0, 0],
      [
        { hflip: false, vflip: false, crop },
        { hflip: true, vflip: false, crop },
      ],
    );
    for (let y = 0; y < size; y++)
      for (let xx = 0; xx < size; xx++)
        for (let c = 0; c < 3; c++) {
          const want = (2 * expected[(y * size + xx) * 3 + c]!) / 255 - 1;
          expect(at(x, size, 3, 0, y, xx, c)).toBeCloseTo(want, 5);
          expect(at(x, size, 3, 1, y, size - 1 - xx, c)).toBeCloseTo(want, 5);
        }
    // A crop of one pixel is that pixel everywhere.
    const one = l.load([1], [{ hflip: false, vflip: false, crop: { y: 7, x: 0, side: 1 } }]);
    for (let i = 0; i < size * size; i++)
      expect(one[i * 3 + 2]).toBeCloseTo((2 * noisyRecords[1]![(7 * 8 + 0) * 3 + 2]!) / 255 - 1, 6);
  });

  it('leaves the cache records, positions and draws unchanged and fills `out` when it fits', () => {
    const before = [0, 1, 2, 3, 4].map((p) => cache.read(p).slice());
    const positions = Int32Array.from([A1, B0, A1]);
    const draws: AugmentDraw[] = [
      { hflip: true, vflip: true, crop: { y: 1, x: 0, side: 3 } },
      { hflip: false, vflip: true, crop: null },
      { hflip: true, vflip: false, crop: null },
    ];
    const drawsCopy = structuredClone(draws);
    const l = new BatchLoader(cache, { size: 5, context: 1, preprocessing: 'tf' });
    const out = new Float32Array(3 * 5 * 5 * 9);
    expect(l.load(positions, draws, out)).toBe(out);
    expect(out.some((v) => v !== 0)).toBe(true);
    expect([...positions]).toEqual([A1, B0, A1]);
    expect(draws).toEqual(drawsCopy);
    for (const [p, r] of before.entries()) expect(cache.read(p)).toEqual(r);
  });

  it('rejects a bad input spec, a crop outside the image and a draw count that does not match', () => {
    expect(() => loader({ size: 0 })).toThrow(
      new ConfigError('input size must be a positive integer, received 0'),
    );
    expect(() => loader({ context: 3 as 2 })).toThrow(
      new ConfigError('context must be 0, 1 or 2, received 3'),
    );
    const l = loader();
    expect(() =>
      l.load([0], [{ hflip: false, vflip: false, crop: { y: 1, x: 1, side: 4 } }]),
    ).toThrow(RangeError);
    expect(() => l.load([0, 1], [null])).toThrow(
      new RangeError('load needs one draw per position: 2 positions, 1 draws'),
    );
  });
});
