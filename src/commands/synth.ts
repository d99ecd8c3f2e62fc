/**
 * `ichdet synth` as a library function: plans the dataset, renders the patients on a pool of
 * worker threads (one patient per task, so output never depends on the number of workers), and
 * writes the RSNA-shaped folder:
 *
 *   <out>/stage_2_train/ID_<9 hex>.dcm     one DICOM per slice
 *   <out>/stage_2_train.csv                ID,Label with 6 rows per image
 *   <out>/metadata.csv                     image, patient, study, series, z, slice index
 *   <out>/masks/ID_<9 hex>.png, README.txt label masks of positive slices
 *   <out>/faults.csv                       with --faults: the broken files added
 *   <out>/synth-config.json                the options, to reproduce the folder
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeSlice } from '../dicom/write.js';
import { ConfigError } from '../errors.js';
import {
  generatePatient,
  IMAGE_DIR,
  type ImageRow,
  MASK_DIR,
  type PatientJob,
  renderSlice,
} from '../synth/generate.js';
import { imageId, patientId, seriesId, studyId } from '../synth/ids.js';
import {
  resolveSynthOptions,
  type SynthOptions,
  type SynthOptionsInput,
} from '../synth/options.js';
import {
  FAULT_KINDS,
  type Fault,
  faultBytes,
  faultsCsv,
  MASK_README,
  metadataCsv,
  trainCsv,
} from '../synth/output.js';
import { sliceCount } from '../synth/patient.js';
import {
  buildFromPlan,
  type PatientPlan,
  type Plan,
  Planner,
  type PlanOptions,
  planDataset,
} from '../synth/plan.js';
import { type PreviewTile, pickPreviewTiles, renderPreview } from '../synth/preview.js';
import { allocSlice, SliceRenderer } from '../synth/render.js';
import { huToStored, sliceSpec } from '../synth/scanner.js';
import { LABELS, SUBTYPES } from '../synth/subtypes.js';
import { WorkerPool } from '../util/pool.js';
import { createProgress } from '../util/progress.js';

/** The worker task module, `.ts` when running from sources. */
function taskModuleUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`../synth/task.${ext}`, import.meta.url);
}

export interface SynthResult {
  out: string;
  options: SynthOptions;
  patients: number;
  /** Images written (valid DICOMs, faults not counted). */
  images: number;
  /** Positive images per label, in LABELS order (5 subtypes, then any). */
  positives: Record<(typeof LABELS)[number], number>;
  /** Positive rate per label. */
  rates: Record<(typeof LABELS)[number], number>;
  faults: Fault[];
  preview: { path: string; tiles: PreviewTile[] } | undefined;
  seconds: number;
  slicesPerSecond: number;
}

/** The options saved with the dataset: what determines its content (not paths or workers). */
export function savedConfig(o: SynthOptions): Record<string, unknown> {
  return {
    generator: 'ichdet synth',
    patients: o.patients,
    seed: o.seed,
    size: o.size,
    slicesPerSeries: `${o.slicesPerSeries[0]}:${o.slicesPerSeries[1]}`,
    prevalence: o.prevalenceName === 'custom' ? o.prevalence : o.prevalenceName,
    prevalenceRates: o.prevalence,
    difficulty: o.difficulty,
    duplicates: o.duplicates,
    faults: o.faults,
  };
}

function prepareOut(o: SynthOptions): string {
  const out = resolve(o.out);
  if (existsSync(out)) {
    const entries = readdirSync(out);
    if (entries.length > 0 && !o.overwrite) {
      throw new ConfigError(
        `--out must be an empty or new folder (or pass overwrite), received "${o.out}" with ${entries.length} entries`,
      );
    }
    for (const name of [
      IMAGE_DIR,
      MASK_DIR,
      'stage_2_train.csv',
      'metadata.csv',
      'faults.csv',
      'synth-config.json',
    ]) {
      rmSync(join(out, name), { recursive: true, force: true });
    }
  }
  mkdirSync(join(out, IMAGE_DIR), { recursive: true });
  mkdirSync(join(out, MASK_DIR), { recursive: true });
  return out;
}

/** Broken files of the kinds real archives hold, with fresh ids after the last image's. */
function writeFaults(o: SynthOptions, out: string, plan: Plan, rows: ImageRow[][]): Fault[] {
  const faults: Fault[] = [];
  if (o.faults === 0) return faults;
  // The truncated file is a real slice (a negative one of patient 0) under a new id, cut short.
  const p0 = plan.patients[0]!;
  const patient = buildFromPlan(o, p0);
  const slice = rows[0]?.find((r) => r.labels === 0)?.slice ?? 0;
  const { rows: h, cols: w } = patient.scanner;
  const img = allocSlice(h, w);
  renderSlice(patient, new SliceRenderer(patient), o.seed, slice, img, new Float32Array(h * w));
  for (let j = 0; j < o.faults; j++) {
    const kind = FAULT_KINDS[j % FAULT_KINDS.length]!;
    const id = imageId(o.seed, plan.totalImages + j);
    const valid = encodeSlice(
      sliceSpec(patient.scanner, slice, huToStored(img.hu, patient.scanner), {
        patientId: patientId(o.seed, 0),
        studyInstanceUid: studyId(o.seed, 0),
        seriesInstanceUid: seriesId(o.seed, 0),
        sopInstanceUid: id,
      }),
    );
    const { bytes, detail } = faultBytes(kind, valid);
    writeFileSync(join(out, IMAGE_DIR, `${id}.dcm`), bytes);
    faults.push({ id, kind, detail });
  }
  writeFileSync(join(out, 'faults.csv'), faultsCsv(faults));
  return faults;
}

/**
 * Generates a synthetic RSNA-shaped head-CT dataset. Same options (seed included) → byte-identical
 * folder, whatever the number of workers.
 *
 * @throws ConfigError for a bad option or a non-empty output folder.
 */
export async function synth(input: SynthOptionsInput): Promise<SynthResult> {
  const o = resolveSynthOptions(input);
  const start = performance.now();
  const out = prepareOut(o);
  const jobOpts: PlanOptions = {
    seed: o.seed,
    patients: o.patients,
    size: o.size,
    slicesPerSeries: o.slicesPerSeries,
    prevalence: o.prevalence,
    difficulty: o.difficulty,
  };
  const planner = new Planner(jobOpts);
  const plans: PatientPlan[] = [];
  let total = 0;
  for (let i = 0; i < o.patients; i++) {
    total += sliceCount(o.seed, i, o.size, o.slicesPerSeries, o.difficulty);
  }
  const bar = createProgress({ total, label: 'synth', unit: 'slices', enabled: o.progress });
  let rows: ImageRow[][];
  if (o.workers === 1) {
    // One worker: plan and render in this thread, no pool to start.
    const plan = planDataset(jobOpts);
    plans.push(...plan.patients);
    try {
      rows = plan.patients.map((p) => {
        const r = generatePatient({ opts: jobOpts, plan: p, out });
        bar.tick(r.length);
        return r;
      });
    } finally {
      bar.stop();
    }
  } else {
    // Workers start while the planner runs; each planned patient is queued at once.
    const pool = new WorkerPool({ taskModule: taskModuleUrl(), size: o.workers });
    pool.start();
    try {
      const pending: Promise<ImageRow[]>[] = [];
      for (let p = planner.next(); p; p = planner.next()) {
        plans.push(p);
        const job: PatientJob = { opts: jobOpts, plan: p, out };
        const promise = pool.run<PatientJob, ImageRow[]>(
          job,
          `patient ${p.index} (seed ${o.seed})`,
        );
        promise.then(
          (r) => bar.tick(r.length),
          () => {},
        );
        pending.push(promise);
        // Let finished workers pick up queued patients between two plans.
        await new Promise<void>((r) => setImmediate(r));
      }
      rows = await Promise.all(pending);
    } finally {
      bar.stop();
      await pool.close();
    }
  }
  const plan: Plan = {
    patients: plans,
    totalImages: plans.reduce((a, p) => a + p.slices, 0),
    expected: [],
  };
  const flat = rows.flat();
  const faults = writeFaults(o, out, plan, rows);
  const csvImages = [
    ...flat.map((r) => ({ id: r.id, labels: r.labels })),
    ...faults.map((f) => ({ id: f.id, labels: 0 })),
  ];
  writeFileSync(join(out, 'stage_2_train.csv'), trainCsv(csvImages, o.duplicates, o.seed));
  writeFileSync(join(out, 'metadata.csv'), metadataCsv(flat));
  writeFileSync(join(out, MASK_DIR, 'README.txt'), MASK_README);
  writeFileSync(join(out, 'synth-config.json'), `${JSON.stringify(savedConfig(o), null, 2)}\n`);
  let preview: SynthResult['preview'];
  if (o.preview) {
    const tiles = pickPreviewTiles(plan, o, rows);
    writeFileSync(o.preview, renderPreview(tiles, plan, o));
    preview = { path: o.preview, tiles };
  }
  const positives = Object.fromEntries(LABELS.map((l) => [l, 0])) as SynthResult['positives'];
  for (const r of flat) {
    for (let k = 0; k < SUBTYPES.length; k++) if ((r.labels >> k) & 1) positives[SUBTYPES[k]!]++;
    if (r.labels) positives.any++;
  }
  const rates = Object.fromEntries(
    LABELS.map((l) => [l, flat.length ? positives[l] / flat.length : 0]),
  ) as SynthResult['rates'];
  const seconds = (performance.now() - start) / 1000;
  return {
    out,
    options: o,
    patients: o.patients,
    images: flat.length,
    positives,
    rates,
    faults,
    preview,
    seconds,
    slicesPerSecond: seconds > 0 ? flat.length / seconds : 0,
  };
}
