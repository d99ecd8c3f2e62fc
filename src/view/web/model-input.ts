/**
 * The model's input of a series, built in the browser with the same code `ichdet predict` runs
 * in Node: HU with the RSNA fix (dicom/hu.ts), the model's windows resized to its cache size and
 * quantised to 8 bits after the card's crop to the head (dicom/preprocess.ts, equal to the fast path predict reads), then 2.5D
 * context, resizing to the input size and the input scaling (data/input.ts). Pure, no DOM.
 */

import { inputFromRecords } from '../../data/input.js';
import { contextIndices } from '../../data/series.js';
import { storedToHu } from '../../dicom/hu.js';
import { windowedImageUint8 } from '../../dicom/preprocess.js';
import type { CtSlice } from '../../dicom/slice.js';
import type { WindowLevel } from '../../dicom/window.js';
import type { Preprocessing } from '../../models/registry.js';

/** The ichdet metadata of an exported model that says how to feed it. */
export interface ModelCardLite {
  size: number;
  context: 0 | 1 | 2;
  preprocessing: Preprocessing;
  cacheChannels: number;
  cacheSize: number;
  windows: WindowLevel[];
  rsnaFix?: boolean;
  /** `head`: crop each slice to the square around the head before resizing (default none). */
  crop?: 'none' | 'head';
}

export interface StoredSlice {
  stored: ArrayLike<number>;
  rows: number;
  cols: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
}

/** n × size × size × channels float32 (NHWC) for the slices of one series, in order. */
export function seriesInput(slices: readonly StoredSlice[], card: ModelCardLite): Float32Array {
  const records = slices.map((s) => {
    const { hu } = storedToHu(s.stored, s, { rsnaFix: card.rsnaFix ?? true });
    const slice = { hu, rows: s.rows, cols: s.cols } as CtSlice;
    return windowedImageUint8(slice, {
      windows: card.windows,
      size: card.cacheSize,
      crop: card.crop ?? 'none',
    }).data;
  });
  const examples = records.map((_, k) =>
    contextIndices(k, records.length, card.context).map((j) => records[j]!),
  );
  return inputFromRecords(
    examples,
    { size: card.cacheSize, channels: card.cacheChannels },
    { size: card.size, context: card.context, preprocessing: card.preprocessing },
    null,
  );
}
