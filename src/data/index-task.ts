/**
 * The pool task of `ichdet index` (see util/pool.ts): reads the headers of a batch of files
 * (dicom/header.ts) and returns what the cache's index would record of each, or the reason
 * `prepare` would reject it. A bad file never fails the batch.
 */
import { join } from 'node:path';
import { HeaderReader } from '../dicom/header.js';
import { type DecodedMeta, metaOf, rejectReason } from './prepare-task.js';

export interface IndexFile {
  /** Path relative to the images folder. */
  rel: string;
  /** Position in the sorted file list. */
  fileIndex: number;
}

export interface IndexBatch {
  images: string;
  files: IndexFile[];
  rsnaFix: boolean;
}

export type IndexItem =
  | { file: IndexFile; ok: true; meta: DecodedMeta }
  | { file: IndexFile; ok: false; reason: string };

export interface IndexBatchResult {
  items: IndexItem[];
  /** Bytes read from disk for this batch. */
  bytesRead: number;
}

/** One prefix buffer per worker. */
const reader = new HeaderReader();

export function runTask(batch: IndexBatch): IndexBatchResult {
  const before = reader.bytesRead;
  const items: IndexItem[] = [];
  const opts = { rsnaFix: batch.rsnaFix };
  for (const file of batch.files) {
    try {
      const a = reader.read(join(batch.images, file.rel), opts);
      items.push({ file, ok: true, meta: metaOf(a, file.rel) });
    } catch (err) {
      items.push({ file, ok: false, reason: rejectReason(err) });
    }
  }
  return { items, bytesRead: reader.bytesRead - before };
}
