/**
 * The served folder of `ichdet view`: every file under it read once (header only), grouped into
 * studies, series and instances ordered along the slice normal; files that are not readable
 * DICOM are listed with their reason and skipped. Paths are confined to the folder: `resolveInside`
 * follows symlinks with realpath and refuses anything that ends outside it.
 */

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { DataSet } from 'dicom-parser';
import { compareSlices, imageIdOf } from '../data/series.js';
import { slicePosition } from '../dicom/geometry.js';
import { parseDicomBytes } from '../dicom/parse.js';
import { sliceAttributes } from '../dicom/read.js';

export interface ViewInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  imageId: string;
  /** Path relative to the served folder, `/`-separated. */
  file: string;
  instanceNumber: number | null;
  /** Position along the slice normal (mm); null when the file has no geometry. */
  position: number | null;
  rows: number;
  cols: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  pixelSpacing: [number, number] | null;
  imagePositionPatient: [number, number, number] | null;
  imageOrientationPatient: number[] | null;
  transferSyntaxUid: string;
}

export interface ViewSeries {
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: number | null;
  description: string;
  instances: ViewInstance[];
}

export interface ViewStudy {
  studyInstanceUid: string;
  patientId: string;
  patientName: string;
  studyDate: string;
  accession: string;
  description: string;
  series: ViewSeries[];
}

export interface Unreadable {
  file: string;
  reason: string;
}

export interface FolderIndex {
  root: string;
  studies: ViewStudy[];
  unreadable: Unreadable[];
}

/**
 * The real path of `rel` inside `root` (itself a real path), or null when it does not exist or
 * leaves the folder: `..` segments, absolute paths and symlinks pointing outside all give null.
 */
export async function resolveInside(root: string, rel: string): Promise<string | null> {
  if (rel.includes('\0')) return null;
  let real: string;
  try {
    real = await realpath(join(root, rel));
  } catch {
    return null;
  }
  return real === root || real.startsWith(root + sep) ? real : null;
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const real = await resolveInside(root, relative(root, join(dir, e.name)));
    if (real === null) continue;
    const s = await stat(real);
    if (s.isDirectory()) await walk(root, join(dir, e.name), out);
    else if (s.isFile()) out.push(join(dir, e.name));
  }
}

/** Files that sit beside DICOM in ichdet folders (labels, masks, heatmaps, models) and are never tried. */
const NOT_DICOM = /\.(csv|png|npy|json|txt|md|onnx|html|bin)$/i;

/** Reads every file under `root` (a real path) into studies → series → instances. */
export async function indexFolder(root: string): Promise<FolderIndex> {
  const files: string[] = [];
  await walk(root, root, files);
  const studies = new Map<string, ViewStudy>();
  const series = new Map<string, ViewSeries>();
  const unreadable: Unreadable[] = [];
  for (const file of files) {
    const rel = relative(root, file).split(sep).join('/');
    if (NOT_DICOM.test(rel)) continue;
    let a: ReturnType<typeof sliceAttributes> & {
      rows: number;
      cols: number;
      extra: Record<string, string>;
    };
    try {
      const parsed = parseDicomBytes(await readFile(file), rel);
      const ds = parsed.dataSet;
      a = {
        ...sliceAttributes(parsed),
        rows: ds.uint16('x00280010') ?? 0,
        cols: ds.uint16('x00280011') ?? 0,
        extra: describe(ds),
      };
    } catch (err) {
      unreadable.push({ file: rel, reason: (err as Error).message });
      continue;
    }
    if (a.studyInstanceUid === '' || a.seriesInstanceUid === '' || !a.rows || !a.cols) {
      unreadable.push({
        file: rel,
        reason: `${rel}: not an image with StudyInstanceUID, SeriesInstanceUID, Rows and Columns`,
      });
      continue;
    }
    let st = studies.get(a.studyInstanceUid);
    if (!st) {
      st = {
        studyInstanceUid: a.studyInstanceUid,
        patientId: a.patientId,
        patientName: a.extra.patientName ?? '',
        studyDate: a.extra.studyDate ?? '',
        accession: a.extra.accession ?? '',
        description: a.extra.studyDescription ?? '',
        series: [],
      };
      studies.set(a.studyInstanceUid, st);
    }
    let se = series.get(a.seriesInstanceUid);
    if (!se) {
      se = {
        seriesInstanceUid: a.seriesInstanceUid,
        modality: a.modality,
        seriesNumber: numOrNull(a.extra.seriesNumber),
        description: a.extra.seriesDescription ?? '',
        instances: [],
      };
      series.set(a.seriesInstanceUid, se);
      st.series.push(se);
    }
    const ipp = a.imagePositionPatient;
    se.instances.push({
      sopInstanceUid: a.sopInstanceUid,
      sopClassUid: a.extra.sopClassUid ?? '',
      imageId: imageIdOf(a.sopInstanceUid, rel),
      file: rel,
      instanceNumber: a.instanceNumber ?? null,
      position: slicePosition(ipp, a.imageOrientationPatient),
      rows: a.rows,
      cols: a.cols,
      rescaleSlope: a.rescaleSlope,
      rescaleIntercept: a.rescaleIntercept,
      bitsAllocated: a.bitsAllocated,
      bitsStored: a.bitsStored,
      pixelRepresentation: a.pixelRepresentation,
      pixelSpacing: a.pixelSpacing ?? null,
      imagePositionPatient: ipp ?? null,
      imageOrientationPatient: a.imageOrientationPatient ?? null,
      transferSyntaxUid: a.transferSyntaxUid,
    });
  }
  for (const se of series.values()) {
    se.instances.sort(compareSlices);
  }
  return { root, studies: [...studies.values()], unreadable };
}

function numOrNull(s: string | undefined): number | null {
  const v = s === undefined ? Number.NaN : Number.parseFloat(s);
  return Number.isFinite(v) ? v : null;
}

/** The descriptive attributes a worklist shows (not in SliceAttributes). */
function describe(ds: DataSet): Record<string, string> {
  const get = (tag: string): string => (ds.string(tag) ?? '').replace(/\0/g, '').trim();
  return {
    patientName: get('x00100010'),
    studyDate: get('x00080020'),
    accession: get('x00080050'),
    studyDescription: get('x00081030'),
    seriesDescription: get('x0008103e'),
    seriesNumber: get('x00200011'),
    sopClassUid: get('x00080016'),
  };
}
