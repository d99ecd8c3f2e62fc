/**
 * The crop to the head before resizing ("autocrop", as the RSNA 2019 2nd-place solution did):
 * the head fills about 60–75% of a head CT's field of view, the rest is air and the table, so a
 * square around the head gives the model more brain pixels at the same input size.
 *
 * The head is the largest 4-connected region of pixels above {@link HEAD_HU} (skin, brain,
 * bone; air and the headrest's foam are below it) after an erosion that cuts off thin
 * structures touching it (the headrest's shell, the table). The box is that region's bounding box widened to a square
 * around its centre, plus {@link HEAD_MARGIN} of its side on every edge. Parts of the square
 * outside the image read as air. A slice whose largest region is smaller than
 * {@link MIN_HEAD_FRACTION} of the image (no head: a blank or a scout-like slice) is not
 * cropped. The box is a function of the HU image alone, so every reader crops alike.
 */

import { erode } from './morphology.js';

/** HU above which a pixel belongs to the head (fat is about −100, foam and air far below). */
export const HEAD_HU = -300;
/** Extra margin on each side, as a fraction of the head's larger extent. */
export const HEAD_MARGIN = 0.04;
/** Below this share of the image's pixels the largest region is not taken for a head. */
export const MIN_HEAD_FRACTION = 0.01;
/** HU of the pixels of the square outside the image. */
export const OUTSIDE_HU = -1024;

/** A square in the slice's pixel grid; `top`/`left` may be negative, `side` ≥ 1. */
export interface CropBox {
  top: number;
  left: number;
  side: number;
}

/**
 * Erosion radius in pixels before the regions are found: removes thin structures (a headrest's
 * shell, cables, the table's edge) and thin bridges between them and the head; the head's
 * bounding box is widened by the same amount afterwards. 2 px up to 340², then 1 px per 170 px.
 */
export function headErosion(rows: number, cols: number): number {
  return Math.max(2, Math.round(Math.min(rows, cols) / 170));
}

/** The square around the head of a HU image, or null when no region is large enough. */
export function headBox(hu: ArrayLike<number>, rows: number, cols: number): CropBox | null {
  const n = rows * cols;
  const above = new Uint8Array(n);
  for (let i = 0; i < n; i++) above[i] = hu[i]! > HEAD_HU ? 1 : 0;
  const e = headErosion(rows, cols);
  const mask = erode(above, rows, cols, e);
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n);
  let best = { size: 0, r0: 0, r1: 0, c0: 0, c1: 0 };
  for (let start = 0; start < n; start++) {
    if (seen[start] !== 0 || mask[start] === 0) continue;
    let size = 0;
    let r0 = rows;
    let r1 = -1;
    let c0 = cols;
    let c1 = -1;
    let sp = 0;
    stack[sp++] = start;
    seen[start] = 1;
    while (sp > 0) {
      const p = stack[--sp]!;
      size++;
      const r = (p / cols) | 0;
      const c = p - r * cols;
      if (r < r0) r0 = r;
      if (r > r1) r1 = r;
      if (c < c0) c0 = c;
      if (c > c1) c1 = c;
      const around = [c > 0 ? p - 1 : -1, c < cols - 1 ? p + 1 : -1, r > 0 ? p - cols : -1];
      around.push(r < rows - 1 ? p + cols : -1);
      for (const q of around) {
        if (q >= 0 && seen[q] === 0 && mask[q] !== 0) {
          seen[q] = 1;
          stack[sp++] = q;
        }
      }
    }
    if (size > best.size) best = { size, r0, r1, c0, c1 };
  }
  if (best.size < MIN_HEAD_FRACTION * n) return null;
  const h = best.r1 - best.r0 + 1 + 2 * e;
  const w = best.c1 - best.c0 + 1 + 2 * e;
  const side = Math.max(1, Math.round(Math.max(h, w) * (1 + 2 * HEAD_MARGIN)));
  const top = Math.round((best.r0 + best.r1 + 1 - side) / 2);
  const left = Math.round((best.c0 + best.c1 + 1 - side) / 2);
  return { top, left, side };
}

/** The `box.side²` pixels of `img` (rows × cols × channels) under the box; outside: `fill`. */
export function cropImage<T extends Float32Array | Uint8Array>(
  img: T,
  rows: number,
  cols: number,
  channels: number,
  box: CropBox,
  fill: number,
): T {
  const { top, left, side } = box;
  const out = (
    img instanceof Uint8Array
      ? new Uint8Array(side * side * channels)
      : new Float32Array(side * side * channels)
  ) as T;
  if (fill !== 0) out.fill(fill);
  const c0 = Math.max(0, left);
  const c1 = Math.min(cols, left + side);
  if (c1 <= c0) return out;
  for (let r = Math.max(0, top); r < Math.min(rows, top + side); r++) {
    const src = (r * cols + c0) * channels;
    const dst = ((r - top) * side + (c0 - left)) * channels;
    out.set(img.subarray(src, src + (c1 - c0) * channels), dst);
  }
  return out;
}
