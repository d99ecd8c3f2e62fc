/**
 * The five haemorrhage subtypes, in the RSNA CSV order, and the bit each one owns in a synthetic
 * label mask: bit k (value 2^k) for subtype k.
 *
 *   1 epidural, 2 intraparenchymal, 4 intraventricular, 8 subarachnoid, 16 subdural
 *
 * A slice is positive for a subtype exactly when that subtype's mask has at least
 * `minLesionPixels(rows, cols)` pixels on it; `any` is the OR of the five.
 */
import { LABEL_NAMES, type LabelName, SUBTYPE_NAMES } from '../labels.js';

export const SUBTYPES = SUBTYPE_NAMES;

export type Subtype = (typeof SUBTYPES)[number];

/** The six RSNA label columns: the five subtypes then `any` (LABEL_NAMES of src/labels.ts). */
export const LABELS = LABEL_NAMES;
export type Label = LabelName;

export const EPIDURAL = 0;
export const INTRAPARENCHYMAL = 1;
export const INTRAVENTRICULAR = 2;
export const SUBARACHNOID = 3;
export const SUBDURAL = 4;

/** Minimum mask area, in pixels, of a subtype on a 512 × 512 slice for that slice to be positive. */
export const MIN_LESION_PIXELS_512 = 20;

/** The minimum area scaled to the image area: 20 px at 512², never below 4 px. */
export function minLesionPixels(rows: number, cols: number): number {
  return Math.max(4, Math.round((MIN_LESION_PIXELS_512 * rows * cols) / (512 * 512)));
}

/** Label bits (bit k = subtype k) from per-subtype mask areas. */
export function labelBits(areas: ArrayLike<number>, minPixels: number): number {
  let bits = 0;
  for (let k = 0; k < SUBTYPES.length; k++) if ((areas[k] ?? 0) >= minPixels) bits |= 1 << k;
  return bits;
}
