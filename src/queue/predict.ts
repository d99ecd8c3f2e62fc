/**
 * `predict --queue`: one job per study, then their merge into the outputs a local `predict`
 * writes.
 *
 * The submitter lists the inputs and reads every file's header with predict's own scan, so the
 * rejects (unreadable, not CT, duplicate image ids) and the grouping into series and studies are
 * predict's. Each study job runs `predict` (the CLI's function) on its study's files, in the order
 * predict reads them, and publishes its JSON outputs with a manifest under STORE/work/<id>. The
 * merge puts the studies' rows back in the order a local predict produces them — slices and series
 * in series order, studies in order of their first predicted slice, rejects of the scan first and
 * then those of decoding in series order — and writes them with predict's own writer.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  PREDICT_FORMATS,
  type PredictFormat,
  type PredictOptions,
  predict,
  writePredictOutputs,
} from '../commands/predict.js';
import { ConfigError } from '../errors.js';
import { resolveInferenceConfig } from '../infer/config.js';
import type {
  GroupSummary,
  PredictFilesResult,
  PredictModelInput,
  Reject,
  SlicePrediction,
} from '../infer/predict.js';
import { scanInputs } from '../infer/predict.js';
import { startRuntime } from '../infer/runtimes.js';
import { groupSeries, groupStudies } from '../infer/series.js';
import { listFiles, writeFileAtomic } from '../util/files.js';
import type {
  FlowSpec,
  JobData,
  PredictJobOptions,
  PredictMergeData,
  PredictStudyData,
} from './jobs.js';
import { canonicalJson } from './jobs.js';
import { type JobContext, shardDir, withLocalDir } from './prepare-jobs.js';
import { checkPublished, type Manifest, publish, readManifest } from './publish.js';

/** A study job's own record beside predict's outputs: what the merge needs to order its rows. */
const STUDY_FILE = 'ichdet-study.json';

export type PredictFlowOptions = Omit<
  PredictOptions,
  'progress' | 'reporter' | 'runtimeInstance' | 'cam' | 'camLayer' | 'masks'
> & { cam?: string; camLayer?: string; masks?: string; signal?: AbortSignal };

/**
 * The predict's jobs: one per study under one merge. Reads every input's header (the submitter
 * needs the studies).
 *
 * @throws ConfigError for a bad option (predict's own messages); InputError for a missing model
 *   or input.
 */
export async function predictFlow(o: PredictFlowOptions): Promise<FlowSpec> {
  const format = (o.format ?? 'csv') as PredictFormat;
  if (!PREDICT_FORMATS.includes(format)) {
    throw new ConfigError(
      `--format must be one of ${PREDICT_FORMATS.join(', ')}, received "${o.format}"`,
    );
  }
  if (o.inputs.length === 0) throw new ConfigError('--input needs at least one file or folder');
  for (const [flag, v] of Object.entries({ cam: o.cam, 'cam-layer': o.camLayer, masks: o.masks })) {
    if (v !== undefined) throw new ConfigError(`--queue does not take --${flag}`);
  }
  const p: PredictJobOptions = {
    model: resolve(o.model),
    ...(o.tta !== undefined && { tta: o.tta }),
    ...(o.runtime !== undefined && { runtime: o.runtime }),
    ...(o.onnxBackend !== undefined && { onnxBackend: o.onnxBackend }),
    ...(o.threshold !== undefined && { threshold: o.threshold }),
    ...(o.seriesModel !== undefined && { seriesModel: resolve(o.seriesModel) }),
    ...(o.topK !== undefined && { topK: o.topK }),
    ...(o.workers !== undefined && { workers: o.workers }),
    ...(o.backend !== undefined && { backend: o.backend }),
  };
  // The options and the model card, checked here with predict's errors before anything is queued.
  resolveInferenceConfig(p);
  const inputs = o.inputs.map((f) => resolve(f));
  const files = await listFiles(inputs);
  const { slices, rejects } = scanInputs(
    files.map((path) => ({ path })),
    { keepBytes: 0, signal: o.signal },
  );
  const series = groupSeries(slices);
  const rank = new Map(series.map((s, i) => [s.seriesUid, i]));
  const studies = groupStudies(series);
  const parts = studies.map((st) => ({
    predict: p,
    study: st.studyUid,
    files: [] as string[],
    seriesOf: [] as number[],
  }));
  const where = new Map<string, { study: number; local: number }>();
  for (const [i, st] of studies.entries()) {
    for (const [j, s] of st.series.entries()) where.set(s.seriesUid, { study: i, local: j });
  }
  // Each study's files in scan order: predict reads them in the order a local predict does.
  for (const s of slices) {
    const w = where.get(s.seriesUid)!;
    parts[w.study]!.files.push(s.file);
    parts[w.study]!.seriesOf.push(w.local);
  }
  const keys = parts.map(studyKey);
  const merge: PredictMergeData = {
    predict: p,
    inputs,
    out: resolve(o.out),
    format,
    files: files.length,
    rejects,
    studies: keys,
    ranks: studies.map((st) => st.series.map((s) => rank.get(s.seriesUid)!)),
  };
  const flow = createHash('sha256').update(canonicalJson(merge)).digest('hex').slice(0, 20);
  const children: JobData[] = parts.map((d, i) => ({
    name: 'predict-study',
    data: { ...d, key: keys[i]!, flow },
  }));
  return { queue: 'predict', parent: { name: 'predict-merge', data: merge }, children };
}

/** A study's output key: its model, options and files (not the merge it serves). */
export function studyKey(d: Omit<PredictStudyData, 'key' | 'flow'>): string {
  const h = createHash('sha256')
    .update(
      canonicalJson({ predict: d.predict, study: d.study, files: d.files, seriesOf: d.seriesOf }),
    )
    .digest('hex');
  return `predict-study-${h.slice(0, 20)}`;
}

function predictArgs(p: PredictJobOptions): Omit<PredictOptions, 'inputs' | 'out'> {
  return { ...p, progress: false };
}

type StartedRuntime = Awaited<ReturnType<typeof startRuntime>>;

/**
 * The inference runtime of this job process, kept between study jobs of the same model and
 * settings (BullMQ reuses a sandboxed job process): a study does not pay for starting the model's
 * threads and loading its weights again. One is kept at a time; a model folder whose files
 * changed (size or time) starts a new one.
 */
let kept: { key: string; runtime: Promise<StartedRuntime> } | undefined;

async function keptRuntime(p: PredictJobOptions): Promise<StartedRuntime> {
  const c = resolveInferenceConfig(p);
  const stamp = readdirSync(c.dir)
    .sort()
    .map((f) => {
      const st = statSync(join(c.dir, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    });
  const key = canonicalJson({
    dir: c.dir,
    runtime: c.runtime,
    onnxBackend: c.onnxBackend,
    workers: c.workers,
    backend: c.backend,
    stamp,
  });
  if (kept?.key !== key) {
    const old = kept;
    kept = { key, runtime: startRuntime(c) };
    // A failed start is not kept: the next job tries again.
    kept.runtime.catch(() => {
      if (kept?.key === key) kept = undefined;
    });
    if (old) await (await old.runtime.catch(() => undefined))?.close();
  }
  return kept.runtime;
}

/**
 * Predicts one study's files locally (JSON outputs), then publishes them to STORE/work/<key>;
 * a study already published there (by this or another predict's job) is not predicted again.
 */
export async function runPredictStudy(d: PredictStudyData, c: JobContext): Promise<Manifest> {
  const target = shardDir(c.store, d.key);
  if (readManifest(target)?.job === d.key) {
    try {
      return checkPublished(target);
    } catch {
      // Not whole: predicted again below (publish refuses to replace it, and says why).
    }
  }
  return withLocalDir(async (local) => {
    const out = join(local, 'predict');
    const r = await predict({
      ...predictArgs(d.predict),
      inputs: d.files,
      out,
      format: 'json',
      runtimeInstance: await keptRuntime(d.predict),
      reporter: c.reporter,
      ...(c.signal && { signal: c.signal }),
    });
    await writeFileAtomic(
      join(out, STUDY_FILE),
      `${JSON.stringify({ study: d.study, files: d.files, seriesOf: d.seriesOf, input: r.input })}\n`,
    );
    return publish(out, target, d.key, {
      files: d.files.length,
      slices: r.slices.length,
      series: r.series.length,
      rejects: r.rejects.length,
    });
  });
}

interface StudyOutput {
  predictions: Omit<PredictFilesResult, 'input'>;
  record: { seriesModel: string | null; seriesModels: string[] | null };
  study: { files: string[]; seriesOf: number[]; input: PredictModelInput };
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** Sorts by rank, keeping the order of equal ranks. */
function byRank<T>(items: { item: T; rank: number }[]): T[] {
  return items
    .map((x, i) => ({ ...x, i }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((x) => x.item);
}

/**
 * The merged result: every study's rows in the order a local predict over all the inputs gives
 * them.
 */
export function mergeStudies(
  d: PredictMergeData,
  outputs: readonly StudyOutput[],
): PredictFilesResult {
  const slices: { item: SlicePrediction; rank: number }[] = [];
  const series: { item: GroupSummary; rank: number }[] = [];
  const studies: { item: GroupSummary; rank: number }[] = [];
  const decodeRejects: { item: Reject; rank: number }[] = [];
  let seconds = 0;
  for (const [i, o] of outputs.entries()) {
    const ranks = d.ranks[i]!;
    const fileRank = new Map(o.study.files.map((f, k) => [f, ranks[o.study.seriesOf[k]!]!]));
    const seriesRank = new Map<string, number>();
    for (const s of o.predictions.slices) {
      const rank = fileRank.get(s.file) ?? -1;
      seriesRank.set(s.seriesUid, rank);
      slices.push({ item: s, rank });
    }
    for (const g of o.predictions.series) {
      series.push({ item: g, rank: seriesRank.get(g.seriesUid ?? '') ?? -1 });
    }
    for (const g of o.predictions.studies) {
      const own = o.predictions.slices.filter((s) => s.studyUid === g.studyUid);
      studies.push({ item: g, rank: Math.min(...own.map((s) => seriesRank.get(s.seriesUid)!)) });
    }
    // A file the study job could not read at all is one the scan would have rejected: first.
    for (const r of o.predictions.rejects) {
      decodeRejects.push({ item: r, rank: fileRank.get(r.file) ?? -1 });
    }
    seconds += o.predictions.seconds;
  }
  const first = outputs[0]!;
  return {
    model: first.predictions.model,
    input: first.study.input,
    runtime: first.predictions.runtime,
    onnxBackend: first.predictions.onnxBackend,
    tta: first.predictions.tta,
    threshold: first.predictions.threshold,
    slices: byRank(slices),
    series: byRank(series),
    studies: byRank(studies),
    rejects: [...d.rejects, ...byRank(decodeRejects)],
    files: d.files,
    seconds,
  };
}

/**
 * Checks every study's published output against its manifest, merges them and publishes the
 * outputs at the predict's --out. Without any study (every file rejected) it is predict itself.
 */
export async function runPredictMerge(d: PredictMergeData, c: JobContext): Promise<Manifest> {
  return withLocalDir(async (local) => {
    const out = join(local, 'predict');
    if (d.studies.length === 0) {
      const r = await predict({
        ...predictArgs(d.predict),
        inputs: d.inputs,
        out,
        format: d.format,
      });
      return publish(out, d.out, c.id, {
        slices: r.slices.length,
        studies: 0,
        rejects: r.rejects.length,
      });
    }
    const outputs = d.studies.map((key): StudyOutput => {
      const dir = shardDir(c.store, key);
      checkPublished(dir);
      return {
        predictions: readJson(join(dir, 'predictions.json')),
        record: readJson(join(dir, 'predict.json')),
        study: readJson(join(dir, STUDY_FILE)),
      };
    });
    const r = mergeStudies(d, outputs);
    const record = outputs[0]!.record;
    await writePredictOutputs(out, d.format, r, {
      cams: [],
      camLayer: null,
      pointing: null,
      inputs: d.inputs,
      seriesModel: record.seriesModel,
      seriesModels: record.seriesModels,
      cam: null,
      masks: null,
    });
    return publish(out, d.out, c.id, {
      studies: r.studies.length,
      series: r.series.length,
      slices: r.slices.length,
      rejects: r.rejects.length,
    });
  });
}
