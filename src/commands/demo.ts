/**
 * `ichdet demo`: the whole study on a synthetic dataset ichdet generates itself — synth →
 * prepare → split by patient (60% train, 20% validation to pick checkpoints, 20% held-out test
 * to report on) → compare — sized to finish in under 20 minutes on a 2-core
 * machine without a GPU (`--quick`: two small architectures, under 5 minutes) — then the series
 * stage on the best architecture: a patient-fold split with the same test patients → `cv` →
 * `train-series` → stage 1, smoothed and stage 2 side by side in the report. Every step is
 * resumable: run it again after an interruption and finished steps are skipped. The synthetic
 * label masks give each model's Grad-CAM pointing game in the report.
 *
 * The scale is far below the reference study's (small images, few epochs, no ImageNet weights,
 * which need the network), so the numbers show the pipeline working and models learning, not
 * the reference's accuracy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { trainSeries } from '../series/train.js';
import { type CompareResult, compare, writeStudyReport } from './compare.js';
import { cv } from './cv.js';
import { seriesStage } from './evaluate-series.js';
import { prepare } from './prepare.js';
import { split } from './split.js';
import { synth } from './synth.js';

export interface DemoOptions {
  /** Output folder (default `ichdet-demo`). */
  out?: string;
  /** Two small architectures and fewer images (under 5 minutes). */
  quick?: boolean;
  /**
   * Patients to generate instead of the plan's (120; quick 60): fewer for a faster, noisier
   * study. Every other choice of the plan stays.
   */
  patients?: number;
  /** Worker threads (default: the number of cores). */
  workers?: number;
  seed?: number;
  /** Run the series stage on the best architecture (default true). */
  series?: boolean;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface DemoPlan {
  patients: number;
  slices: string;
  synthSize: number;
  cacheSize: number;
  /**
   * Per-image positive rate of each subtype (and of `any`): every subtype equally common and
   * half the images bleeding, so a few hundred training images hold enough of each lesion.
   */
  prevalence: {
    [k in
      | 'epidural'
      | 'intraparenchymal'
      | 'intraventricular'
      | 'subarachnoid'
      | 'subdural'
      | 'any']: number;
  };
  /** Crop each slice to the head before resizing (`prepare --crop`). */
  crop: 'none' | 'head';
  size: number;
  archs: string;
  epochs: number;
  batch: number;
  lr: number;
  lrSchedule: 'constant' | 'cosine';
  /** Validation and held-out test fractions of the images (grouped by patient). */
  val: number;
  test: number;
  /** Patient folds of the series stage's `cv`. */
  seriesFolds: number;
}

/** The sizes the demo uses (measured to fit its time budget on a 2-core VM). */
export function demoPlan(quick: boolean, patients?: number): DemoPlan {
  if (patients !== undefined && (!Number.isInteger(patients) || patients < 10)) {
    throw new ConfigError(
      `demo: patients must be an integer ≥ 10 (the split needs a few per part), received ${patients}`,
    );
  }
  const common = {
    slices: '16:20',
    prevalence: {
      epidural: 0.15,
      intraparenchymal: 0.15,
      intraventricular: 0.15,
      subarachnoid: 0.15,
      subdural: 0.15,
      any: 0.5,
    },
    synthSize: 128,
    cacheSize: 64,
    crop: 'head',
    size: 64,
    batch: 16,
    lr: 1e-3,
    lrSchedule: 'cosine',
    val: 0.12,
    test: 0.3,
    seriesFolds: 2,
  } as const;
  const plan: DemoPlan = quick
    ? { ...common, patients: 60, archs: 'mobilenet_v2,efficientnet_b0', epochs: 3 }
    : { ...common, patients: 120, archs: 'all', epochs: 2 };
  return patients === undefined ? plan : { ...plan, patients };
}

export interface DemoResult extends CompareResult {
  plan: DemoPlan;
  /** The series run of the best architecture (`OUT/series/<arch>`), or null without one. */
  seriesRun: string | null;
  seconds: number;
}

/**
 * The series model's options in the demo: small, for a few dozen series; the fold models'
 * logits standardised (`--fold-norm`), which took the full demo's stage 2 from −5.4% to −9.0%
 * against stage 1 (−8.5% with seeds 1 and 2; README, `train-series`).
 */
export const DEMO_SERIES = {
  epochs: 40,
  batch: 4,
  lr: 2e-3,
  c1: 16,
  c2: 16,
  gru: 8,
  foldNorm: true,
} as const;

export async function demo(o: DemoOptions = {}): Promise<DemoResult> {
  const start = performance.now();
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const out = resolve(o.out ?? 'ichdet-demo');
  const plan = demoPlan(o.quick === true, o.patients);
  const seed = o.seed ?? 0;
  const progress = o.progress !== false;
  const data = join(out, 'synth');
  const cache = join(out, 'cache');
  const splitCsv = join(out, 'split.csv');
  const workers = o.workers;
  const synthConfig = join(data, 'synth-config.json');
  if (existsSync(synthConfig)) {
    // Resuming: the data already there must be this plan's, or every later step would mix them.
    const had = (JSON.parse(readFileSync(synthConfig, 'utf8')) as { patients?: unknown }).patients;
    if (had !== plan.patients) {
      throw new ConfigError(
        `${synthConfig}: the demo folder holds ${String(had)} patients, this demo asks for ${plan.patients}; use another --out or the same --patients`,
      );
    }
  } else {
    log(`demo: generating ${plan.patients} synthetic patients in ${data}`);
    await synth({
      out: data,
      patients: plan.patients,
      size: plan.synthSize,
      slicesPerSeries: plan.slices,
      prevalence: { ...plan.prevalence },
      difficulty: 'realistic',
      seed,
      overwrite: true,
      progress,
      ...(workers !== undefined && { workers }),
    });
  }
  log(`demo: preparing the cache ${cache}`);
  await prepare({
    images: join(data, 'stage_2_train'),
    labels: join(data, 'stage_2_train.csv'),
    out: cache,
    size: plan.cacheSize,
    crop: plan.crop,
    progress,
    ...(workers !== undefined && { workers }),
  });
  if (!existsSync(splitCsv)) {
    log(`demo: splitting by patient into ${splitCsv} (train, val, held-out test)`);
    await split({ cache, out: splitCsv, val: plan.val, test: plan.test, seed });
  }
  const training = {
    epochs: plan.epochs,
    batch: plan.batch,
    lr: plan.lr,
    lrSchedule: plan.lrSchedule,
    weights: 'none',
    augment: 'hflip=0.5,vflip=0.1,crop=0.25',
    seed,
    checkpointMinutes: 2,
  } as const;
  const r = await compare({
    cache,
    split: splitCsv,
    archs: plan.archs,
    out: join(out, 'study'),
    size: plan.size,
    fitMinSize: true,
    ...training,
    bootstrap: 200,
    masks: join(data, 'masks'),
    title: `ichdet demo${o.quick ? ' (quick)' : ''}: synthetic head CT, ${plan.archs === 'all' ? 'eight' : 'two'} CNNs from scratch`,
    progress,
    log,
    ...(workers !== undefined && { workers }),
  });
  let seriesRun: string | null = null;
  const best = [...r.study.models].sort((a, b) => (b.meanAuc ?? 0) - (a.meanAuc ?? 0))[0];
  if (o.series !== false && best !== undefined) {
    // Same seed and test fraction: the same held-out test patients as split.csv.
    const foldsCsv = join(out, 'folds.csv');
    if (!existsSync(foldsCsv)) {
      log(`demo: series stage on ${best.title}: ${plan.seriesFolds} patient folds in ${foldsCsv}`);
      await split({ cache, out: foldsCsv, folds: plan.seriesFolds, test: plan.test, seed });
    }
    const cvOut = join(out, 'cv', best.arch);
    await cv({
      cache,
      split: foldsCsv,
      arch: best.arch,
      out: cvOut,
      resume: existsSync(join(cvOut, 'cv.json')),
      size: best.size,
      ...training,
      bootstrap: 200,
      progress,
      log,
      ...(workers !== undefined && { workers }),
    });
    seriesRun = join(out, 'series', best.arch);
    await trainSeries({
      features: join(cvOut, 'features'),
      out: seriesRun,
      ...DEMO_SERIES,
      seed,
      bootstrap: 200,
      progress,
      log,
    });
    r.study.series = [seriesStage(seriesRun, { bootstrap: 200, name: best.title })];
    await writeStudyReport(r.study, r.out);
  }
  return { ...r, plan, seriesRun, seconds: (performance.now() - start) / 1000 };
}
