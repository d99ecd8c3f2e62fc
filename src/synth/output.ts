/**
 * The dataset's text files: `stage_2_train.csv` in the exact RSNA format, `metadata.csv`,
 * `masks/README.txt`, `faults.csv`, and the broken files `--faults` adds.
 */
import { Rng } from '../util/rng.js';
import type { ImageRow } from './generate.js';
import { LABELS, MIN_LESION_PIXELS_512, SUBTYPES } from './subtypes.js';

/** The six CSV rows of one image: `ID_<hex>_<label>,<0|1>` in RSNA order, `any` last. */
export function csvRowsOf(id: string, labels: number): string[] {
  return LABELS.map((name, k) => {
    const v = k < SUBTYPES.length ? (labels >> k) & 1 : labels !== 0 ? 1 : 0;
    return `${id}_${name},${v}`;
  });
}

/**
 * `stage_2_train.csv`: header `ID,Label`, images sorted by id, 6 rows each; `duplicates` images
 * (chosen by the seed) have their 6 rows repeated right after the originals, as in the real CSV.
 */
export function trainCsv(
  images: readonly { id: string; labels: number }[],
  duplicates: number,
  seed: number,
): string {
  const sorted = [...images].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const dup = new Set<number>();
  const rng = new Rng(seed, 0x647570);
  const k = Math.min(duplicates, sorted.length);
  // Partial Fisher-Yates: the first k of a seeded permutation.
  const order = sorted.map((_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = rng.int(i, order.length - 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
    dup.add(order[i]!);
  }
  const lines = ['ID,Label'];
  sorted.forEach((img, i) => {
    const rows = csvRowsOf(img.id, img.labels);
    lines.push(...rows);
    if (dup.has(i)) lines.push(...rows);
  });
  return `${lines.join('\n')}\n`;
}

/** `metadata.csv`: one row per image, patient by patient, slices bottom to top. */
export function metadataCsv(rows: readonly ImageRow[]): string {
  const lines = ['ID,PatientID,StudyInstanceUID,SeriesInstanceUID,PositionZ,SliceIndex'];
  for (const r of rows) {
    lines.push(`${r.id},${r.patientId},${r.studyId},${r.seriesId},${r.z},${r.slice}`);
  }
  return `${lines.join('\n')}\n`;
}

export const MASK_README = `Label masks of ichdet synth
===========================

One 8-bit grayscale PNG per positive slice, named like its DICOM (ID_<hex>.png), at the
image's resolution (rows x columns). Each pixel value is a bit mask of the haemorrhage
subtypes present at that pixel:

  bit 0 (value  1)  epidural
  bit 1 (value  2)  intraparenchymal
  bit 2 (value  4)  intraventricular
  bit 3 (value  8)  subarachnoid
  bit 4 (value 16)  subdural

so a pixel of value 10 holds intraparenchymal and subarachnoid blood. 0 is no blood.

A slice is labelled positive for a subtype in stage_2_train.csv exactly when that
subtype's mask covers at least ${MIN_LESION_PIXELS_512} pixels on a 512 x 512 slice
(the minimum scales with the image area: round(${MIN_LESION_PIXELS_512} * rows * cols / 512^2),
never below 4). A mask may therefore hold a few pixels of a subtype whose label is 0.
"any" is 1 exactly when one of the five subtypes is 1. Slices with no positive label have
no mask file.
`;

export type FaultKind = 'truncated' | 'not-dicom' | 'empty';
export const FAULT_KINDS: readonly FaultKind[] = ['truncated', 'not-dicom', 'empty'];

export interface Fault {
  id: string;
  kind: FaultKind;
  detail: string;
}

/** The bytes of a broken file of `kind`; `valid` is a complete DICOM to cut for 'truncated'. */
export function faultBytes(
  kind: FaultKind,
  valid: Uint8Array,
): { bytes: Uint8Array; detail: string } {
  if (kind === 'truncated') {
    const cut = Math.floor(valid.length * 0.6);
    return {
      bytes: valid.slice(0, cut),
      detail: `pixel data truncated: file cut at byte ${cut} of ${valid.length}`,
    };
  }
  if (kind === 'not-dicom') {
    const text = 'This is not a DICOM file: an export log saved with a .dcm name.\n';
    return { bytes: new TextEncoder().encode(text), detail: 'plain text with a .dcm name' };
  }
  return { bytes: new Uint8Array(0), detail: 'empty file (0 bytes)' };
}

export function faultsCsv(faults: readonly Fault[]): string {
  const lines = ['ID,Kind,Detail', ...faults.map((f) => `${f.id},${f.kind},"${f.detail}"`)];
  return `${lines.join('\n')}\n`;
}
