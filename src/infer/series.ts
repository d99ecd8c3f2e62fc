/**
 * Files of new studies → series and studies, the way `prepare` orders a cache (data/series.ts:
 * by position along the slice normal, then InstanceNumber, then image id). Series are grouped
 * into studies by StudyInstanceUID.
 */
import { compareSlices, imageIdOf } from '../data/series.js';
import { slicePosition } from '../dicom/geometry.js';
import type { SliceAttributes } from '../dicom/slice.js';

/** One readable slice of the input, before its pixels are decoded. */
export interface SliceRef {
  file: string;
  /** SOPInstanceUID, or the file name without `.dcm` when it is empty. */
  imageId: string;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  /** Position along the slice normal in mm; null when ImagePositionPatient is absent. */
  position: number | null;
  instanceNumber: number | null;
  rows: number;
  cols: number;
}

export interface Series {
  studyUid: string;
  seriesUid: string;
  patientId: string;
  /** In order along the slice normal. */
  slices: SliceRef[];
}

export interface Study {
  studyUid: string;
  patientId: string;
  /** In order of their first file. */
  series: Series[];
}

/** A SliceRef from a file's attributes. */
export function sliceRef(
  file: string,
  a: SliceAttributes & { rows: number; cols: number },
): SliceRef {
  return {
    file,
    imageId: imageIdOf(a.sopInstanceUid, file),
    patientId: a.patientId,
    studyUid: a.studyInstanceUid,
    seriesUid: a.seriesInstanceUid,
    position: slicePosition(a.imagePositionPatient, a.imageOrientationPatient),
    instanceNumber: a.instanceNumber ?? null,
    rows: a.rows,
    cols: a.cols,
  };
}

/** Groups slices into series (in order of each series' first slice) and orders each series. */
export function groupSeries(slices: readonly SliceRef[]): Series[] {
  const bySeries = new Map<string, Series>();
  for (const s of slices) {
    const g = bySeries.get(s.seriesUid);
    if (g) g.slices.push(s);
    else
      bySeries.set(s.seriesUid, {
        studyUid: s.studyUid,
        seriesUid: s.seriesUid,
        patientId: s.patientId,
        slices: [s],
      });
  }
  const out = [...bySeries.values()];
  for (const g of out) g.slices.sort(compareSlices);
  return out;
}

/** Groups series into studies by StudyInstanceUID, in order of each study's first series. */
export function groupStudies(series: readonly Series[]): Study[] {
  const byStudy = new Map<string, Study>();
  for (const s of series) {
    const g = byStudy.get(s.studyUid);
    if (g) g.series.push(s);
    else byStudy.set(s.studyUid, { studyUid: s.studyUid, patientId: s.patientId, series: [s] });
  }
  return [...byStudy.values()];
}
