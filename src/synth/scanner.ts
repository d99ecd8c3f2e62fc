/**
 * HU images to stored pixel values for a patient's scanner profile, and the DICOM write spec.
 *
 * HU = stored × RescaleSlope + RescaleIntercept (PS3.3 C.11.1.1.2), so stored = (HU − b) / m.
 * The RSNA 12-bit quirk profile (BitsStored 12, PixelRepresentation 0, intercept 0) stores what a
 * 12-bit signed scanner with intercept −1000 would, wrapped into 12 bits: stored = HU mod 4096
 * for HU in [−1000, 3095]. The standard correction (v = stored + 1000, minus 4096 when ≥ 4096,
 * HU = v − 1000) then recovers the true HU exactly.
 */
import type { WriteSliceSpec } from '../dicom/write.js';
import type { ScannerProfile } from './patient.js';

/** Converts HU (rounded to integers) to the stored values of `profile`. */
export function huToStored(hu: Float32Array, profile: ScannerProfile): Int16Array | Uint16Array {
  if (profile.quirk) return quirkStored(hu);
  if (profile.pixelRepresentation === 1) {
    return signedStored(hu, profile.padding ?? -1024, profile.intercept, profile.slope);
  }
  return unsignedStored(hu, profile.intercept, profile.slope, 2 ** profile.bitsStored - 1);
}

// Three small monomorphic loops: V8 keeps each one tight (one array type in, one out).

function quirkStored(hu: Float32Array): Uint16Array {
  const n = hu.length;
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let h = Math.floor(hu[i]! + 0.5);
    if (h < -1000) h = -1000;
    else if (h > 3095) h = 3095;
    out[i] = h < 0 ? h + 4096 : h;
  }
  return out;
}

function signedStored(hu: Float32Array, lo: number, intercept: number, slope: number): Int16Array {
  const n = hu.length;
  const out = new Int16Array(n);
  const inv = 1 / slope;
  for (let i = 0; i < n; i++) {
    let h = Math.floor(hu[i]! + 0.5);
    if (h < lo) h = lo;
    else if (h > 3071) h = 3071;
    out[i] = Math.floor((h - intercept) * inv + 0.5);
  }
  return out;
}

function unsignedStored(
  hu: Float32Array,
  intercept: number,
  slope: number,
  max: number,
): Uint16Array {
  const n = hu.length;
  const out = new Uint16Array(n);
  const inv = 1 / slope;
  for (let i = 0; i < n; i++) {
    let s = Math.floor((Math.floor(hu[i]! + 0.5) - intercept) * inv + 0.5);
    if (s < 0) s = 0;
    else if (s > max) s = max;
    out[i] = s;
  }
  return out;
}

/** Sets every pixel outside the reconstruction circle to the profile's padding value. */
export function applyPadding(hu: Float32Array, profile: ScannerProfile): void {
  if (profile.padding === undefined) return;
  const { rows, cols } = profile;
  const cr = (rows - 1) / 2;
  const cc = (cols - 1) / 2;
  const rad = Math.min(rows, cols) / 2;
  for (let r = 0; r < rows; r++) {
    const dr = r - cr;
    const rem = rad * rad - dr * dr;
    const half = rem > 0 ? Math.sqrt(rem) : -1;
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      if (half < 0 || Math.abs(c - cc) > half) hu[o + c] = profile.padding;
    }
  }
}

export interface SliceIds {
  patientId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

/** The DICOM write spec of slice `index` of a series. */
export function sliceSpec(
  profile: ScannerProfile,
  index: number,
  stored: Int16Array | Uint16Array,
  ids: SliceIds,
): WriteSliceSpec {
  return {
    rows: profile.rows,
    cols: profile.cols,
    stored,
    bitsAllocated: 16,
    bitsStored: profile.bitsStored,
    pixelRepresentation: profile.pixelRepresentation,
    photometricInterpretation: 'MONOCHROME2',
    rescaleSlope: profile.slope,
    rescaleIntercept: profile.intercept,
    windowCenter: profile.windowCenter,
    windowWidth: profile.windowWidth,
    ...ids,
    imagePositionPatient: [profile.x0, profile.y0, profile.z[index] ?? 0],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [profile.spacing, profile.spacing],
    sliceThickness: profile.thickness,
    instanceNumber: index + 1,
    modality: 'CT',
  };
}
