/**
 * What every stage of slice rendering shares: the tissue classes of the class map, the slice
 * image, pixel rectangles, and the angle-bin and profile helpers of the head frame.
 */
/** Tissue classes of the class map. */
export const TISSUE = {
  air: 0,
  table: 1,
  skin: 2,
  fat: 3,
  muscle: 4,
  cortical: 5,
  diploe: 6,
  csf: 7,
  sulcus: 8,
  grey: 9,
  white: 10,
  deepGrey: 11,
  ventricle: 12,
  cistern: 13,
  fissure: 14,
  falx: 15,
  calc: 16,
  venous: 17,
  blood: 18,
  oedema: 19,
  sinusAir: 20,
  brainstem: 21,
  /** Brain or CSF under the inner table that shares the slice's slab with bone (partial volume). */
  bonePv: 22,
  /** Vitreous of the eye. */
  globe: 23,
  lens: 24,
  /** The cerebellum's white-matter core, blending into its cortex. */
  cerebellarWhite: 25,
} as const;
export type TissueName = keyof typeof TISSUE;

const T = TISSUE;
/** Classes soft enough to be overwritten by brain structures and lesions. */
export const BRAIN = new Uint8Array(32);
for (const c of [
  T.grey,
  T.white,
  T.sulcus,
  T.csf,
  T.fissure,
  T.deepGrey,
  T.brainstem,
  T.oedema,
  T.cerebellarWhite,
]) {
  BRAIN[c] = 1;
}
/** Cerebrospinal-fluid spaces where subarachnoid blood collects. */
export const SUBARACH = new Uint8Array(32);
for (const c of [T.sulcus, T.csf, T.cistern, T.fissure]) SUBARACH[c] = 1;

export const NB = 2048;
/** One period of a sine over 64 entries, in bins: sulci wiggle as they run into the brain. */
export const WIGGLE = Float32Array.from(
  { length: 64 },
  (_, i) => 6 * Math.sin((i / 64) * 2 * Math.PI),
);
export const NB_MASK = NB - 1;
const TWO_PI = 2 * Math.PI;
export const BIN_SCALE = NB / TWO_PI;

export interface Rect {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

export interface SliceImage {
  rows: number;
  cols: number;
  hu: Float32Array;
  cls: Uint8Array;
  mask: Uint8Array;
}

export function allocSlice(rows: number, cols: number): SliceImage {
  const n = rows * cols;
  return { rows, cols, hu: new Float32Array(n), cls: new Uint8Array(n), mask: new Uint8Array(n) };
}

/** atan2 with a 7th-order minimax polynomial (max error ≈ 1e-5 rad), mapped to a bin index. */
export function angleBin(v: number, u: number): number {
  const ax = u < 0 ? -u : u;
  const ay = v < 0 ? -v : v;
  const mx = Math.max(ax, ay);
  if (mx === 0) return NB / 2;
  const a = Math.min(ax, ay) / mx;
  const s = a * a;
  let r = ((-0.0464964749 * s + 0.15931422) * s - 0.327622764) * s * a + a;
  if (ay > ax) r = 1.57079637 - r;
  if (u < 0) r = 3.14159274 - r;
  if (v < 0) r = -r;
  return ((r + Math.PI) * BIN_SCALE) & NB_MASK;
}

export const binAngle = (b: number): number => (b + 0.5) / BIN_SCALE - Math.PI;

export function wrapAngle(x: number): number {
  let y = (x + Math.PI) % TWO_PI;
  if (y < 0) y += TWO_PI;
  return y - Math.PI;
}

export const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : Math.min(x, hi));

/** Fraction (0..1) of a structure's radius at height zh, for a structure centred at zc ± half. */
export function zProfile(zh: number, zc: number, half: number): number {
  const t = (zh - zc) / half;
  return t >= 1 || t <= -1 ? 0 : Math.sqrt(1 - t * t);
}
