/**
 * The hot path from DICOM bytes to model input, for caches and benchmarks: the same values as
 * `windowedImage(decodeSlice(bytes))` / `windowedImageUint8(...)`, bit for bit, computed
 * through a lookup table indexed by the raw 16-bit sample word — the classic way viewers apply
 * the Modality and VOI LUTs (PS3.4 N.2). The table is built by the ordinary functions
 * (toStored → storedToHu → windowStack) over all 65,536 words, so the fast path cannot drift
 * from the reference arithmetic; it is cached per (layout, slope, intercept, fix, windows).
 *
 * For three windows, WebAssembly SIMD kernels (simd/kernels.ts) compute the same values
 * arithmetically, two to three times as fast. A parameter set uses them only after they have matched
 * the table on every one of the 65,536 words; otherwise, or where the runtime has no wasm SIMD,
 * the table loops below run.
 */
import { needsRsnaFix, storedToHu } from './hu.js';
import { parseDicomBytes } from './parse.js';
import { checkBitLayout, pixelBytes, toStored } from './pixels.js';
import {
  type Image,
  type PreprocessConfig,
  validatePreprocessConfig,
  windowedImage,
  windowedImageUint8,
} from './preprocess.js';
import { toUint8 } from './quantize.js';
import {
  checkRescale,
  ctSliceLayout,
  decodeSlice,
  type ReadOptions,
  requireCtImage,
  sliceAttributes,
} from './read.js';
import { resolveResizeMethod } from './resize.js';
import {
  planWindow3,
  verifyWindow3,
  type Window3Plan,
  window3,
  window3HalveUint8,
} from './simd/kernels.js';
import type { SliceAttributes } from './slice.js';
import { windowStack } from './window.js';

export interface FastResult<T extends Float32Array | Uint8Array> {
  attributes: SliceAttributes & { rows: number; cols: number; rsnaFixApplied: boolean };
  image: Image<T>;
}

type Config = PreprocessConfig & ReadOptions;

interface Tables {
  /** Entry (word × C + k) is window k of the HU of raw word `word`. */
  lut: Float32Array;
  /** The SIMD kernels' plan, when they apply and match `lut` on every word. */
  plan: Window3Plan | undefined;
  /** `lut` quantised to 8 bits as toUint8 does, built on first use (full-resolution caches). */
  lut8?: Uint8Array;
  /** For three windows: the three bytes of word w packed little-endian into entry w. */
  lut24?: Uint32Array;
}

const LUT_CACHE = new Map<string, Tables>();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LUT_CACHE_MAX = 16;

/** The table and kernel plan of a layout, rescale and window list. */
function windowLut(
  a: SliceAttributes,
  cfg: Config,
): Tables & { rsnaFixApplied: boolean; cached: Tables } {
  const rsnaFix = cfg.rsnaFix ?? true;
  const rsnaFixApplied = rsnaFix && needsRsnaFix(a);
  const key = [
    a.bitsStored,
    a.highBit,
    a.pixelRepresentation,
    a.rescaleSlope,
    a.rescaleIntercept,
    rsnaFixApplied,
    ...cfg.windows.flatMap((w) => [w.center, w.width]),
  ].join('|');
  let tables = LUT_CACHE.get(key);
  if (!tables) {
    const words = new Uint16Array(65536);
    for (let w = 0; w < 65536; w++) words[w] = w;
    const stored = toStored(new Uint8Array(words.buffer), 65536, a, true);
    const lut = windowStack(storedToHu(stored, a, { rsnaFix }).hu, cfg.windows);
    const plan = planWindow3(a, { ...a, rsnaFixApplied }, cfg.windows);
    tables = { lut, plan: plan !== undefined && verifyWindow3(plan, lut) ? plan : undefined };
    if (LUT_CACHE.size >= LUT_CACHE_MAX) LUT_CACHE.delete(LUT_CACHE.keys().next().value as string);
    LUT_CACHE.set(key, tables);
  }
  return { ...tables, rsnaFixApplied, cached: tables };
}

/** The 8-bit table of `tables`: entry i is quantize255(lut[i]), i.e. toUint8 of the window. */
function lut8Of(tables: Tables): Uint8Array {
  if (tables.lut8 === undefined) tables.lut8 = toUint8(tables.lut);
  return tables.lut8;
}

/** The packed three-window table: entry w = b0 | b1 << 8 | b2 << 16 of the 8-bit table. */
function lut24Of(tables: Tables): Uint32Array {
  if (tables.lut24 === undefined) {
    const b = lut8Of(tables);
    const t = new Uint32Array(65536);
    for (let w = 0; w < 65536; w++) t[w] = b[3 * w]! | (b[3 * w + 1]! << 8) | (b[3 * w + 2]! << 16);
    tables.lut24 = t;
  }
  return tables.lut24;
}

interface Words extends Tables {
  attributes: FastResult<Float32Array>['attributes'];
  /** The raw 16-bit words, little-endian, as bytes (for the kernels). */
  bytes: Uint8Array;
  /** The same words as numbers (for the table loops). */
  words: () => Uint16Array;
  /** The cached tables themselves (to hang the 8-bit table on). */
  tables: Tables;
}

/** Parses and returns the raw 16-bit words and the tables, or undefined for other layouts. */
function wordsAndLut(bytes: Uint8Array, source: string, cfg: Config): Words | undefined {
  const parsed = parseDicomBytes(bytes, source);
  const a = sliceAttributes(parsed);
  const layout = ctSliceLayout(parsed.dataSet, a, source);
  if (cfg.ctOnly === true) requireCtImage(parsed.dataSet, a, source);
  if (layout.bitsAllocated !== 16) return undefined;
  const px = pixelBytes(parsed.dataSet, parsed.syntax, layout, source);
  const n = layout.rows * layout.cols;
  let le = px.bytes.subarray(0, 2 * n);
  if (!px.littleEndian) {
    le = new Uint8Array(2 * n);
    const b = px.bytes;
    for (let j = 0; j < 2 * n; j += 2) {
      le[j] = b[j + 1]!;
      le[j + 1] = b[j]!;
    }
  }
  // A copy (never Buffer#slice, which does not copy) when the words are not 2-byte aligned.
  const words = () =>
    le.byteOffset % 2 === 0
      ? new Uint16Array(le.buffer, le.byteOffset, n)
      : new Uint16Array(new Uint8Array(le).buffer);
  // The same checks, in the same order, as decodeSlice: bit layout, then rescale.
  checkBitLayout(a, source);
  checkRescale(a, source);
  const tables = windowLut(a, cfg);
  const { lut, plan, rsnaFixApplied } = tables;
  const attributes = { ...a, rows: layout.rows, cols: layout.cols, rsnaFixApplied };
  return { attributes, bytes: le, words, lut, plan, tables: tables.cached };
}

/** DICOM bytes → float32 windows (H × W × C), resized when `cfg.size` is set. */
export function readWindowed(
  bytes: Uint8Array,
  source: string,
  cfg: Config,
  out?: Float32Array,
): FastResult<Float32Array> {
  validatePreprocessConfig(cfg);
  if (cfg.crop === 'head') return viaSlice(bytes, source, cfg, false) as FastResult<Float32Array>;
  const w = wordsAndLut(bytes, source, cfg);
  const native =
    w &&
    (cfg.size === undefined || (cfg.size === w.attributes.rows && cfg.size === w.attributes.cols));
  if (!w || !native) return viaSlice(bytes, source, cfg, false) as FastResult<Float32Array>;
  const { lut, attributes } = w;
  const c = cfg.windows.length;
  const n = attributes.rows * attributes.cols;
  const dst = out !== undefined && out.length === n * c ? out : new Float32Array(n * c);
  const image = { data: dst, height: attributes.rows, width: attributes.cols, channels: c };
  if (w.plan !== undefined && window3(w.plan, w.bytes, n, dst)) return { attributes, image };
  const words = w.words();
  if (c === 3) {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const k = words[i]! * 3;
      dst[j] = lut[k]!;
      dst[j + 1] = lut[k + 1]!;
      dst[j + 2] = lut[k + 2]!;
    }
  } else {
    for (let i = 0, j = 0; i < n; i++) {
      const k = words[i]! * c;
      for (let q = 0; q < c; q++, j++) dst[j] = lut[k + q]!;
    }
  }
  return { attributes, image };
}

/** DICOM bytes → 8-bit windows at `cfg.size` (the training cache's format). */
export function readWindowedUint8(
  bytes: Uint8Array,
  source: string,
  cfg: Config,
  out?: Uint8Array,
): FastResult<Uint8Array> {
  validatePreprocessConfig(cfg);
  if (cfg.crop === 'head') return viaSlice(bytes, source, cfg, true) as FastResult<Uint8Array>;
  const w = wordsAndLut(bytes, source, cfg);
  if (
    w !== undefined &&
    (cfg.size === undefined || (cfg.size === w.attributes.rows && cfg.size === w.attributes.cols))
  ) {
    return nativeUint8(w, cfg.windows.length, out);
  }
  const size = cfg.size;
  if (
    !w ||
    size === undefined ||
    w.attributes.rows !== 2 * size ||
    w.attributes.cols !== 2 * size ||
    resolveResizeMethod(
      w.attributes.rows,
      w.attributes.cols,
      size,
      size,
      cfg.resizeMethod ?? 'auto',
    ) !== 'area'
  ) {
    return viaSlice(bytes, source, cfg, true) as FastResult<Uint8Array>;
  }
  const { lut, attributes } = w;
  const c = cfg.windows.length;
  const cols = attributes.cols;
  const dst =
    out !== undefined && out.length === size * size * c ? out : new Uint8Array(size * size * c);
  const image = { data: dst, height: size, width: size, channels: c };
  if (w.plan !== undefined && window3HalveUint8(w.plan, w.bytes, attributes.rows, cols, dst)) {
    return { attributes, image };
  }
  const words = w.words();
  const f32 = Math.fround;
  let o = 0;
  for (let y = 0; y < size; y++) {
    const r0 = 2 * y * cols;
    const r1 = r0 + cols;
    for (let x = 0; x < size; x++) {
      const p = words[r0 + 2 * x]! * c;
      const q = words[r0 + 2 * x + 1]! * c;
      const s = words[r1 + 2 * x]! * c;
      const t = words[r1 + 2 * x + 1]! * c;
      for (let k = 0; k < c; k++, o++) {
        // Same arithmetic as resize's halve then toUint8 (see preprocess.ts).
        const v = f32((lut[p + k]! + lut[q + k]! + (lut[s + k]! + lut[t + k]!)) * 0.25);
        dst[o] = v >= 1 ? 255 : (v * 255 + 0.5) | 0;
      }
    }
  }
  return { attributes, image };
}

/**
 * 8-bit windows at the slice's own size (a full-resolution cache): one lookup per pixel in the
 * 8-bit table, which holds toUint8 of the float table, so this is toUint8(windowedImage(...))
 * bit for bit — the general path's identity resize is a copy.
 */
function nativeUint8(w: Words, c: number, out?: Uint8Array): FastResult<Uint8Array> {
  const { attributes } = w;
  const n = attributes.rows * attributes.cols;
  const lut8 = lut8Of(w.tables);
  const dst = out !== undefined && out.length === n * c ? out : new Uint8Array(n * c);
  const image = { data: dst, height: attributes.rows, width: attributes.cols, channels: c };
  const words = w.words();
  if (c === 3 && n % 4 === 0 && dst.byteOffset % 4 === 0 && LITTLE_ENDIAN) {
    // Four pixels (12 bytes) as three 32-bit stores: a0 a1 a2 b0 | b1 b2 c0 c1 | c2 d0 d1 d2.
    const t = lut24Of(w.tables);
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, (n * 3) / 4);
    for (let i = 0, j = 0; i < n; i += 4, j += 3) {
      const a = t[words[i]!]!;
      const b = t[words[i + 1]!]!;
      const e = t[words[i + 2]!]!;
      const f = t[words[i + 3]!]!;
      d32[j] = a | (b << 24);
      d32[j + 1] = (b >>> 8) | (e << 16);
      d32[j + 2] = (e >>> 16) | (f << 8);
    }
  } else if (c === 3) {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const k = words[i]! * 3;
      dst[j] = lut8[k]!;
      dst[j + 1] = lut8[k + 1]!;
      dst[j + 2] = lut8[k + 2]!;
    }
  } else {
    for (let i = 0, j = 0; i < n; i++) {
      const k = words[i]! * c;
      for (let q = 0; q < c; q++, j++) dst[j] = lut8[k + q]!;
    }
  }
  return { attributes, image };
}

/** The general path, for layouts and sizes the tables do not cover. */
function viaSlice(bytes: Uint8Array, source: string, cfg: Config, uint8: boolean) {
  const slice = decodeSlice(bytes, source, {
    rsnaFix: cfg.rsnaFix ?? true,
    ctOnly: cfg.ctOnly ?? false,
  });
  const { hu: _hu, stored: _stored, source: _source, ...attributes } = slice;
  const image = uint8 ? windowedImageUint8(slice, cfg) : windowedImage(slice, cfg);
  return { attributes, image };
}
