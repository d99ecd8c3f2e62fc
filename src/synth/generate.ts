/**
 * Renders and writes one patient: a DICOM file per slice under `stage_2_train/`, a mask PNG per
 * positive slice under `masks/`, and returns the rows the dataset's CSV files need.
 * Runs inside pool workers (see `task.ts`) and, for previews and tests, in the main thread.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { encodeSlice } from '../dicom/write.js';
import { hashInts } from '../util/rng.js';
import { imageId, patientId, seriesId, studyId } from './ids.js';
import { addNoise, applyPsf } from './imaging.js';
import type { Patient } from './patient.js';
import { buildFromPlan, type PatientPlan, type PlanOptions } from './plan.js';
import { allocSlice, type SliceImage, SliceRenderer } from './render.js';
import { applyPadding, huToStored, sliceSpec } from './scanner.js';
import { labelBits, minLesionPixels } from './subtypes.js';

export const IMAGE_DIR = 'stage_2_train';
export const MASK_DIR = 'masks';

/** One written image, as the CSV files list it. */
export interface ImageRow {
  id: string;
  patientId: string;
  studyId: string;
  seriesId: string;
  /** ImagePositionPatient z, mm. */
  z: number;
  /** Index in the series, 0 = lowest (most inferior) slice. */
  slice: number;
  /** Label bits: bit k = subtype k. */
  labels: number;
  /** Mask area (pixels) of each subtype. */
  areas: number[];
  rows: number;
  cols: number;
}

export interface PatientJob {
  opts: PlanOptions;
  plan: PatientPlan;
  out: string;
}

/**
 * A mask as an 8-bit grayscale PNG. pngjs directly, with filter type 0 ("None"): masks are mostly
 * zeros, so per-row filter selection (the default, 5× slower) gains nothing.
 */
export function encodeMaskPng(mask: Uint8Array, rows: number, cols: number): Buffer {
  const png = new PNG({ width: cols, height: rows, colorType: 0, inputColorType: 0 });
  png.data = Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength);
  return PNG.sync.write(png, {
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
    filterType: 0,
    deflateLevel: 6,
  });
}

/** Seed of a slice's noise field. */
export function noiseSeed(seed: number, patient: number, slice: number): number {
  return hashInts(seed, patient, 0x6e6f6973, slice) | 1;
}

/** A fully rendered slice: HU blurred by the scanner's PSF, with noise and padding; class map and mask. */
export function renderSlice(
  patient: Patient,
  renderer: SliceRenderer,
  seed: number,
  slice: number,
  img: SliceImage,
  tmp: Float32Array,
): number[] {
  const areas = renderer.render(slice, img);
  const { rows, cols, spacing, psf } = patient.scanner;
  applyPsf(img.hu, rows, cols, psf / spacing, tmp);
  addNoise(img.hu, rows, cols, patient.anatomy.noise, noiseSeed(seed, patient.index, slice), tmp);
  applyPadding(img.hu, patient.scanner);
  return areas;
}

export function generatePatient(job: PatientJob): ImageRow[] {
  const { opts, plan, out } = job;
  const patient = buildFromPlan(opts, plan);
  const renderer = new SliceRenderer(patient);
  const { rows, cols } = patient.scanner;
  const img = allocSlice(rows, cols);
  const tmp = new Float32Array(rows * cols);
  const min = minLesionPixels(rows, cols);
  const ids = {
    patientId: patientId(opts.seed, plan.index),
    studyInstanceUid: studyId(opts.seed, plan.index),
    seriesInstanceUid: seriesId(opts.seed, plan.index),
  };
  const imageDir = join(out, IMAGE_DIR);
  const maskDir = join(out, MASK_DIR);
  const result: ImageRow[] = [];
  for (let s = 0; s < patient.scanner.z.length; s++) {
    const areas = renderSlice(patient, renderer, opts.seed, s, img, tmp);
    const labels = labelBits(areas, min);
    const id = imageId(opts.seed, plan.firstImage + s);
    const stored = huToStored(img.hu, patient.scanner);
    const bytes = encodeSlice(
      sliceSpec(patient.scanner, s, stored, { ...ids, sopInstanceUid: id }),
    );
    writeFileSync(join(imageDir, `${id}.dcm`), bytes);
    if (labels !== 0) {
      mkdirSync(maskDir, { recursive: true });
      writeFileSync(join(maskDir, `${id}.png`), encodeMaskPng(img.mask, rows, cols));
    }
    result.push({
      id,
      patientId: ids.patientId,
      studyId: ids.studyInstanceUid,
      seriesId: ids.seriesInstanceUid,
      z: patient.scanner.z[s] ?? 0,
      slice: s,
      labels,
      areas,
      rows,
      cols,
    });
  }
  return result;
}
