/**
 * The deterministic preprocessing of a slice, in the reference study's order: window the HU
 * image at full resolution (one channel per window), then resize to the model's size, then
 * (for caches) quantise to 8 bits. `ichdet export`, the bench and the training cache share it.
 */
import { ConfigError } from '../errors.js';
import { type CropBox, cropImage, headBox, OUTSIDE_HU } from './crop.js';
import { toUint8 } from './quantize.js';
import { type ResizeMethod, resize, resolveResizeMethod } from './resize.js';
import type { CtSlice } from './slice.js';
import { validateWindow, type WindowLevel, windowStack } from './window.js';

export interface PreprocessConfig {
  /** One output channel per window, in order. */
  windows: readonly WindowLevel[];
  /** Output is size × size; undefined keeps the slice's own rows × cols. */
  size?: number;
  /** Default 'auto': area averaging when shrinking by ≥ 2, bilinear otherwise. */
  resizeMethod?: ResizeMethod;
  /** `head`: first crop to the square around the head (see `dicom/crop.ts`). Default `none`. */
  crop?: CropMode;
}

export const CROP_MODES = ['none', 'head'] as const;
export type CropMode = (typeof CROP_MODES)[number];

/** The HU grid a config preprocesses: `slice.hu`, or its crop to the head (with the box). */
export function preprocessGrid(
  slice: Pick<CtSlice, 'hu' | 'rows' | 'cols'>,
  crop: CropMode | undefined,
): { hu: Float32Array; rows: number; cols: number; box: CropBox | null } {
  const box = crop === 'head' ? headBox(slice.hu, slice.rows, slice.cols) : null;
  if (box === null) return { hu: slice.hu, rows: slice.rows, cols: slice.cols, box };
  const hu = cropImage(slice.hu, slice.rows, slice.cols, 1, box, OUTSIDE_HU);
  return { hu, rows: box.side, cols: box.side, box };
}

export interface Image<T extends Float32Array | Uint8Array> {
  /** Interleaved height × width × channels. */
  data: T;
  height: number;
  width: number;
  channels: number;
}

/** Checks a config once, when a pipeline is built, before any slice is read. */
export function validatePreprocessConfig(cfg: PreprocessConfig): void {
  if (cfg.windows.length === 0)
    throw new ConfigError('at least one window is needed, received none');
  for (const w of cfg.windows) validateWindow(w);
  if (cfg.crop !== undefined && !(CROP_MODES as readonly string[]).includes(cfg.crop)) {
    throw new ConfigError(`crop must be one of ${CROP_MODES.join(', ')}, received "${cfg.crop}"`);
  }
  if (cfg.size !== undefined && (!Number.isInteger(cfg.size) || cfg.size < 1)) {
    throw new ConfigError(`size must be a positive integer, received ${cfg.size}`);
  }
}

/** Float32 windows in [0, 1], H × W × C, resized when `size` is set. */
export function windowedImage(
  slice: Pick<CtSlice, 'hu' | 'rows' | 'cols'>,
  cfg: PreprocessConfig,
): Image<Float32Array> {
  if (cfg.crop === 'head') {
    return windowedImage(preprocessGrid(slice, 'head'), { ...cfg, crop: 'none' });
  }
  const c = cfg.windows.length;
  const full = windowStack(slice.hu, cfg.windows);
  const size = cfg.size;
  if (size === undefined || (size === slice.rows && size === slice.cols)) {
    return { data: full, height: slice.rows, width: slice.cols, channels: c };
  }
  const data = resize(full, slice.rows, slice.cols, c, size, size, cfg.resizeMethod ?? 'auto');
  return { data, height: size, width: size, channels: c };
}

/**
 * 8-bit windows, exactly `toUint8(windowedImage(...))`. The common training case — an exact
 * 2× area reduction such as 512 → 256 — runs as one fused pass with no intermediate image.
 */
export function windowedImageUint8(
  slice: Pick<CtSlice, 'hu' | 'rows' | 'cols'>,
  cfg: PreprocessConfig,
): Image<Uint8Array> {
  if (cfg.crop === 'head') {
    return windowedImageUint8(preprocessGrid(slice, 'head'), { ...cfg, crop: 'none' });
  }
  const size = cfg.size;
  const method = size === undefined ? 'auto' : (cfg.resizeMethod ?? 'auto');
  if (
    size !== undefined &&
    slice.rows === 2 * size &&
    slice.cols === 2 * size &&
    resolveResizeMethod(slice.rows, slice.cols, size, size, method) === 'area'
  ) {
    return halveWindowedUint8(slice.hu, slice.cols, size, cfg.windows);
  }
  const img = windowedImage(slice, cfg);
  return { ...img, data: toUint8(img.data) };
}

/** HU image, resized when `size` is set (area/bilinear on HU values). */
export function huImage(
  slice: CtSlice,
  size?: number,
  method: ResizeMethod = 'auto',
): Image<Float32Array> {
  if (size === undefined || (size === slice.rows && size === slice.cols)) {
    return { data: slice.hu.slice(), height: slice.rows, width: slice.cols, channels: 1 };
  }
  return {
    data: resize(slice.hu, slice.rows, slice.cols, 1, size, size, method),
    height: size,
    width: size,
    channels: 1,
  };
}

/**
 * Fused window → 2×2 mean → quantise. Same float32 arithmetic as windowStack, resize's halve
 * and toUint8 in sequence: each windowed value is rounded to float32, the 2×2 sum is taken as
 * (a + b + (d + e)) × 0.25 and rounded to float32, then Math.round(v × 255).
 */
function halveWindowedUint8(
  hu: Float32Array,
  cols: number,
  size: number,
  windows: readonly WindowLevel[],
): Image<Uint8Array> {
  const c = windows.length;
  const lo = windows.map((w) => w.center - w.width / 2);
  const hi = windows.map((w) => w.center + w.width / 2);
  const wd = windows.map((w) => w.width);
  const out = new Uint8Array(size * size * c);
  const f32 = Math.fround;
  let o = 0;
  for (let k = 0; k < c; k++) {
    const l = lo[k]!;
    const h = hi[k]!;
    const w = wd[k]!;
    o = k;
    for (let y = 0; y < size; y++) {
      const r0 = 2 * y * cols;
      const r1 = r0 + cols;
      for (let x = 0; x < size; x++, o += c) {
        const i = r0 + 2 * x;
        const j = r1 + 2 * x;
        const p = hu[i]!;
        const q = hu[i + 1]!;
        const s = hu[j]!;
        const t = hu[j + 1]!;
        const a = f32(((p < l ? l : p > h ? h : p) - l) / w);
        const b = f32(((q < l ? l : q > h ? h : q) - l) / w);
        const d = f32(((s < l ? l : s > h ? h : s) - l) / w);
        const e = f32(((t < l ? l : t > h ? h : t) - l) / w);
        const v = f32((a + b + (d + e)) * 0.25);
        out[o] = v >= 1 ? 255 : (v * 255 + 0.5) | 0;
      }
    }
  }
  return { data: out, height: size, width: size, channels: c };
}
