/**
 * Stored pixel values to Hounsfield units.
 *
 * The Modality LUT of DICOM PS3.3 C.11.1.1.2: HU = stored × RescaleSlope + RescaleIntercept,
 * applied exactly once, when a slice is read.
 *
 * The RSNA 2019 quirk. Some slices of the RSNA intracranial haemorrhage set have
 * BitsStored = 12, PixelRepresentation = 0 (unsigned) and a RescaleIntercept above −100
 * (0 or 1) although their stored values were written for an intercept of −1000 with the
 * 4096 wrap of a 12-bit signed scanner. The reference study (and most public solutions)
 * corrects them as follows, and so do we unless told not to:
 *
 *   v = stored + 1000; if v ≥ 4096 then v −= 4096; HU = v × RescaleSlope + (−1000)
 *
 * so stored 0 → HU 0, stored 3095 → 3095, stored 3096 → −1000 (air), stored 4095 → −1.
 */
import { ConfigError } from '../errors.js';

export interface HuOptions {
  /** Correct the RSNA 12-bit intercept quirk when it is detected (default true). */
  rsnaFix?: boolean;
}

/** The attributes of a slice that the Modality LUT and the RSNA fix depend on. */
export interface HuAttributes {
  /** (0028,1053) RescaleSlope. */
  rescaleSlope: number;
  /** (0028,1052) RescaleIntercept. */
  rescaleIntercept: number;
  /** (0028,0101) BitsStored. */
  bitsStored: number;
  /** (0028,0103) PixelRepresentation: 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
}

export interface HuResult {
  /** Hounsfield units, same length and order as the stored values. */
  hu: Float32Array;
  /** Whether the RSNA quirk was detected and corrected. */
  rsnaFixApplied: boolean;
}

/** The intercept the RSNA-fixed values are meant for. */
const RSNA_INTERCEPT = -1000;
/** The offset added to stored values before the 12-bit wrap. */
const RSNA_OFFSET = 1000;
/** 2^12: stored values at or above it after the offset wrap round. */
const RSNA_WRAP = 4096;

/** True for the RSNA quirk: BitsStored 12, unsigned, and RescaleIntercept > −100. */
export function needsRsnaFix(a: {
  bitsStored: number;
  pixelRepresentation: number;
  rescaleIntercept: number;
}): boolean {
  return a.bitsStored === 12 && a.pixelRepresentation === 0 && a.rescaleIntercept > -100;
}

function requireFinite(field: string, value: number): void {
  if (!Number.isFinite(value)) {
    throw new ConfigError(`${field} must be a finite number, received ${value}`);
  }
}

/** @throws ConfigError when RescaleSlope or RescaleIntercept is not a finite number. */
export function requireFiniteRescale(attrs: {
  rescaleSlope: number;
  rescaleIntercept: number;
}): void {
  requireFinite('RescaleSlope', attrs.rescaleSlope);
  requireFinite('RescaleIntercept', attrs.rescaleIntercept);
}

/**
 * Converts stored values to HU (PS3.3 C.11.1.1.2), correcting the RSNA quirk unless
 * `opts.rsnaFix` is false. Writes into `out` when it is given and has the right length,
 * otherwise into a new array; always use the returned `hu`. The input is not modified.
 *
 * @throws ConfigError when RescaleSlope or RescaleIntercept is not a finite number.
 */
export function storedToHu(
  stored: ArrayLike<number>,
  attrs: HuAttributes,
  opts: HuOptions = {},
  out?: Float32Array,
): HuResult {
  requireFiniteRescale(attrs);
  const n = stored.length;
  const hu = out !== undefined && out.length === n ? out : new Float32Array(n);
  const slope = attrs.rescaleSlope;
  const rsnaFixApplied = (opts.rsnaFix ?? true) && needsRsnaFix(attrs);
  if (rsnaFixApplied) {
    for (let i = 0; i < n; i++) {
      let v = stored[i]! + RSNA_OFFSET;
      if (v >= RSNA_WRAP) v -= RSNA_WRAP;
      hu[i] = v * slope + RSNA_INTERCEPT;
    }
  } else {
    const intercept = attrs.rescaleIntercept;
    for (let i = 0; i < n; i++) {
      hu[i] = stored[i]! * slope + intercept;
    }
  }
  return { hu, rsnaFixApplied };
}
