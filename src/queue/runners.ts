/**
 * What each training job does, on the worker that took it: the same functions the CLI calls
 * (train, compare, cv), with outputs published on the store (publish.ts). Prepare jobs are in
 * prepare-jobs.ts, predict jobs in predict.ts.
 *
 *     OUT/runs/<arch>/        a compare's training runs, resumed from last/ after a lost worker
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, trainOptionsFor } from '../commands/compare.js';
import { CV_CONFIG_FILE, cv, foldTrainOptions } from '../commands/cv.js';
import { openRun } from '../run/run.js';
import { train } from '../train/train.js';
import { writeFileAtomic } from '../util/files.js';
import type { CompareReportData, CvFoldData, CvReportData, TrainArchData } from './jobs.js';
import { jobId } from './jobs.js';
import type { JobContext } from './prepare-jobs.js';
import { checkOutputOf, type Manifest, seal } from './publish.js';

/** A run's own folder left out of its manifest: the evaluation each report rewrites. */
const RUN_UNSEALED = ['eval'];

/**
 * Seals a finished run with its manifest (epochs configured and recorded; every file but eval/).
 */
async function sealRun(runDir: string, job: string): Promise<Manifest> {
  const run = openRun(runDir);
  const recorded = existsSync(run.metricsFile)
    ? readFileSync(run.metricsFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length
    : 0;
  return seal(runDir, job, { epochs: run.config().epochs, epochsRecorded: recorded }, RUN_UNSEALED);
}

export interface TrainArchResult {
  arch: string;
  run: string;
  /** Epochs already in the run's last/ when this attempt started (0: trained from scratch). */
  resumedFromEpoch: number;
  epochs: number;
}

/** Trains one architecture of a compare into OUT/runs/<arch>, from its last/ if it has one. */
export async function runTrainArch(d: TrainArchData, c: JobContext): Promise<TrainArchResult> {
  const { compare: o, arch } = d;
  const runDir = join(o.out, 'runs', arch);
  const run = openRun(runDir);
  const stateFile = join(run.checkpointDir('last'), 'state.json');
  const resumedFromEpoch = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { epoch: number }).epoch
    : 0;
  if (!run.finished()) {
    if (resumedFromEpoch > 0) c.reporter.log(`${arch}: resuming from epoch ${resumedFromEpoch}`);
    await train({
      ...trainOptionsFor(o, o.archs.length, arch, runDir),
      resume: run.exists(),
      progress: false,
      reporter: c.reporter,
      ...(c.signal && { signal: c.signal }),
    });
  }
  const result = { arch, run: runDir, resumedFromEpoch, epochs: run.config().epochs };
  await sealRun(runDir, c.id);
  await writeFileAtomic(
    join(o.out, 'jobs', `${c.id}.json`),
    `${JSON.stringify({ job: c.id, ...result }, null, 2)}\n`,
  );
  return result;
}

/** The compare itself, once every run is finished: it evaluates and writes the report. */
export async function runCompareReport(
  d: CompareReportData,
  c: JobContext,
): Promise<{ report: string; trained: string[] }> {
  // Every run must be whole, and the output of this compare's own training job.
  for (const arch of d.compare.archs) {
    await checkOutputOf(
      join(d.compare.out, 'runs', arch),
      jobId({ name: 'train-arch', data: { compare: d.compare, arch } }),
    );
  }
  const r = await compare({ ...d.compare, progress: false, log: (s) => c.reporter.log(s) });
  return { report: r.report, trained: r.trained };
}

/** Trains fold k of a cv into OUT/runs/fold<k>, from its last/ if it has one. */
export async function runCvFold(d: CvFoldData, c: JobContext): Promise<TrainArchResult> {
  const runDir = join(d.out, 'runs', `fold${d.k}`);
  const run = openRun(runDir);
  const stateFile = join(run.checkpointDir('last'), 'state.json');
  const resumedFromEpoch = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { epoch: number }).epoch
    : 0;
  if (!run.finished()) {
    await train({
      ...foldTrainOptions(d.cv, d.k, runDir),
      resume: run.exists(),
      progress: false,
      reporter: c.reporter,
      ...(c.signal && { signal: c.signal }),
    });
  }
  await sealRun(runDir, c.id);
  return { arch: d.cv.arch, run: runDir, resumedFromEpoch, epochs: run.config().epochs };
}

/** The cv itself once every fold is trained: it predicts out of fold and writes the features. */
export async function runCvReport(
  d: CvReportData,
  c: JobContext,
): Promise<{ features: string | null; oofImages: number }> {
  for (let k = 0; k < d.cv.folds; k++) {
    await checkOutputOf(
      join(d.out, 'runs', `fold${k}`),
      jobId({ name: 'cv-fold', data: { cv: d.cv, out: d.out, k } }),
    );
  }
  const config = join(d.out, CV_CONFIG_FILE);
  if (!existsSync(config)) await writeFileAtomic(config, `${JSON.stringify(d.cv, null, 2)}\n`);
  const r = await cv({
    out: d.out,
    resume: true,
    progress: false,
    reporter: c.reporter,
    log: (s) => c.reporter.log(s),
  });
  return { features: r.features, oofImages: r.oofImages };
}
