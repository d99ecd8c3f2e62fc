/**
 * Placing a map computed on a model's input grid back onto the slice it came from: the input
 * covered either the whole slice or, with `--crop head`, the square `box` of it (see crop.ts).
 * Pure (no Node, no tfjs), so the browser viewer places its maps with the same code.
 */
import type { CropBox } from './crop.js';
import { resize } from './resize.js';

/**
 * `map` (h × w) upsampled bilinearly (half-pixel centres) to `box.side²` and written into a
 * rows × cols grid at (box.top, box.left), clipped to the grid, zero outside the box; with
 * `box` null the map is upsampled to rows × cols. Not normalised.
 */
export function placeMap(
  map: Float32Array,
  h: number,
  w: number,
  rows: number,
  cols: number,
  box: CropBox | null,
): Float32Array {
  if (box === null) {
    return h === rows && w === cols ? map.slice() : resize(map, h, w, 1, rows, cols, 'bilinear');
  }
  const { top, left, side } = box;
  const up = h === side && w === side ? map : resize(map, h, w, 1, side, side, 'bilinear');
  const out = new Float32Array(rows * cols);
  const c0 = Math.max(0, left);
  const c1 = Math.min(cols, left + side);
  if (c1 <= c0) return out;
  for (let r = Math.max(0, top); r < Math.min(rows, top + side); r++) {
    const src = (r - top) * side + (c0 - left);
    out.set(up.subarray(src, src + (c1 - c0)), r * cols + c0);
  }
  return out;
}

/** Divides a map by its maximum and clamps at 0, in place, so it lies in [0, 1]; zeros when ≤ 0. */
export function normaliseMap(up: Float32Array): Float32Array {
  let max = 0;
  for (let i = 0; i < up.length; i++) if (up[i]! > max) max = up[i]!;
  if (max > 0) for (let i = 0; i < up.length; i++) up[i] = Math.max(0, up[i]! / max);
  else up.fill(0);
  return up;
}
