/**
 * The hot path from DICOM bytes to model input, for caches and benchmarks: the same values as
 * `windowedImage(decodeSlice(bytes))` / `windowedImageUint8(...)`, bit for bit, computed
 * through a lookup table indexed by the raw 16-bit sample word — the classic way viewers apply
 * the Modality and VOI LUTs (PS3.4 N.2). The table is built by the ordinary functions
 * (toStored → storedToHu → windowStack) over all 65,536 words, so the fast path cannot drift
 * from the reference arithmetic; it is cached per (layout, slope, intercept, fix, windows).
 */
import { needsRsnaFix, storedToHu } from './hu.js';
import { parseDicomBytes } from './parse.js';
import { pixelBytes, toStored } from './pixels.js';
import {
  type Image,
  type PreprocessConfig,
  validatePreprocessConfig,
  windowedImage,
  windowedImageUint8,
} from './preprocess.js';
import { ctSliceLayout, decodeSlice, type ReadOptions, sliceAttributes } from './read.js';
import { resolveResizeMethod } from './resize.js';
import type { SliceAttributes } from './slice.js';
import { windowStack } from './window.js';

export interface FastResult<T extends Float32Array | Uint8Array> {
  attributes: SliceAttributes & { rows: number; cols: number; rsnaFixApplied: boolean };
  image: Image<T>;
}

type Config = PreprocessConfig & ReadOptions;

const LUT_CACHE = new Map<string, Float32Array>();
const LUT_CACHE_MAX = 16;

/** Interleaved table: entry (word × C + k) is window k of the HU of raw word `word`. */
function windowLut(
  a: SliceAttributes,
  cfg: Config,
): { lut: Float32Array; rsnaFixApplied: boolean } {
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
  let lut = LUT_CACHE.get(key);
  if (!lut) {
    const words = new Uint16Array(65536);
    for (let w = 0; w < 65536; w++) words[w] = w;
    const stored = toStored(new Uint8Array(words.buffer), 65536, a, true);
    lut = windowStack(storedToHu(stored, a, { rsnaFix }).hu, cfg.windows);
    if (LUT_CACHE.size >= LUT_CACHE_MAX) LUT_CACHE.delete(LUT_CACHE.keys().next().value as string);
    LUT_CACHE.set(key, lut);
  }
  return { lut, rsnaFixApplied };
}

interface Words {
  attributes: FastResult<Float32Array>['attributes'];
  words: Uint16Array;
  lut: Float32Array;
}

/** Parses and returns the raw 16-bit words and the table, or undefined for other layouts. */
function wordsAndLut(bytes: Uint8Array, source: string, cfg: Config): Words | undefined {
  const parsed = parseDicomBytes(bytes, source);
  const a = sliceAttributes(parsed);
  const layout = ctSliceLayout(parsed.dataSet, a, source);
  if (layout.bitsAllocated !== 16) return undefined;
  const px = pixelBytes(parsed.dataSet, parsed.syntax, layout, source);
  const n = layout.rows * layout.cols;
  let words: Uint16Array;
  if (px.littleEndian) {
    words =
      px.bytes.byteOffset % 2 === 0
        ? new Uint16Array(px.bytes.buffer, px.bytes.byteOffset, n)
        : new Uint16Array(px.bytes.slice().buffer);
  } else {
    words = new Uint16Array(n);
    const b = px.bytes;
    for (let i = 0, j = 0; i < n; i++, j += 2) words[i] = (b[j]! << 8) | b[j + 1]!;
  }
  const { lut, rsnaFixApplied } = windowLut(a, cfg);
  return { attributes: { ...a, rows: layout.rows, cols: layout.cols, rsnaFixApplied }, words, lut };
}

/** DICOM bytes → float32 windows (H × W × C), resized when `cfg.size` is set. */
export function readWindowed(
  bytes: Uint8Array,
  source: string,
  cfg: Config,
  out?: Float32Array,
): FastResult<Float32Array> {
  validatePreprocessConfig(cfg);
  const w = wordsAndLut(bytes, source, cfg);
  const native = w && (cfg.size === undefined || (cfg.size === w.attributes.rows && cfg.size === w.attributes.cols));
  if (!w || !native) return viaSlice(bytes, source, cfg, false) as FastResult<Float32Array>;
  const { words, lut, attributes } = w;
  const c = cfg.windows.length;
  const n = words.length;
  const dst = out !== undefined && out.length === n * c ? out : new Float32Array(n * c);
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
  return { attributes, image: { data: dst, height: attributes.rows, width: attributes.cols, channels: c } };
}

/** DICOM bytes → 8-bit windows at `cfg.size` (the training cache's format). */
export function readWindowedUint8(
  bytes: Uint8Array,
  source: string,
  cfg: Config,
  out?: Uint8Array,
): FastResult<Uint8Array> {
  validatePreprocessConfig(cfg);
  const w = wordsAndLut(bytes, source, cfg);
  const size = cfg.size;
  if (
    !w ||
    size === undefined ||
    w.attributes.rows !== 2 * size ||
    w.attributes.cols !== 2 * size ||
    resolveResizeMethod(w.attributes.rows, w.attributes.cols, size, size, cfg.resizeMethod ?? 'auto') !== 'area'
  ) {
    return viaSlice(bytes, source, cfg, true) as FastResult<Uint8Array>;
  }
  const { words, lut, attributes } = w;
  const c = cfg.windows.length;
  const cols = attributes.cols;
  const dst = out !== undefined && out.length === size * size * c ? out : new Uint8Array(size * size * c);
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
  return { attributes, image: { data: dst, height: size, width: size, channels: c } };
}

/** The general path, for layouts and sizes the tables do not cover. */
function viaSlice(bytes: Uint8Array, source: string, cfg: Config, uint8: boolean) {
  const slice = decodeSlice(bytes, source, { rsnaFix: cfg.rsnaFix ?? true });
  const { hu: _hu, stored: _stored, source: _source, ...attributes } = slice;
  const image = uint8 ? windowedImageUint8(slice, cfg) : windowedImage(slice, cfg);
  return { attributes, image };
}
