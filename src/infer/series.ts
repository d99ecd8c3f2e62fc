/**
 * Files of new studies → series and studies, the way `prepare` orders a cache: slices are
 * grouped by SeriesInstanceUID and ordered by their position along the slice normal — the
 * ImagePositionPatient projected on the cross product of the ImageOrientationPatient row and
 * column cosines (PS3.3 C.7.6.2.1.1), which is right for gantry-tilted and oblique series too —
 * then by InstanceNumber, then by image id; slices with no position come last. Series are
 * grouped into studies by StudyInstanceUID.
 */
import { sliceZ } from '../data/prepare-task.js';
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

/**
 * The unit normal of a slice: row cosines × column cosines; null when the orientation is
 * absent or degenerate.
 */
export function sliceNormal(iop: readonly number[] | undefined): [number, number, number] | null {
  if (!iop || iop.length < 6) return null;
  const [a, b, c, d, e, f] = iop as [number, number, number, number, number, number];
  const n: [number, number, number] = [b * f - c * e, c * d - a * f, a * e - b * d];
  const len = Math.hypot(...n);
  if (!(len > 0) || !Number.isFinite(len)) return null;
  return [n[0] / len, n[1] / len, n[2] / len];
}

/** The image id of a file: its SOPInstanceUID, or its name without `.dcm` when that is empty. */
export function imageIdOf(sopInstanceUid: string, file: string): string {
  const s = sopInstanceUid.trim();
  if (s !== '') return s;
  const name = file.split(/[\\/]/).at(-1) ?? file;
  return name.toLowerCase().endsWith('.dcm') ? name.slice(0, -4) : name;
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
    position: sliceZ(a.imagePositionPatient, a.imageOrientationPatient),
    instanceNumber: a.instanceNumber ?? null,
    rows: a.rows,
    cols: a.cols,
  };
}

const cmpNullLast = (a: number | null, b: number | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b;

/** Slice order within a series: position, then InstanceNumber, then image id (prepare's order). */
export function compareSlices(a: SliceRef, b: SliceRef): number {
  return (
    cmpNullLast(a.position, b.position) ||
    cmpNullLast(a.instanceNumber, b.instanceNumber) ||
    (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0)
  );
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

/**
 * Indices of the 2·k + 1 slices z−k … z+k around slice `i` of a series of `n` slices, with the
 * nearest slice repeated past either end (as `BatchLoader.contextOf` does on a cache).
 */
export function contextIndices(i: number, n: number, k: number): number[] {
  const out: number[] = [];
  for (let d = -k; d <= k; d++) out.push(Math.min(n - 1, Math.max(0, i + d)));
  return out;
}
