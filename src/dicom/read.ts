/**
 * DICOM file → typed CT slice. Parse once, check it is a single-frame grayscale image, decode
 * its pixels, and apply the Modality LUT (slope/intercept) exactly once.
 */
import { readFile } from 'node:fs/promises';
import type { DataSet } from 'dicom-parser';
import { ConfigError, DicomError, NotACtSliceError } from '../errors.js';
import { CodecsNotLoadedError, initCodecs } from './codecs.js';
import { requireFiniteRescale, storedToHu } from './hu.js';
import { type ParsedDicom, parseDicomBytes } from './parse.js';
import { extractStored, type PixelLayout } from './pixels.js';
import type { CtSlice, SliceAttributes } from './slice.js';

export interface ReadOptions {
  /** Apply the RSNA 12-bit intercept correction (see dicom/hu.ts). Default true. */
  rsnaFix?: boolean;
  /**
   * Accept only CT image slices (`requireCtImage`): what `prepare`, `index` and `predict`
   * read. Default false: any single-frame greyscale image (`inspect`, `export`).
   */
  ctOnly?: boolean;
}

/** CT Image Storage and Enhanced CT Image Storage (PS3.4 Annex B.5). */
export const CT_IMAGE_SOP_CLASSES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10008.5.1.4.1.1.2', 'CT Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.2.1', 'Enhanced CT Image Storage'],
]);

/** (0008,0016) SOPClassUID as written, '' when absent. */
export function sopClassOf(ds: DataSet): string {
  return (ds.string('x00080016') ?? '').replace(/\0/g, '').trim();
}

/**
 * Only CT image slices enter the CT pipeline: Modality (0008,0060) CT, or, when Modality is
 * absent, a CT image SOP class. An RT dose grid or a PET slice is greyscale too, but its values
 * are not Hounsfield units.
 *
 * @throws NotACtSliceError `not a CT slice: Modality RTDOSE`.
 */
export function requireCtImage(ds: DataSet, a: Pick<SliceAttributes, 'modality'>, source: string) {
  if (a.modality === 'CT') return;
  if (a.modality !== '') throw new NotACtSliceError(source, `Modality ${a.modality}`);
  const sopClass = sopClassOf(ds);
  if (CT_IMAGE_SOP_CLASSES.has(sopClass)) return;
  throw new NotACtSliceError(
    source,
    `Modality absent and SOPClassUID ${sopClass || 'absent'} is not a CT image class`,
  );
}

/** A non-numeric RescaleSlope/Intercept is a fault of the file: a DicomError naming it. */
export function checkRescale(a: SliceAttributes, source: string): void {
  try {
    requireFiniteRescale(a);
  } catch (err) {
    if (err instanceof ConfigError) throw new DicomError(source, err.message);
    throw err;
  }
}

/** Reads a DICOM file (Part 10 or bare data set) into a CtSlice; loads codecs when needed. */
export async function readSlice(path: string, opts: ReadOptions = {}): Promise<CtSlice> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DicomError(
      path,
      `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const parsed = parseDicomBytes(bytes, path);
  return withCodecs(() => sliceFromParsed(parsed, path, opts));
}

/**
 * Runs a synchronous decode (`decodeSlice`, `readWindowed…`); when it meets compressed pixel
 * data before this thread has loaded the codecs, loads them and runs it again. Threads that
 * only see uncompressed files never load the codecs.
 */
export async function withCodecs<T>(decode: () => T): Promise<T> {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof CodecsNotLoadedError)) throw err;
    await initCodecs();
    return decode();
  }
}

/**
 * Synchronous variant for bytes in memory. Compressed syntaxes need `await initCodecs()` once
 * beforehand, or the call inside `withCodecs` (readSlice does that for you).
 */
export function decodeSlice(
  bytes: Uint8Array,
  source = '<buffer>',
  opts: ReadOptions = {},
): CtSlice {
  return sliceFromParsed(parseDicomBytes(bytes, source), source, opts);
}

/** Only the attributes, without decoding pixels (for `ichdet inspect` and indexing). */
export function readAttributes(
  bytes: Uint8Array,
  source = '<buffer>',
): SliceAttributes & { rows: number; cols: number } {
  const parsed = parseDicomBytes(bytes, source);
  return {
    ...sliceAttributes(parsed),
    rows: parsed.dataSet.uint16('x00280010') ?? 0,
    cols: parsed.dataSet.uint16('x00280011') ?? 0,
  };
}

function sliceFromParsed(parsed: ParsedDicom, source: string, opts: ReadOptions): CtSlice {
  const attrs = sliceAttributes(parsed);
  const layout = ctSliceLayout(parsed.dataSet, attrs, source);
  if (opts.ctOnly === true) requireCtImage(parsed.dataSet, attrs, source);
  const stored = extractStored(parsed.dataSet, parsed.syntax, layout, source);
  let converted: ReturnType<typeof storedToHu>;
  try {
    converted = storedToHu(stored, attrs, { rsnaFix: opts.rsnaFix ?? true });
  } catch (err) {
    // A non-numeric RescaleSlope/Intercept is a fault of the file: name it.
    if (err instanceof ConfigError) throw new DicomError(source, err.message);
    throw err;
  }
  const { hu, rsnaFixApplied } = converted;
  return { ...attrs, source, rows: layout.rows, cols: layout.cols, stored, hu, rsnaFixApplied };
}

const NO_PIXEL_CLASSES: Array<[RegExp, string]> = [
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./, 'structured report'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.481\.5$/, 'RT plan'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.481\.3$/, 'RT structure set'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.9\./, 'waveform'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.104\.1$/, 'encapsulated PDF'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.11\./, 'presentation state'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.66/, 'raw data or registration'],
];

/** The reasons an object is not a slice for this pipeline, checked before any pixel work. */
export function ctSliceLayout(ds: DataSet, a: SliceAttributes, source: string): PixelLayout {
  const sopClass = sopClassOf(ds);
  if (!ds.elements.x7fe00010) {
    const kind = NO_PIXEL_CLASSES.find(([re]) => re.test(sopClass))?.[1];
    const float = ds.elements.x7fe00008 || ds.elements.x7fe00009 ? 'float pixel data only; ' : '';
    throw new NotACtSliceError(
      source,
      `${float}no pixel data (7FE0,0010)${kind ? ` — a ${kind}` : ''} (SOPClassUID ${sopClass || 'absent'}, Modality ${a.modality || 'absent'})`,
    );
  }
  if (a.samplesPerPixel !== 1) {
    throw new NotACtSliceError(
      source,
      `colour image (SamplesPerPixel ${a.samplesPerPixel}, PhotometricInterpretation ${a.photometricInterpretation})`,
    );
  }
  if (
    a.photometricInterpretation !== 'MONOCHROME1' &&
    a.photometricInterpretation !== 'MONOCHROME2'
  ) {
    throw new NotACtSliceError(
      source,
      `PhotometricInterpretation ${a.photometricInterpretation || 'absent'} is not MONOCHROME1 or MONOCHROME2`,
    );
  }
  if (a.numberOfFrames !== 1) {
    throw new NotACtSliceError(source, `multi-frame image (NumberOfFrames ${a.numberOfFrames})`);
  }
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  if (!rows || !cols) {
    throw new DicomError(
      source,
      `missing or zero Rows/Columns (0028,0010)/(0028,0011): received ${rows}×${cols}`,
    );
  }
  if (a.bitsAllocated !== 8 && a.bitsAllocated !== 16 && a.bitsAllocated !== 32) {
    throw new DicomError(
      source,
      `unsupported BitsAllocated ${a.bitsAllocated}; expected 8, 16 or 32`,
    );
  }
  return {
    rows,
    cols,
    bitsAllocated: a.bitsAllocated,
    bitsStored: a.bitsStored,
    highBit: a.highBit,
    pixelRepresentation: a.pixelRepresentation,
    photometricInterpretation: a.photometricInterpretation,
  };
}

/** The attributes of SliceAttributes, read as written in the file. */
export function sliceAttributes(parsed: ParsedDicom): SliceAttributes {
  const ds = parsed.dataSet;
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  return {
    patientId: str(ds, 'x00100020'),
    studyInstanceUid: str(ds, 'x0020000d'),
    seriesInstanceUid: str(ds, 'x0020000e'),
    sopInstanceUid: str(ds, 'x00080018'),
    modality: str(ds, 'x00080060'),
    sopClassUid: sopClassOf(ds),
    transferSyntaxUid: parsed.syntax.uid,
    imagePositionPatient: fixed(
      nums(ds, 'x00200032'),
      3,
    ) as SliceAttributes['imagePositionPatient'],
    imageOrientationPatient: fixed(
      nums(ds, 'x00200037'),
      6,
    ) as SliceAttributes['imageOrientationPatient'],
    pixelSpacing: fixed(nums(ds, 'x00280030'), 2) as SliceAttributes['pixelSpacing'],
    sliceThickness: nums(ds, 'x00180050')[0],
    rescaleSlope: firstNumber(ds, 'x00281053', 1),
    rescaleIntercept: firstNumber(ds, 'x00281052', 0),
    windowCenter: nums(ds, 'x00281050'),
    windowWidth: nums(ds, 'x00281051'),
    bitsAllocated,
    bitsStored,
    highBit: ds.uint16('x00280102') ?? bitsStored - 1,
    pixelRepresentation: ds.uint16('x00280103') === 1 ? 1 : 0,
    photometricInterpretation: str(ds, 'x00280004'),
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    numberOfFrames: nums(ds, 'x00280008')[0] ?? 1,
    instanceNumber: nums(ds, 'x00200013')[0],
  };
}

function str(ds: DataSet, tag: string): string {
  return (ds.string(tag) ?? '').replace(/\0/g, '').trim();
}

/** All numeric values of a DS/IS element (backslash-separated); non-numbers are dropped. */
function nums(ds: DataSet, tag: string): number[] {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return [];
  const text = ds.string(tag);
  if (text === undefined) return [];
  const out: number[] = [];
  for (const part of text.split('\\')) {
    const v = Number.parseFloat(part);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

/** The first value of a DS element; `absent` when missing or empty; NaN when present but not a number. */
function firstNumber(ds: DataSet, tag: string, absent: number): number {
  const text = ds.elements[tag]?.length ? ds.string(tag) : undefined;
  if (text === undefined || text === '') return absent;
  const v = Number.parseFloat(text.split('\\')[0] ?? '');
  return Number.isFinite(v) ? v : Number.NaN;
}

function fixed(values: number[], n: number): number[] | undefined {
  return values.length >= n ? values.slice(0, n) : undefined;
}
