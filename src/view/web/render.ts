/**
 * Pixels of the viewer, computed with ichdet's own code compiled for the browser: stored values
 * → HU (dicom/hu.ts, the Modality LUT and the RSNA fix) → one window (dicom/window.ts) → 8 bits
 * (dicom/quantize.ts). So the screen shows exactly the values the model saw; the tests check
 * canvas pixels against the Node side. Pure functions, no DOM.
 */
import type { CropBox } from '../../dicom/crop.js';
import { type HuAttributes, storedToHu } from '../../dicom/hu.js';
import { normaliseMap, placeMap } from '../../dicom/place.js';
import { toUint8 } from '../../dicom/quantize.js';
import type { StoredPixels } from '../../dicom/slice.js';
import { type WindowLevel, windowTransform } from '../../dicom/window.js';

/** The viewer's window presets (centre/width in HU). */
export const VIEW_PRESETS: readonly { name: string; center: number; width: number }[] = [
  { name: 'brain', center: 40, width: 80 },
  { name: 'subdural', center: 80, width: 200 },
  { name: 'stroke', center: 40, width: 40 },
  { name: 'bone', center: 600, width: 2800 },
  { name: 'soft tissue', center: 40, width: 380 },
];

export type StoredArray = StoredPixels;

/** The typed array of the `X-Dtype` the server sends with stored pixels. */
export function storedFromBytes(buf: ArrayBuffer, dtype: string): StoredArray {
  switch (dtype) {
    case 'int16':
      return new Int16Array(buf);
    case 'uint16':
      return new Uint16Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'uint32':
      return new Uint32Array(buf);
    case 'int8':
      return new Int8Array(buf);
    case 'uint8':
      return new Uint8Array(buf);
    default:
      throw new Error(`unknown pixel type "${dtype}"`);
  }
}

/** HU of one slice (PS3.3 C.11.1.1.2, with the RSNA fix as `ichdet` reads it). */
export function huOf(stored: ArrayLike<number>, attrs: HuAttributes, rsnaFix = true): Float32Array {
  return storedToHu(stored, attrs, { rsnaFix }).hu;
}

/** The 8-bit grey level of every pixel under a window: toUint8(windowTransform(w)(hu)). */
export function greyOf(hu: Float32Array, w: WindowLevel): Uint8Array {
  return toUint8(windowTransform(w)(hu));
}

/** Grey levels as opaque RGBA (ImageData's layout). */
export function greyToRgba(
  grey: Uint8Array,
  out?: Uint8ClampedArray<ArrayBuffer>,
): Uint8ClampedArray<ArrayBuffer> {
  const rgba =
    out !== undefined && out.length === grey.length * 4
      ? out
      : new Uint8ClampedArray(grey.length * 4);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    const g = grey[i]!;
    rgba[j] = g;
    rgba[j + 1] = g;
    rgba[j + 2] = g;
    rgba[j + 3] = 255;
  }
  return rgba;
}

/** A heatmap in [0, 1] as RGBA: a blue → cyan → yellow → red ramp, transparent at 0. */
export function heatToRgba(map: Float32Array): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(map.length * 4);
  for (let i = 0, j = 0; i < map.length; i++, j += 4) {
    const v = Math.max(0, Math.min(1, map[i]!));
    rgba[j] = Math.round(255 * Math.min(1, Math.max(0, 2 * v - 0.5)));
    rgba[j + 1] = Math.round(255 * Math.min(1, 2 - Math.abs(4 * v - 2)));
    rgba[j + 2] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - 2 * v)));
    rgba[j + 3] = Math.round(255 * Math.min(1, v * 1.5));
  }
  return rgba;
}

/** A label mask (bit k = subtype k; `bit` −1 for any subtype) as translucent red RGBA. */
export function maskToRgba(bits: Uint8Array, bit: number): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(bits.length * 4);
  for (let i = 0, j = 0; i < bits.length; i++, j += 4) {
    const on = bit < 0 ? bits[i]! !== 0 : (bits[i]! >> bit) & 1;
    if (on) {
      rgba[j] = 255;
      rgba[j + 1] = 40;
      rgba[j + 2] = 40;
      rgba[j + 3] = 255;
    }
  }
  return rgba;
}

/**
 * Class activation maps from the model (n × h × w × labels) → one slice's map of one label,
 * ReLU'd and scaled to [0, 1]. With `onto` holding a crop box (a model fed `--crop head`
 * inputs), the map is placed on the slice's rows × cols at that box (dicom/place.ts, as
 * `ichdet predict --cam` places it), zero outside.
 */
export function camSlice(
  cam: Float32Array,
  dims: readonly number[],
  slice: number,
  label: number,
  onto?: { rows: number; cols: number; box: CropBox | null },
): { map: Float32Array; rows: number; cols: number } {
  const h = dims[1]!;
  const w = dims[2]!;
  const k = dims[3]!;
  const map = new Float32Array(h * w);
  let max = 0;
  for (let i = 0; i < h * w; i++) {
    const v = Math.max(0, cam[(slice * h * w + i) * k + label]!);
    map[i] = v;
    if (v > max) max = v;
  }
  if (onto?.box) {
    const placed = normaliseMap(placeMap(map, h, w, onto.rows, onto.cols, onto.box));
    return { map: placed, rows: onto.rows, cols: onto.cols };
  }
  if (max > 0) for (let i = 0; i < map.length; i++) map[i] = map[i]! / max;
  return { map, rows: h, cols: w };
}
