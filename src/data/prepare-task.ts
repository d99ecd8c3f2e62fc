/**
 * The pool task of `ichdet prepare` (see util/pool.ts): decodes a batch of files into cache
 * records and writes each good file's record at its slot in the shard files (pwrite into the
 * page cache; the main thread fdatasyncs before it indexes them, see data/prepare.ts). A file
 * that fails is returned as a reject with its reason; the batch never throws for one bad file.
 *
 * Writing here rather than on the main thread keeps the records off the message channel and
 * lets each worker reuse one record buffer: a fresh buffer per batch, moved to the main thread,
 * cost as much CPU in first-touch page faults as the decoding itself, and the main thread's
 * writes were serial.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CodecsNotLoadedError } from '../dicom/codecs.js';
import { readWindowedUint8 } from '../dicom/fastpath.js';
import { slicePosition } from '../dicom/geometry.js';
import type { HeaderAttributes } from '../dicom/header.js';
import type { CropMode } from '../dicom/preprocess.js';
import { withCodecs } from '../dicom/read.js';
import type { WindowLevel } from '../dicom/window.js';
import { DicomError } from '../errors.js';
import { ReusableFileReader } from '../util/files.js';
import { imageIdOf } from './series.js';
import { locateSlot, shardPath } from './shards.js';

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
  /** The cache folder; its shard files exist (the main thread creates them first). */
  out: string;
  recordsPerShard: number;
  files: PrepareFile[];
  windows: WindowLevel[];
  size: number;
  rsnaFix: boolean;
  crop: CropMode;
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
  /** In batch order; the record of every ok item is written at its slot. */
  items: PrepareItem[];
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
/** One record buffer per worker, reused likewise. */
let record = new Uint8Array(0);

export async function runTask(batch: PrepareBatch): Promise<PrepareBatchResult> {
  const c = batch.windows.length;
  const recordBytes = batch.size * batch.size * c;
  if (record.length !== recordBytes) record = new Uint8Array(recordBytes);
  const out = record;
  const items: PrepareItem[] = [];
  const cfg = {
    windows: batch.windows,
    size: batch.size,
    rsnaFix: batch.rsnaFix,
    crop: batch.crop,
    ctOnly: true,
  };
  // Opened per batch and closed in `finally`: a worker thread's descriptors outlive it.
  const fds = new Map<number, number>();
  const fdOf = (shard: number) => {
    let fd = fds.get(shard);
    if (fd === undefined) {
      fd = openSync(shardPath(batch.out, shard), 'r+');
      fds.set(shard, fd);
    }
    return fd;
  };
  try {
    for (const file of batch.files) {
      // The first compressed file this thread meets loads the codecs and is decoded again.
      const item = await withCodecs(() => decodeOne(batch, file, cfg, out));
      if (item.ok) {
        const { shard, record: at } = locateSlot(file.slot, batch.recordsPerShard);
        writeAll(fdOf(shard), out, at * recordBytes);
      }
      items.push(item);
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return { items };
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}

/**
 * One file into `out` (its record), or the reason it is rejected; throws `CodecsNotLoadedError`
 * when its pixel data is compressed and this thread has not loaded the codecs yet.
 */
function decodeOne(
  batch: PrepareBatch,
  file: PrepareFile,
  cfg: {
    windows: WindowLevel[];
    size: number;
    rsnaFix: boolean;
    crop: CropMode;
    ctOnly: boolean;
  },
  out: Uint8Array,
): PrepareItem {
  const path = join(batch.images, file.rel);
  try {
    const bytes = reader.read(path);
    const r = readWindowedUint8(bytes, path, cfg, out);
    if (r.image.data !== out) out.set(r.image.data);
    return { file, ok: true, meta: metaOf(r.attributes, file.rel) };
  } catch (err) {
    if (err instanceof CodecsNotLoadedError) throw err;
    return { file, ok: false, reason: rejectReason(err) };
  }
}
