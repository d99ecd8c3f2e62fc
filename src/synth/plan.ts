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
import { ANY_INDEX } from '../labels.js';
import { Rng } from '../util/rng.js';
import type { SynthOptions } from './options.js';
import {
  buildPatient,
  type Patient,
  PRIOR_SLICES_PER_LESION,
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
  return buildPatient(
    opts.seed,
    p.index,
    p.kinds,
    opts.size,
    opts.slicesPerSeries,
    opts.difficulty,
  );
}

/** Plans patients one at a time (so rendering can start before planning ends). */
export class Planner {
  private readonly rates: number[];
  private readonly counts = [0, 0, 0, 0, 0, 0];
  // Running mean of labelled slices per lesion of each subtype, and per bleeding patient (any).
  private readonly sum = [...PRIOR_SLICES_PER_LESION, 7].map((x) => x * 3);
  private readonly num = [3, 3, 3, 3, 3, 3];
  private images = 0;
  private index = 0;
  private scratch: SliceImage | undefined;

  constructor(private readonly opts: PlanOptions) {
    const p = opts.prevalence;
    this.rates = [p.epidural, p.intraparenchymal, p.intraventricular, p.subarachnoid, p.subdural];
  }

  /** Images planned so far. */
  get totalImages(): number {
    return this.images;
  }

  /** Labelled images per subtype and `any` so far. */
  get expected(): number[] {
    return [...this.counts];
  }

  private mean(k: number): number {
    return (this.sum[k] ?? 0) / (this.num[k] ?? 1);
  }

  /** The next patient's plan, or undefined after the last one. */
  next(): PatientPlan | undefined {
    const { opts, counts } = this;
    if (this.index >= opts.patients) return undefined;
    const index = this.index++;
    const slices = sliceCount(opts.seed, index, opts.size, opts.slicesPerSeries, opts.difficulty);
    const firstImage = this.images;
    this.images += slices;
    const images = this.images;
    const rng = new Rng(opts.seed, index, STREAM.plan);
    const anyRate = opts.prevalence.any;
    const needAny = anyRate * images - (counts[ANY_INDEX] ?? 0);
    let kinds = 0;
    if (anyRate > 0 && needAny >= rng.uniform(0.25, 1) * this.mean(ANY_INDEX)) {
      let best = -1;
      let bestScore = -Infinity;
      for (let k = 0; k < SUBTYPES.length; k++) {
        const rate = this.rates[k] ?? 0;
        if (rate <= 0) continue;
        const score = (rate * images - (counts[k] ?? 0)) / this.mean(k);
        if (score >= rng.uniform(0.35, 1)) kinds |= 1 << k;
        if (score > bestScore) {
          bestScore = score;
          best = k;
        }
      }
      if (kinds === 0 && best >= 0) kinds = 1 << best;
    }
    const plan: PatientPlan = { index, kinds, firstImage, slices };
    if (kinds !== 0) this.observe(plan);
    return plan;
  }

  private observe(plan: PatientPlan): void {
    const patient = buildFromPlan(this.opts, plan);
    const { rows, cols } = patient.scanner;
    if (!this.scratch || this.scratch.rows !== rows || this.scratch.cols !== cols) {
      this.scratch = allocSlice(rows, cols);
    }
    const labels = patientLabels(patient, this.scratch);
    let anyCount = 0;
    for (const bits of labels) if (bits) anyCount++;
    this.add(5, anyCount);
    for (let k = 0; k < SUBTYPES.length; k++) {
      if (!(plan.kinds & (1 << k))) continue;
      let c = 0;
      for (const bits of labels) if (bits & (1 << k)) c++;
      this.add(k, c);
    }
  }

  private add(k: number, c: number): void {
    this.counts[k] = (this.counts[k] ?? 0) + c;
    this.sum[k] = (this.sum[k] ?? 0) + c;
    this.num[k] = (this.num[k] ?? 0) + 1;
  }
}

/**
 * Plans the whole dataset. `expected` is exact: label-only rendering gives the very labels the
 * full render writes, so this is also the fast label-only mode of the generator.
 */
export function planDataset(opts: PlanOptions): Plan {
  const planner = new Planner(opts);
  const patients: PatientPlan[] = [];
  for (let p = planner.next(); p; p = planner.next()) patients.push(p);
  return { patients, totalImages: planner.totalImages, expected: planner.expected };
}
