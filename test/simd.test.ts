/**
 * The WebAssembly SIMD kernels (src/dicom/simd) against the JavaScript reference: every one of
 * the 65,536 sample words for each accelerated parameter set, whole images of random words
 * through the fast path, the cases that must fall back, and the generated module against the
 * kernel source.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assemble,
  MODULE_PATH,
  renderModule,
  sourceSha256,
  WAT_PATH,
} from '../scripts/build-wasm.js';
import { readWindowed, readWindowedUint8 } from '../src/dicom/fastpath.js';
import { needsRsnaFix, storedToHu } from '../src/dicom/hu.js';
import { toStored } from '../src/dicom/pixels.js';
import { windowedImage, windowedImageUint8 } from '../src/dicom/preprocess.js';
import { toUint8 } from '../src/dicom/quantize.js';
import { decodeSlice } from '../src/dicom/read.js';
import { resize } from '../src/dicom/resize.js';
import {
  planWindow3,
  setSimdEnabled,
  simdAvailable,
  verifyWindow3,
  type Window3Plan,
  window3,
  window3HalveUint8,
} from '../src/dicom/simd/kernels.js';
import { KERNELS_WAT_SHA256 } from '../src/dicom/simd/kernels.wasm.js';
import { EXPLICIT_VR_BE, EXPLICIT_VR_LE } from '../src/dicom/syntax.js';
import { WINDOW_PRESETS as P, type WindowLevel, windowStack } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { Rng } from '../src/util/rng.js';

interface Case {
  name: string;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: 0 | 1;
  rescaleSlope: number;
  rescaleIntercept: number;
  rsnaFix: boolean;
  windows: readonly WindowLevel[];
  huMode: 'int' | 'f64';
}

const HEAD = [P.brain, P.subdural, P.soft];
const OTHER = [P.bone, P.stroke, { center: -600, width: 1500 }];
const HALVES = [{ center: 40.25, width: 80.5 }, P.brain, { center: 0.5, width: 3 }];
const HUGE = [{ center: 0, width: 2 ** 30 }, P.brain, { center: 2 ** 34, width: 2 ** 35 }];

/** A parameter set: layout [BitsStored, HighBit, PixelRepresentation], rescale, windows. */
function kase(
  name: string,
  [bitsStored, highBit, pixelRepresentation]: [number, number, 0 | 1],
  [rescaleSlope, rescaleIntercept]: [number, number],
  windows: readonly WindowLevel[],
  huMode: 'int' | 'f64',
  rsnaFix = true,
): Case {
  return {
    name,
    bitsStored,
    highBit,
    pixelRepresentation,
    rescaleSlope,
    rescaleIntercept,
    rsnaFix,
    windows,
    huMode,
  };
}

/** Every parameter set the kernels must accelerate (each is also checked when first used). */
const CASES: Case[] = [
  kase('signed 16-bit, intercept 0', [16, 15, 1], [1, 0], HEAD, 'int'),
  kase('signed 16-bit, bone/stroke/lung windows', [16, 15, 1], [1, 0], OTHER, 'int'),
  kase('unsigned 12-bit, intercept −1024', [12, 11, 0], [1, -1024], HEAD, 'int'),
  kase('unsigned 12-bit, intercept 0, RSNA fix', [12, 11, 0], [1, 0], HEAD, 'int'),
  kase('unsigned 12-bit, intercept 1, RSNA fix, other windows', [12, 11, 0], [1, 1], OTHER, 'int'),
  kase('unsigned 12-bit, intercept 0, RSNA fix off', [12, 11, 0], [1, 0], HEAD, 'int', false),
  kase('unsigned 12-bit at HighBit 15', [12, 15, 0], [1, -1024], HEAD, 'int'),
  kase('signed 12-bit, intercept 0', [12, 11, 1], [1, 0], HEAD, 'int'),
  kase('signed 12-bit at HighBit 13', [12, 13, 1], [1, -24], OTHER, 'int'),
  kase('unsigned 16-bit, intercept −1024', [16, 15, 0], [1, -1024], HEAD, 'int'),
  kase('unsigned 16-bit, slope 2, intercept −32768', [16, 15, 0], [2, -32768], OTHER, 'int'),
  kase('signed 10-bit, slope −3, intercept 7', [10, 9, 1], [-3, 7], HEAD, 'int'),
  kase('signed 16-bit, slope 0.5, intercept −1024.5', [16, 15, 1], [0.5, -1024.5], HALVES, 'f64'),
  kase('unsigned 16-bit, slope 0.25, intercept 3.75', [16, 15, 0], [0.25, 3.75], HEAD, 'f64'),
  kase('signed 16-bit, slope 2^20', [16, 15, 1], [2 ** 20, 0], HUGE, 'f64'),
  // HU −0 for stored 0 (0 × −1 + −0), which the brain window keeps as −0.
  kase('signed 16-bit, slope −1, intercept −0', [16, 15, 1], [-1, -0], HEAD, 'f64'),
];

const attrs = (c: Case) => ({ ...c, bitsAllocated: 16 as const });
const rsnaApplied = (c: Case) => c.rsnaFix && needsRsnaFix(c);

/** All 65,536 words, as numbers and as little-endian bytes. */
function allWords(): Uint16Array {
  const words = new Uint16Array(65536);
  for (let w = 0; w < 65536; w++) words[w] = w;
  return words;
}

function leBytes(words: Uint16Array): Uint8Array {
  const out = new Uint8Array(words.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint16(2 * i, words[i]!, true);
  return out;
}

/** The reference HU of raw words: toStored → storedToHu, as decodeSlice does. */
function referenceHu(c: Case, words: Uint16Array): Float32Array {
  const stored = toStored(leBytes(words), words.length, attrs(c), true);
  return storedToHu(stored, attrs(c), { rsnaFix: c.rsnaFix }).hu;
}

/** Reference bytes at half size: windowStack → resize (2 × 2 mean) → toUint8. */
function referenceHalf(c: Case, words: Uint16Array, rows: number, cols: number): Uint8Array {
  const full = windowStack(referenceHu(c, words), c.windows);
  return toUint8(resize(full, rows, cols, 3, rows / 2, cols / 2, 'area'));
}

function plan(c: Case): Window3Plan {
  const p = planWindow3(c, { ...c, rsnaFixApplied: rsnaApplied(c) }, c.windows);
  if (p === undefined) throw new Error(`no plan for ${c.name}`);
  return p;
}

/** Indices where two arrays differ bit for bit (so −0 ≠ 0), at most 5 of them. */
function bitDifferences(a: Float32Array | Uint8Array, b: Float32Array | Uint8Array): number[] {
  if (a.length !== b.length) return [-1];
  const x = a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a;
  const y = b instanceof Float32Array ? new Uint32Array(b.buffer, b.byteOffset, b.length) : b;
  const out: number[] = [];
  for (let i = 0; i < x.length && out.length < 5; i++) if (x[i] !== y[i]) out.push(i);
  return out;
}

/** A random permutation of all 65,536 words. */
function shuffledWords(seed: number): Uint16Array {
  const words = allWords();
  const rng = new Rng(seed);
  for (let i = words.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = words[i]!;
    words[i] = words[j]!;
    words[j] = t;
  }
  return words;
}

afterEach(() => setSimdEnabled(true));

describe('the generated wasm module', () => {
  it('holds the SHA-256 of the current kernels.wat', () => {
    expect(KERNELS_WAT_SHA256).toBe(sourceSha256(readFileSync(WAT_PATH, 'utf8')));
  });

  it('is exactly what `npm run build:wasm` writes from kernels.wat', async () => {
    const source = readFileSync(WAT_PATH, 'utf8');
    expect(readFileSync(MODULE_PATH, 'utf8')).toBe(renderModule(source, await assemble(source)));
  });

  it('loads on this Node, which has WebAssembly SIMD', () => {
    expect(simdAvailable()).toBe(true);
  });
});

describe.each(CASES)('the kernels for $name', (c) => {
  const words = allWords();
  const table = windowStack(referenceHu(c, words), c.windows);

  it(`plan ${c.huMode} HU arithmetic and pass the check on all 65,536 words`, () => {
    const p = plan(c);
    expect(p.huMode).toBe(c.huMode);
    expect(verifyWindow3(p, table)).toBe(true);
  });

  it('give the reference float32 windows of every word, bit for bit', () => {
    const out = new Float32Array(65536 * 3);
    expect(window3(plan(c), leBytes(words), 65536, out)).toBe(true);
    expect(bitDifferences(out, table)).toEqual([]);
  });

  it('give the reference byte of every word, in 2 × 2 blocks of one word', () => {
    const blocks = new Uint16Array(512 * 512);
    for (let w = 0; w < 65536; w++) {
      const i = 2 * (w >> 8) * 512 + 2 * (w & 255);
      blocks[i] = blocks[i + 1] = blocks[i + 512] = blocks[i + 513] = w;
    }
    const out = new Uint8Array(256 * 256 * 3);
    expect(window3HalveUint8(plan(c), leBytes(blocks), 512, 512, out)).toBe(true);
    expect(bitDifferences(out, referenceHalf(c, blocks, 512, 512))).toEqual([]);
    expect(bitDifferences(out, toUint8(table))).toEqual([]);
  });

  it('give the reference 2 × 2 means of all words in shuffled 256² images', () => {
    for (const seed of [1, 2, 3]) {
      const image = shuffledWords(seed);
      const out = new Uint8Array(128 * 128 * 3);
      expect(window3HalveUint8(plan(c), leBytes(image), 256, 256, out)).toBe(true);
      expect(bitDifferences(out, referenceHalf(c, image, 256, 256))).toEqual([]);
    }
  });
});

/** A 16-bit DICOM slice of the given raw words (high bits and all). */
function dicom(c: Case, rows: number, cols: number, words: Uint16Array, syntax = EXPLICIT_VR_LE) {
  return encodeSlice(
    {
      rows,
      cols,
      stored: words,
      bitsAllocated: 16,
      bitsStored: c.bitsStored,
      highBit: c.highBit,
      pixelRepresentation: c.pixelRepresentation,
      rescaleSlope: c.rescaleSlope,
      rescaleIntercept: c.rescaleIntercept,
      patientId: 'ID_simd',
      studyInstanceUid: 'ID_study',
      seriesInstanceUid: 'ID_series',
      sopInstanceUid: 'ID_sop',
    },
    { transferSyntax: syntax },
  );
}

function randomWords(n: number, seed: number): Uint16Array {
  const rng = new Rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 65535);
  return out;
}

/** readWindowed and readWindowedUint8 against the reference, with and without the kernels. */
function expectFastPathMatches(c: Case, bytes: Uint8Array, rows: number, cols: number) {
  const cfg = { windows: c.windows, rsnaFix: c.rsnaFix };
  const slice = decodeSlice(bytes, 'simd.dcm', { rsnaFix: c.rsnaFix });
  const wantF = windowedImage(slice, cfg).data;
  const half = rows % 2 === 0 && rows === cols ? rows / 2 : undefined;
  const wantB =
    half === undefined ? undefined : windowedImageUint8(slice, { ...cfg, size: half }).data;
  // At the slice's own size (a full-resolution cache): toUint8 of the float32 windows.
  const wantN = windowedImageUint8(slice, cfg).data;
  expect(bitDifferences(wantN, toUint8(wantF))).toEqual([]);
  const c3 = cfg.windows.length;
  const n8 = new Uint8Array(rows * cols * c3 + 1);
  for (const [size, out] of [
    [undefined, n8.subarray(0, rows * cols * c3)],
    [undefined, n8.subarray(1)],
    [rows === cols ? rows : undefined, undefined],
  ] as const) {
    const got = readWindowedUint8(bytes, 'simd.dcm', { ...cfg, size }, out).image;
    if (out !== undefined) expect(got.data).toBe(out);
    expect([got.height, got.width, got.channels]).toEqual([rows, cols, c3]);
    expect(bitDifferences(got.data, wantN)).toEqual([]);
  }
  for (const on of [true, false]) {
    setSimdEnabled(on);
    const out = new Float32Array(rows * cols * c3);
    const got = readWindowed(bytes, 'simd.dcm', cfg, out);
    expect(got.image.data).toBe(out);
    expect(bitDifferences(got.image.data, wantF)).toEqual([]);
    if (half !== undefined && wantB !== undefined) {
      const b = readWindowedUint8(bytes, 'simd.dcm', { ...cfg, size: half }).image.data;
      expect(bitDifferences(b, wantB)).toEqual([]);
    }
  }
}

describe('readWindowed and readWindowedUint8 with the kernels', () => {
  it.each(CASES)('match the reference on a 512² image of random words: $name', (c) => {
    expectFastPathMatches(c, dicom(c, 512, 512, randomWords(512 * 512, 7)), 512, 512);
  });

  it('match the reference on big-endian pixel data', () => {
    const c = CASES[2]!;
    expectFastPathMatches(c, dicom(c, 64, 64, randomWords(64 * 64, 8), EXPLICIT_VR_BE), 64, 64);
  });

  it('match the reference on sizes that are not multiples of 8 (the float32 kernel pads)', () => {
    const c = CASES[0]!;
    expectFastPathMatches(c, dicom(c, 13, 7, randomWords(13 * 7, 9)), 13, 7);
    // 510 columns: the uint8 kernel needs a multiple of 8, so the table loop runs.
    expectFastPathMatches(c, dicom(c, 510, 510, randomWords(510 * 510, 10)), 510, 510);
  });

  it('match the reference with two windows and with one (the table loops)', () => {
    for (const windows of [[P.brain, P.bone], [P.subdural]]) {
      const c: Case = { ...CASES[0]!, windows };
      expectFastPathMatches(c, dicom(c, 64, 64, randomWords(64 * 64, 15)), 64, 64);
    }
  });

  it('match the reference when the file bytes start at an odd address', () => {
    const c = CASES[0]!;
    const file = dicom(c, 64, 64, randomWords(64 * 64, 14));
    const odd = new Uint8Array(file.length + 1);
    odd.set(file, 1);
    expectFastPathMatches(c, odd.subarray(1), 64, 64);
  });

  it('grow the wasm memory for a large image and keep working on small ones after', () => {
    const c = CASES[3]!;
    expectFastPathMatches(c, dicom(c, 1024, 1024, randomWords(1024 * 1024, 11)), 1024, 1024);
    expectFastPathMatches(c, dicom(c, 64, 64, randomWords(64 * 64, 12)), 64, 64);
  });
});

describe('where the kernels do not apply', () => {
  const base = CASES[0]!;
  const hu = { rescaleSlope: 1, rescaleIntercept: 0, rsnaFixApplied: false };

  it('plan nothing for other than three windows', () => {
    expect(planWindow3(base, hu, [P.brain, P.soft])).toBeUndefined();
    expect(planWindow3(base, hu, [...HEAD, P.bone])).toBeUndefined();
  });

  it('plan nothing for a window whose bounds are not float32 numbers', () => {
    expect(
      planWindow3(base, hu, [{ center: 40.1, width: 80 }, P.subdural, P.soft]),
    ).toBeUndefined();
  });

  it('plan nothing for the RSNA fix on data that is not unsigned 12-bit', () => {
    expect(planWindow3(base, { ...hu, rsnaFixApplied: true }, HEAD)).toBeUndefined();
  });

  it('reject a plan whose float32 arithmetic would differ, and the fast path still matches', () => {
    // HU = fround(stored × 1.1 − 3.3) are not integers: y − lo is not always exact in float32.
    const c: Case = {
      ...base,
      name: 'slope 1.1',
      rescaleSlope: 1.1,
      rescaleIntercept: -3.3,
      huMode: 'f64',
    };
    expect(verifyWindow3(plan(c), windowStack(referenceHu(c, allWords()), c.windows))).toBe(false);
    expectFastPathMatches(c, dicom(c, 64, 64, randomWords(64 * 64, 13)), 64, 64);
  });

  it('leave the output untouched and report false while turned off', () => {
    setSimdEnabled(false);
    expect(simdAvailable()).toBe(false);
    const out = new Float32Array(24).fill(7);
    expect(window3(plan(base), leBytes(allWords().subarray(0, 8)), 8, out)).toBe(false);
    expect(out.every((v) => v === 7)).toBe(true);
  });
});
