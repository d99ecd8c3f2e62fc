/** `ichdet inspect`: the attributes of DICOM files, one record per file, errors included. */

import { readSlice } from '../dicom/read.js';
import type { SliceAttributes } from '../dicom/slice.js';
import { transferSyntaxName } from '../dicom/syntax.js';
import { IchdetError } from '../errors.js';
import { listFiles } from '../util/files.js';

export interface InspectOptions {
  /** Apply the RSNA 12-bit intercept fix when computing the HU range (default true). */
  rsnaFix?: boolean;
}

export interface InspectOk extends SliceAttributes {
  file: string;
  ok: true;
  rows: number;
  cols: number;
  transferSyntaxName: string;
  rsnaFixApplied: boolean;
  huMin: number;
  huMax: number;
}

export interface InspectFailure {
  file: string;
  ok: false;
  /** The error class, e.g. DicomError or NotACtSliceError. */
  errorType: string;
  error: string;
}

export type InspectRecord = InspectOk | InspectFailure;

/**
 * Reads every file (directories are walked recursively) and returns one record per file.
 * Never throws for a bad file: its record says why it failed.
 */
export async function inspect(
  paths: string[],
  opts: InspectOptions = {},
): Promise<InspectRecord[]> {
  const files = await listFiles(paths);
  const records: InspectRecord[] = [];
  for (const file of files) {
    try {
      const s = await readSlice(file, { rsnaFix: opts.rsnaFix ?? true });
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < s.hu.length; i++) {
        const v = s.hu[i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const { hu: _hu, stored: _stored, source: _source, ...attrs } = s;
      records.push({
        file,
        ok: true,
        ...attrs,
        transferSyntaxName: transferSyntaxName(s.transferSyntaxUid) ?? s.transferSyntaxUid,
        huMin: min,
        huMax: max,
      });
    } catch (err) {
      if (!(err instanceof IchdetError)) throw err;
      records.push({ file, ok: false, errorType: err.name, error: err.message });
    }
  }
  return records;
}

/** A human-readable block per record, as printed by the CLI without `--json`. */
export function formatInspectRecord(r: InspectRecord): string {
  if (!r.ok) return `${r.file}\n  ERROR (${r.errorType}): ${r.error}`;
  const v = (x: unknown) =>
    x === undefined ? '—' : Array.isArray(x) ? (x.length ? x.join('\\') : '—') : String(x);
  const lines: Array<[string, unknown]> = [
    ['PatientID', r.patientId],
    ['StudyInstanceUID', r.studyInstanceUid],
    ['SeriesInstanceUID', r.seriesInstanceUid],
    ['SOPInstanceUID', r.sopInstanceUid],
    ['Modality', r.modality],
    ['TransferSyntaxUID', `${r.transferSyntaxUid} (${r.transferSyntaxName})`],
    ['Rows × Columns', `${r.rows} × ${r.cols}`],
    ['ImagePositionPatient', r.imagePositionPatient],
    ['ImageOrientationPatient', r.imageOrientationPatient],
    ['PixelSpacing', r.pixelSpacing],
    ['SliceThickness', r.sliceThickness],
    ['BitsAllocated/Stored/HighBit', `${r.bitsAllocated}/${r.bitsStored}/${r.highBit}`],
    ['PixelRepresentation', r.pixelRepresentation === 1 ? '1 (signed)' : '0 (unsigned)'],
    ['PhotometricInterpretation', r.photometricInterpretation],
    ['RescaleSlope/Intercept', `${r.rescaleSlope} / ${r.rescaleIntercept}`],
    ['WindowCenter/Width', `${v(r.windowCenter)} / ${v(r.windowWidth)}`],
    ['RSNA fix applied', r.rsnaFixApplied ? 'yes (intercept −1000, 12-bit wrap)' : 'no'],
    ['HU range', `${r.huMin} … ${r.huMax}`],
  ];
  return [r.file, ...lines.map(([k, x]) => `  ${k.padEnd(29)} ${v(x)}`)].join('\n');
}
