/**
 * Which patients bleed, and with which subtypes, so that per-image positive rates meet a target.
 *
 * Lesions span several slices and their labelled extent depends on geometry, so independent
 * patient-level draws would give rates that wander by ±30% on 10,000 images. Instead the planner
 * walks the patients in order and diffuses the error: patient i bleeds when the dataset so far is
 * short of `any` positives by a random fraction of a typical lesion's slice count, and gets the
 * subtypes that are most short. It then computes the patient's exact slice labels (label-only
 * rendering: lesion bounding boxes only, no noise, no files) and carries the counts on. The plan
 * depends only on the seed and the options, never on the number of workers.
 */
import { Rng } from '../util/rng.js';
import type { SynthOptions } from './options.js';
import {
  buildPatient,
  PRIOR_SLICES_PER_LESION,
  type Patient,
  STREAM,
  sliceCount,
} from './patient.js';
import { allocSlice, type SliceImage, SliceRenderer } from './render.js';
import { labelBits, minLesionPixels, SUBTYPES } from './subtypes.js';

export interface PatientPlan {
  index: number;
  /** Bit k set: the patient has a lesion of subtype k. */
  kinds: number;
  /** Global index of the patient's first image (images are numbered patient by patient). */
  firstImage: number;
  slices: number;
}

export interface Plan {
  patients: PatientPlan[];
  totalImages: number;
  /** Expected labelled images per subtype and `any` (from label-only rendering). */
  expected: number[];
}

export type PlanOptions = Pick<
  SynthOptions,
  'seed' | 'patients' | 'size' | 'slicesPerSeries' | 'prevalence' | 'difficulty'
>;

/** Slice labels (bit k = subtype k) of every slice of a patient, from label-only rendering. */
export function patientLabels(patient: Patient, scratch?: SliceImage): number[] {
  const r = new SliceRenderer(patient);
  const img =
    scratch && scratch.rows === r.rows && scratch.cols === r.cols
      ? scratch
      : allocSlice(r.rows, r.cols);
  const min = minLesionPixels(r.rows, r.cols);
  const out: number[] = [];
  for (let s = 0; s < patient.scanner.z.length; s++) {
    out.push(labelBits(r.labelAreas(s, img), min));
  }
  return out;
}

export function buildFromPlan(opts: PlanOptions, p: PatientPlan): Patient {
  return buildPatient(opts.seed, p.index, p.kinds, opts.size, opts.slicesPerSeries, opts.difficulty);
}

export function planDataset(opts: PlanOptions): Plan {
  const rates = [
    opts.prevalence.epidural,
    opts.prevalence.intraparenchymal,
    opts.prevalence.intraventricular,
    opts.prevalence.subarachnoid,
    opts.prevalence.subdural,
  ];
  const anyRate = opts.prevalence.any;
  const counts = [0, 0, 0, 0, 0, 0];
  // Running mean of labelled slices per lesion of each subtype, and per bleeding patient (any).
  const sum = [...PRIOR_SLICES_PER_LESION, 7].map((x) => x * 3);
  const num = [3, 3, 3, 3, 3, 3];
  const patients: PatientPlan[] = [];
  let images = 0;
  let scratch: SliceImage | undefined;
  for (let index = 0; index < opts.patients; index++) {
    const slices = sliceCount(opts.seed, index, opts.size, opts.slicesPerSeries, opts.difficulty);
    const firstImage = images;
    images += slices;
    const rng = new Rng(opts.seed, index, STREAM.plan);
    const mean = (k: number): number => (sum[k] ?? 0) / (num[k] ?? 1);
    const needAny = anyRate * images - (counts[5] ?? 0);
    let kinds = 0;
    if (anyRate > 0 && needAny >= rng.uniform(0.25, 1) * mean(5)) {
      let best = -1;
      let bestScore = -Infinity;
      for (let k = 0; k < SUBTYPES.length; k++) {
        const rate = rates[k] ?? 0;
        if (rate <= 0) continue;
        const need = rate * images - (counts[k] ?? 0);
        const score = need / mean(k);
        if (score >= rng.uniform(0.35, 1)) kinds |= 1 << k;
        if (score > bestScore) {
          bestScore = score;
          best = k;
        }
      }
      if (kinds === 0 && best >= 0) kinds = 1 << best;
    }
    const plan: PatientPlan = { index, kinds, firstImage, slices };
    patients.push(plan);
    if (kinds === 0) continue;
    const patient = buildFromPlan(opts, plan);
    if (!scratch || scratch.rows !== patient.scanner.rows || scratch.cols !== patient.scanner.cols) {
      scratch = allocSlice(patient.scanner.rows, patient.scanner.cols);
    }
    const labels = patientLabels(patient, scratch);
    let anyCount = 0;
    for (const bits of labels) if (bits) anyCount++;
    counts[5] = (counts[5] ?? 0) + anyCount;
    sum[5] = (sum[5] ?? 0) + anyCount;
    num[5] = (num[5] ?? 0) + 1;
    for (let k = 0; k < SUBTYPES.length; k++) {
      if (!(kinds & (1 << k))) continue;
      let c = 0;
      for (const bits of labels) if (bits & (1 << k)) c++;
      counts[k] = (counts[k] ?? 0) + c;
      sum[k] = (sum[k] ?? 0) + c;
      num[k] = (num[k] ?? 0) + 1;
    }
  }
  return { patients, totalImages: images, expected: counts };
}
