/**
 * Shared pieces of the DICOM tests: images the tests make themselves, a base slice spec,
 * temporary files, and the few byte-level tools needed to build what dcmjs will not write
 * (private elements, odd lengths, patched transfer syntaxes).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDicomBytes } from '../src/dicom/parse.js';
import type { WriteSliceSpec } from '../src/dicom/write.js';
import { Rng } from '../src/util/rng.js';

export const ROWS = 64;
export const COLS = 48;

/** The identifiers every test slice carries: RSNA-style IDs, not valid DICOM UIDs. */
export const IDS = {
  patientId: 'ID_a1b2c3d4',
  studyInstanceUid: 'ID_5e6f7a8b9c',
  seriesInstanceUid: 'ID_0d1e2f3a4b',
  sopInstanceUid: 'ID_4d28912ba6',
} as const;

/** A smooth field in [0, 1] over the image: no edges, so lossy codecs do well on it. */
export function smoothField(rows = ROWS, cols = COLS): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = 0.5 + 0.5 * Math.sin(r / 9 + 0.4) * Math.cos(c / 7 + 0.2);
    }
  }
  return out;
}

/**
 * A CT-like slice in HU, −1024 to +2000: air around an elliptical head, a dense skull ring and
 * brain of 20–45 HU with a smooth gradient. The first pixel is −1024 and the last 2000 exactly.
 */
export function ctHu(rows = ROWS, cols = COLS): Int16Array {
  const out = new Int16Array(rows * cols);
  const field = smoothField(rows, cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const y = (r - rows / 2) / (rows * 0.42);
      const x = (c - cols / 2) / (cols * 0.42);
      const d = Math.hypot(x, y);
      const i = r * cols + c;
      const f = field[i]!;
      out[i] = d > 1 ? -1024 : d > 0.86 ? Math.round(1400 + 600 * f) : Math.round(20 + 25 * f);
    }
  }
  out[0] = -1024;
  out[out.length - 1] = 2000;
  return out;
}

/** A sample layout the round trips cover, with how HU map onto its stored values. */
export interface Layout {
  name: string;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  /** Smallest and largest stored value. */
  min: number;
  max: number;
  rescaleIntercept: number;
  /** Stored values for the smooth CT-like image. */
  ct(): Int16Array | Uint16Array | Uint8Array;
  /** Stored values for a smooth field spanning the whole range (for lossy bounds). */
  smooth(): Int16Array | Uint16Array | Uint8Array;
  /** Uniform random stored values over the whole range. */
  random(seed: number): Int16Array | Uint16Array | Uint8Array;
}

function typed(layout: Pick<Layout, 'bitsAllocated' | 'pixelRepresentation'>, n: number) {
  if (layout.bitsAllocated === 8) return new Uint8Array(n);
  return layout.pixelRepresentation === 1 ? new Int16Array(n) : new Uint16Array(n);
}

function layout(
  name: string,
  bitsAllocated: 8 | 16,
  bitsStored: number,
  pixelRepresentation: 0 | 1,
  rescaleIntercept: number,
): Layout {
  const min = pixelRepresentation === 1 ? -(2 ** (bitsStored - 1)) : 0;
  const max = pixelRepresentation === 1 ? 2 ** (bitsStored - 1) - 1 : 2 ** bitsStored - 1;
  const self = { bitsAllocated, pixelRepresentation };
  return {
    name,
    bitsAllocated,
    bitsStored,
    pixelRepresentation,
    min,
    max,
    rescaleIntercept,
    ct() {
      const hu = ctHu();
      const out = typed(self, hu.length);
      // 8-bit: HU −1024…2000 squeezed into 0…255 (a display-like image, not HU).
      for (let i = 0; i < hu.length; i++) {
        out[i] =
          bitsAllocated === 8
            ? Math.round(((hu[i]! + 1024) / 3024) * 255)
            : hu[i]! - rescaleIntercept;
      }
      return out;
    },
    smooth() {
      const f = smoothField();
      const out = typed(self, f.length);
      for (let i = 0; i < f.length; i++) out[i] = Math.round(min + f[i]! * (max - min));
      return out;
    },
    random(seed) {
      const rng = new Rng(seed);
      const out = typed(self, ROWS * COLS);
      for (let i = 0; i < out.length; i++) out[i] = rng.int(min, max);
      return out;
    },
  };
}

/** Signed 16-bit with stored = HU; unsigned 12-bit in 16 with stored = HU + 1024; signed 12-bit; 8-bit. */
export const LAYOUTS: readonly Layout[] = [
  layout('signed 16-bit', 16, 16, 1, 0),
  layout('unsigned 12-bit in 16', 16, 12, 0, -1024),
  layout('signed 12-bit in 16', 16, 12, 1, 0),
  layout('unsigned 8-bit', 8, 8, 0, 0),
];

export function layoutNamed(name: string): Layout {
  const found = LAYOUTS.find((l) => l.name === name);
  if (!found) throw new Error(`no layout ${name}`);
  return found;
}

/** A complete slice spec for a layout and stored values. */
export function sliceSpec(
  l: Pick<Layout, 'bitsAllocated' | 'bitsStored' | 'pixelRepresentation' | 'rescaleIntercept'>,
  stored: WriteSliceSpec['stored'],
  extra: Partial<WriteSliceSpec> = {},
): WriteSliceSpec {
  return {
    rows: ROWS,
    cols: COLS,
    stored,
    bitsAllocated: l.bitsAllocated,
    bitsStored: l.bitsStored,
    pixelRepresentation: l.pixelRepresentation,
    rescaleSlope: 1,
    rescaleIntercept: l.rescaleIntercept,
    windowCenter: [40, 80],
    windowWidth: [80, 200],
    imagePositionPatient: [-125, -125, 42.5],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.488281, 0.488281],
    sliceThickness: 5,
    instanceNumber: 7,
    ...IDS,
    ...extra,
  };
}

/** A fresh temporary directory for one test file. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ichdet-dicom-'));
}

/** Writes bytes to a new file in `dir` and returns its path. */
export function writeTemp(dir: string, name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Peak signal-to-noise ratio in dB, the peak being the range of the stored type. */
export function psnr(reference: ArrayLike<number>, test: ArrayLike<number>, peak: number): number {
  let sum = 0;
  for (let i = 0; i < reference.length; i++) sum += (reference[i]! - test[i]!) ** 2;
  const mse = sum / reference.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((peak * peak) / mse);
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'UV']);
export const UNDEFINED_LENGTH = 0xffffffff;

/**
 * One little-endian data element (PS3.5 §7.1.2 explicit, §7.1.3 implicit). `value` may be odd
 * in length (not padded here) or omitted with `length` set, e.g. to UNDEFINED_LENGTH.
 */
export function element(
  group: number,
  elem: number,
  vr: string,
  value: Uint8Array | string,
  explicit: boolean,
  length?: number,
): Uint8Array {
  const v = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  const len = length ?? v.length;
  const long = !explicit || LONG_VRS.has(vr);
  const head = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
  const view = new DataView(head.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, elem, true);
  if (explicit) {
    head[4] = vr.charCodeAt(0);
    head[5] = vr.charCodeAt(1);
    if (long) view.setUint32(8, len, true);
    else view.setUint16(6, len, true);
  } else {
    view.setUint32(4, len, true);
  }
  return concat(head, v);
}

/** An item tag (FFFE,E000), item delimiter (FFFE,E00D) or sequence delimiter (FFFE,E0DD). */
export function delimiter(elem: 0xe000 | 0xe00d | 0xe0dd, length = 0): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xfffe, true);
  view.setUint16(2, elem, true);
  view.setUint32(4, length, true);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte offset of an element's header in a file, found through the reader's own parse. */
export function elementStart(file: Uint8Array, tag: string): number {
  const el = parseDicomBytes(file).dataSet.elements[tag];
  if (!el) throw new Error(`no element ${tag}`);
  // Every element these tests look up has an 8-byte header (short explicit VR or implicit).
  return el.dataOffset - 8;
}

/** Inserts bytes into a file at an offset. */
export function insertAt(file: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  return concat(file.subarray(0, at), bytes, file.subarray(at));
}

/** Replaces an ASCII string with one of the same length, once; throws when it is absent. */
export function patchAscii(file: Uint8Array, from: string, to: string): Uint8Array {
  if (from.length !== to.length) throw new Error('patchAscii needs strings of equal length');
  const at = Buffer.from(file).indexOf(from, 0, 'latin1');
  if (at < 0) throw new Error(`"${from}" not found`);
  const out = file.slice();
  out.set(new TextEncoder().encode(to), at);
  return out;
}

/** Index of a byte sequence in a file, or −1. */
export function indexOfBytes(file: Uint8Array, bytes: number[]): number {
  return Buffer.from(file.buffer, file.byteOffset, file.byteLength).indexOf(Buffer.from(bytes));
}
