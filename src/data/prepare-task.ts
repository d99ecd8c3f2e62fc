/**
 * The pool task of `ichdet prepare` (see util/pool.ts): decodes a batch of files into cache
 * records. A file that fails is returned as a reject with its reason; the batch never throws
 * for one bad file. The records of the good files come back in one buffer, in batch order.
 */
import { join } from 'node:path';
import { readWindowedUint8 } from '../dicom/fastpath.js';
import { slicePosition } from '../dicom/geometry.js';
import type { HeaderAttributes } from '../dicom/header.js';
import type { WindowLevel } from '../dicom/window.js';
import { DicomError } from '../errors.js';
import { ReusableFileReader } from '../util/files.js';
import { imageIdOf } from './series.js';

export interface PrepareFile {
  /** Path relative to the images folder. */
  rel: string;
  /** Position in the whole sorted file list. */
  fileIndex: number;
  /** Slot in this cache (shard × recordsPerShard + record). */
  slot: number;
  /** Cached only as the neighbour of selected slices (`prepare --split`): a context row. */
  context?: true;
}

export interface PrepareBatch {
  images: string;
  files: PrepareFile[];
  windows: WindowLevel[];
  size: number;
  rsnaFix: boolean;
}

/** What the index keeps of a decoded file (labels, neighbours and position come later). */
export interface DecodedMeta {
  imageId: string;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  z: number | null;
  instanceNumber: number | null;
  rows: number;
  cols: number;
  pixelSpacing: [number, number] | null;
  slope: number;
  intercept: number;
  bitsStored: number;
  pixelRepresentation: number;
  rsnaFixApplied: boolean;
}

export type PrepareItem =
  | { file: PrepareFile; ok: true; meta: DecodedMeta }
  | { file: PrepareFile; ok: false; reason: string };

export interface PrepareBatchResult {
  items: PrepareItem[];
  /** Records of the ok items, in item order, recordBytes each. */
  records: Uint8Array;
}

/** What the index records of a file's attributes (prepare and index alike). */
export function metaOf(a: HeaderAttributes, rel: string): DecodedMeta {
  return {
    imageId: imageIdOf(a.sopInstanceUid, rel),
    patientId: a.patientId,
    studyUid: a.studyInstanceUid,
    seriesUid: a.seriesInstanceUid,
    z: slicePosition(a.imagePositionPatient, a.imageOrientationPatient),
    instanceNumber: a.instanceNumber ?? null,
    rows: a.rows,
    cols: a.cols,
    pixelSpacing: a.pixelSpacing ?? null,
    slope: a.rescaleSlope,
    intercept: a.rescaleIntercept,
    bitsStored: a.bitsStored,
    pixelRepresentation: a.pixelRepresentation,
    rsnaFixApplied: a.rsnaFixApplied,
  };
}

/** The reason a file is rejected: a DicomError's reason, else the error's name and message. */
export function rejectReason(err: unknown): string {
  return err instanceof DicomError
    ? err.reason
    : err instanceof Error
      ? `${err.name}: ${err.message}`
      : String(err);
}

/** One read buffer per worker, reused for every file: no 0.5 MB allocation (and GC) per slice. */
const reader = new ReusableFileReader();

export function runTask(batch: PrepareBatch): PrepareBatchResult {
  const c = batch.windows.length;
  const recordBytes = batch.size * batch.size * c;
  const buf = new Uint8Array(batch.files.length * recordBytes);
  const items: PrepareItem[] = [];
  let n = 0;
  const cfg = { windows: batch.windows, size: batch.size, rsnaFix: batch.rsnaFix, ctOnly: true };
  for (const file of batch.files) {
    const path = join(batch.images, file.rel);
    try {
      const bytes = reader.read(path);
      const out = buf.subarray(n * recordBytes, (n + 1) * recordBytes);
      const r = readWindowedUint8(bytes, path, cfg, out);
      if (r.image.data !== out) out.set(r.image.data);
      items.push({ file, ok: true, meta: metaOf(r.attributes, file.rel) });
      n++;
    } catch (err) {
      items.push({ file, ok: false, reason: rejectReason(err) });
    }
  }
  return { items, records: buf.subarray(0, n * recordBytes) };
}

/** The records buffer is moved to the main thread, not copied (see util/pool-worker.ts). */
export function transferList(result: PrepareBatchResult): ArrayBuffer[] {
  const b = result.records.buffer;
  return b instanceof ArrayBuffer ? [b] : [];
}
