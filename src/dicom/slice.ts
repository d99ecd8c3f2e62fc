/**
 * The typed slice every later stage works on: a DICOM CT image parsed once, its pixels decoded,
 * and slope/intercept applied exactly once to give Hounsfield units.
 */

/** Stored pixel values as decoded, after masking to BitsStored and sign extension from HighBit. */
export type StoredPixels =
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Int8Array
  | Uint8Array;

/** The DICOM attributes the pipeline needs, read from the file as written (no corrections). */
export interface SliceAttributes {
  patientId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  modality: string;
  /** (0008,0016) SOPClassUID; '' when absent (optional for slices built by hand). */
  sopClassUid?: string;
  transferSyntaxUid: string;
  /** (0020,0032) x, y, z of the first transmitted pixel in mm; undefined when absent. */
  imagePositionPatient: [number, number, number] | undefined;
  /** (0020,0037) row and column direction cosines; undefined when absent. */
  imageOrientationPatient: [number, number, number, number, number, number] | undefined;
  /** (0028,0030) row spacing, column spacing in mm. */
  pixelSpacing: [number, number] | undefined;
  sliceThickness: number | undefined;
  /** (0028,1053), 1 when absent (PS3.3 C.11.1.1.2 makes it type 1C: absent means identity). */
  rescaleSlope: number;
  /** (0028,1052), 0 when absent. */
  rescaleIntercept: number;
  /** (0028,1050) every value of a multi-valued WindowCenter; empty when absent. */
  windowCenter: number[];
  /** (0028,1051) every value; empty when absent. */
  windowWidth: number[];
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
  photometricInterpretation: string;
  samplesPerPixel: number;
  numberOfFrames: number;
  instanceNumber: number | undefined;
}

export interface CtSlice extends SliceAttributes {
  /** File path, or `<buffer>` when parsed from memory. */
  source: string;
  rows: number;
  cols: number;
  /** Stored values, row-major, rows × cols. */
  stored: StoredPixels;
  /** Hounsfield units, row-major, rows × cols: stored × slope + intercept (after the RSNA fix when enabled). */
  hu: Float32Array;
  /** Whether the RSNA 12-bit intercept quirk was detected and corrected (see `dicom/hu.ts`). */
  rsnaFixApplied: boolean;
}
