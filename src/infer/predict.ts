/**
 * Predicting new DICOM studies with a saved ichdet model. Every file is checked first (readable
 * DICOM, a single-frame grayscale CT image); the bad ones are set aside with their reason. The
 * rest are grouped into series (infer/series.ts) and, series by series, decoded exactly as
 * `prepare` builds a cache — HU with the RSNA fix, the model's windows, resized to its cache
 * size and quantised to 8 bits (`readWindowedUint8`) — then stacked with their 2.5D neighbours,
 * resized to the input size and scaled as in training (`inputFromRecords`, the code
 * `BatchLoader` runs), so a slice gets the probabilities `evaluate` computes from a cache.
 *
 * The model runs behind a small `InferenceRuntime` interface; `tfjs` (the training engine's model
 * workers, one per core) is the one built here. Decoding the next series overlaps the model's
 * work on the previous ones.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { LABEL_NAMES } from '../data/types.js';
import { readWindowedUint8 } from '../dicom/fastpath.js';
import { parseDicomBytes } from '../dicom/parse.js';
import { ctSliceLayout, sliceAttributes } from '../dicom/read.js';
import type { WindowLevel } from '../dicom/window.js';
import { ConfigError, DicomError } from '../errors.js';
import type { BackendChoice } from '../train/config.js';
import { inputFromRecords } from '../train/data.js';
import {
  type ModelInput,
  modelInput,
  startPredictor,
  TTA_MODES,
  type TtaMode,
} from '../train/predict.js';
import { modelDir } from '../train/train.js';
import { listFiles, ReusableFileReader } from '../util/files.js';
import { createProgress } from '../util/progress.js';
import { exportRunToOnnx } from './onnx-export.js';
import {
  type OnnxBackend,
  type OnnxBackendChoice,
  OnnxModel,
  parseOnnxBackend,
} from './onnx-runtime.js';
import { contextIndices, groupSeries, type SliceRef, sliceRef } from './series.js';

/** What runs a model: probabilities (n × 6, row-major) of n preprocessed inputs (NHWC). */
export interface InferenceRuntime {
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export const RUNTIMES = ['tfjs', 'onnx'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** Everything a saved model says about its input, with the cache-side preprocessing. */
export interface PredictModelInput extends ModelInput {
  cacheSize: number;
  rsnaFix: boolean;
}

/** The model metadata `predict` needs; ConfigError names what a model lacks. */
export function predictModelInput(dir: string): PredictModelInput {
  const m = modelInput(dir) as PredictModelInput;
  for (const k of ['cacheSize', 'windows', 'cacheChannels'] as const) {
    if (m[k] === undefined) {
      throw new ConfigError(
        `${dir}/model.json has no ichdet metadata "${k}"; was it saved by ichdet train?`,
      );
    }
  }
  return { ...m, rsnaFix: m.rsnaFix ?? true };
}

export interface TfjsRuntimeOptions {
  workers: number;
  backend?: BackendChoice;
  /** Examples per forward pass in a worker (default 16). */
  micro?: number;
}

/**
 * ONNX Runtime (`backend`: native onnxruntime-node, wasm onnxruntime-web, or auto; `threads`
 * intra-op threads): `DIR/model.onnx` when the model folder has one (`ichdet export-onnx RUN
 * --out RUN/best/model.onnx`), else the model is exported to a temporary file first.
 */
export async function onnxRuntime(
  dir: string,
  threads: number,
  backend: OnnxBackendChoice = 'auto',
): Promise<InferenceRuntime & { backend: OnnxBackend }> {
  let file = join(dir, 'model.onnx');
  let tmp: string | undefined;
  if (!existsSync(file)) {
    tmp = mkdtempSync(join(tmpdir(), 'ichdet-onnx-'));
    file = join(tmp, 'model.onnx');
    await exportRunToOnnx(dir, file);
  }
  let model: OnnxModel;
  try {
    model = await OnnxModel.load(file, { threads, backend });
  } catch (err) {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return {
    backend: model.backend,
    predict: (x: Float32Array, n: number) => model.run(x, n),
    async close() {
      await model.close();
      if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** The tfjs runtime: the saved model loaded in `workers` model workers, each input split among them. */
export function tfjsRuntime(dir: string, o: TfjsRuntimeOptions): Promise<InferenceRuntime> {
  return startPredictor(dir, o);
}

/** A file left out, and why. */
export interface Reject {
  file: string;
  reason: string;
}

export interface SlicePrediction {
  file: string;
  imageId: string;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  /** Index in the series (0 = lowest position along the normal). */
  index: number;
  position: number | null;
  /** Six probabilities in LABEL_NAMES order. */
  p: number[];
}

/** Per series or study: `any` is the maximum over its slices. */
export interface GroupSummary {
  studyUid: string;
  /** Null for a study summary. */
  seriesUid: string | null;
  patientId: string;
  slices: number;
  /** Maximum probability over the slices, per label (LABEL_NAMES order). */
  max: number[];
  any: number;
  /** Whether `any` reaches the threshold. */
  flag: boolean;
  /** The slices most likely positive (by `any`, highest first). */
  top: { imageId: string; any: number }[];
}

export interface ThresholdChoice {
  value: number;
  /** `option`, the metrics file it came from, or `default`. */
  source: string;
}

export interface PredictFilesOptions {
  /** A run folder (its `best/` model is used) or a model folder. */
  model: string;
  inputs: string[];
  runtime?: RuntimeName;
  /** ONNX Runtime build for `runtime: 'onnx'` (default auto: native when installed, else wasm). */
  onnxBackend?: OnnxBackendChoice | string;
  tta?: TtaMode | string;
  /** Flag threshold on `any`; default the run's triage threshold, else 0.5. */
  threshold?: number;
  /** Top slices listed per series and study (default 3). */
  topK?: number;
  workers?: number;
  backend?: BackendChoice;
  progress?: boolean;
  /** Series are decoded and sent to the model in groups of at least this many slices (default 64). */
  chunk?: number;
  /** An already started runtime (tests, benchmarks); not closed by predictFiles. */
  runtimeInstance?: InferenceRuntime;
  /**
   * Called per predicted series with its model inputs (plain, no TTA) and probabilities, before
   * its records are dropped (Grad-CAM uses it).
   */
  onSeries?: (s: PredictedSeries) => Promise<void> | void;
}

/** A predicted series as `onSeries` sees it. */
export interface PredictedSeries {
  slices: SliceRef[];
  /** Model inputs n × size × size × channels. */
  x: Float32Array;
  /** Probabilities n × 6. */
  p: Float32Array;
  bytes: Uint8Array[];
}

export interface PredictFilesResult {
  model: string;
  input: PredictModelInput;
  runtime: RuntimeName;
  /** The ONNX Runtime build used (null for tfjs or a runtime passed in). */
  onnxBackend: OnnxBackend | null;
  tta: TtaMode;
  threshold: ThresholdChoice;
  slices: SlicePrediction[];
  series: GroupSummary[];
  studies: GroupSummary[];
  rejects: Reject[];
  files: number;
  seconds: number;
}

/**
 * The flag threshold: `explicit` when given; else the `any` triage threshold of the run's
 * `eval/metrics.json` when that evaluation was of this very model; else 0.5.
 */
export function resolveThreshold(dir: string, explicit?: number): ThresholdChoice {
  if (explicit !== undefined) {
    if (!(explicit >= 0 && explicit <= 1)) {
      throw new ConfigError(`--threshold must be in [0, 1], received ${explicit}`);
    }
    return { value: explicit, source: 'option' };
  }
  const file = join(dirname(resolve(dir)), 'eval', 'metrics.json');
  if (existsSync(file)) {
    try {
      const m = JSON.parse(readFileSync(file, 'utf8')) as {
        model?: string;
        metrics?: { labels?: { any?: { triage?: { threshold?: number } | null } } };
      };
      const t = m.metrics?.labels?.any?.triage?.threshold;
      if (
        typeof t === 'number' &&
        Number.isFinite(t) &&
        (m.model === undefined || resolve(m.model) === resolve(dir))
      ) {
        return { value: t, source: file };
      }
    } catch {
      // An unreadable metrics file: fall back to the default.
    }
  }
  return { value: 0.5, source: 'default' };
}

function reasonOf(err: unknown): string {
  if (err instanceof DicomError) return err.reason;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Reads and checks one file's header: a SliceRef, or the reason it cannot be predicted. */
export function scanFile(
  file: string,
  bytes: Uint8Array,
): { ok: true; slice: SliceRef } | { ok: false; reason: string } {
  try {
    const parsed = parseDicomBytes(bytes, file);
    const a = sliceAttributes(parsed);
    const layout = ctSliceLayout(parsed.dataSet, a, file);
    if (a.modality !== '' && a.modality !== 'CT') {
      return { ok: false, reason: `not a CT slice: Modality ${a.modality}` };
    }
    return { ok: true, slice: sliceRef(file, { ...a, rows: layout.rows, cols: layout.cols }) };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/** Summary of a group of predicted slices. */
export function summarise(
  slices: readonly SlicePrediction[],
  seriesUid: string | null,
  threshold: number,
  topK: number,
): GroupSummary {
  const first = slices[0]!;
  const max = LABEL_NAMES.map((_, l) => Math.max(...slices.map((s) => s.p[l]!)));
  const any = max[5]!;
  const top = [...slices]
    .sort((a, b) => b.p[5]! - a.p[5]! || (a.imageId < b.imageId ? -1 : 1))
    .slice(0, topK)
    .map((s) => ({ imageId: s.imageId, any: s.p[5]! }));
  return {
    studyUid: first.studyUid,
    seriesUid,
    patientId: first.patientId,
    slices: slices.length,
    max,
    any,
    flag: any >= threshold,
    top,
  };
}

/**
 * Predicts every slice of the input files; see the module comment.
 *
 * @throws ConfigError for bad options (before any file is read); InputError for a missing
 *   model or input path.
 */
export async function predictFiles(o: PredictFilesOptions): Promise<PredictFilesResult> {
  const start = performance.now();
  const dir = modelDir(resolve(o.model), 'best');
  const input = predictModelInput(dir);
  const runtimeName = o.runtime ?? 'tfjs';
  if (!RUNTIMES.includes(runtimeName)) {
    throw new ConfigError(`--runtime must be one of tfjs, onnx, received "${String(o.runtime)}"`);
  }
  const onnxBackend = parseOnnxBackend(o.onnxBackend);
  if (o.onnxBackend !== undefined && runtimeName !== 'onnx') {
    throw new ConfigError(
      `--onnx-backend needs --runtime onnx, received --runtime ${runtimeName} --onnx-backend ${o.onnxBackend}`,
    );
  }
  const tta = (o.tta ?? 'none') as TtaMode;
  if (!TTA_MODES.includes(tta)) {
    throw new ConfigError(`--tta must be one of ${TTA_MODES.join(', ')}, received "${o.tta}"`);
  }
  const topK = o.topK ?? 3;
  if (!Number.isInteger(topK) || topK < 1) {
    throw new ConfigError(`top-k must be a positive integer, received ${topK}`);
  }
  const chunk = o.chunk ?? 64;
  const workers = o.workers ?? 2;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new ConfigError(`--workers must be a positive integer, received ${workers}`);
  }
  const threshold = resolveThreshold(dir, o.threshold);
  const files = await listFiles(o.inputs);

  // 1. Headers: the slices to predict and the rejects.
  const rejects: Reject[] = [];
  const refs: SliceRef[] = [];
  const seen = new Map<string, string>();
  const reader = new ReusableFileReader();
  for (const file of files) {
    let r: ReturnType<typeof scanFile>;
    try {
      r = scanFile(file, reader.read(file));
    } catch (err) {
      r = { ok: false, reason: `cannot read file: ${reasonOf(err)}` };
    }
    if (!r.ok) {
      rejects.push({ file, reason: r.reason });
      continue;
    }
    const other = seen.get(r.slice.imageId);
    if (other !== undefined) {
      rejects.push({
        file,
        reason: `duplicate image id ${r.slice.imageId} (already read from ${other})`,
      });
      continue;
    }
    seen.set(r.slice.imageId, file);
    refs.push(r.slice);
  }
  const series = groupSeries(refs);

  // 2. Series by series: decode, stack, predict.
  const cfg = {
    windows: input.windows as WindowLevel[],
    size: input.cacheSize,
    rsnaFix: input.rsnaFix,
  };
  const spec = { size: input.size, context: input.context, preprocessing: input.preprocessing };
  const cacheGeom = { size: input.cacheSize, channels: input.cacheChannels };
  const bar = createProgress({
    total: refs.length,
    label: `predict ${input.arch}`,
    unit: 'images',
    enabled: o.progress !== false,
  });
  const onnx =
    o.runtimeInstance === undefined && runtimeName === 'onnx'
      ? await onnxRuntime(dir, workers, onnxBackend)
      : undefined;
  const runtime =
    o.runtimeInstance ?? onnx ?? (await tfjsRuntime(dir, { workers, backend: o.backend }));
  const predictions: SlicePrediction[] = [];
  const seriesOut: GroupSummary[] = [];
  type Batch = { series: { slices: SliceRef[]; bytes: Uint8Array[] }[]; x: Float32Array };
  const decode = (group: typeof series): Batch => {
    const out: Batch['series'] = [];
    const examples: Uint8Array[][] = [];
    for (const s of group) {
      const slices: SliceRef[] = [];
      const records: Uint8Array[] = [];
      const bytes: Uint8Array[] = [];
      for (const ref of s.slices) {
        try {
          const b = readFileSync(ref.file);
          records.push(readWindowedUint8(b, ref.file, cfg).image.data);
          slices.push(ref);
          bytes.push(b);
        } catch (err) {
          rejects.push({ file: ref.file, reason: reasonOf(err) });
          bar.tick(1);
        }
      }
      if (slices.length === 0) continue;
      for (let i = 0; i < slices.length; i++) {
        examples.push(contextIndices(i, slices.length, input.context).map((j) => records[j]!));
      }
      out.push({ slices, bytes });
    }
    const x = inputFromRecords(examples, cacheGeom, spec, null);
    return { series: out, x };
  };
  const run = async (b: Batch): Promise<void> => {
    const n = b.series.reduce((s, g) => s + g.slices.length, 0);
    if (n === 0) return;
    const p = await runtime.predict(b.x.slice(), n);
    if (tta === 'hflip') {
      const q = await runtime.predict(flipInput(b.x, n, input.size, input.channels), n);
      for (let k = 0; k < p.length; k++) p[k] = (p[k]! + q[k]!) / 2;
    }
    let off = 0;
    for (const g of b.series) {
      const m = g.slices.length;
      const per = input.size * input.size * input.channels;
      const preds = g.slices.map(
        (ref, i): SlicePrediction => ({
          file: ref.file,
          imageId: ref.imageId,
          patientId: ref.patientId,
          studyUid: ref.studyUid,
          seriesUid: ref.seriesUid,
          index: i,
          position: ref.position,
          p: Array.from(p.subarray((off + i) * 6, (off + i + 1) * 6)),
        }),
      );
      predictions.push(...preds);
      seriesOut.push(summarise(preds, g.slices[0]!.seriesUid, threshold.value, topK));
      if (o.onSeries) {
        await o.onSeries({
          slices: g.slices,
          x: b.x.subarray(off * per, (off + m) * per),
          p: p.subarray(off * 6, (off + m) * 6),
          bytes: g.bytes,
        });
      }
      off += m;
      bar.tick(m);
    }
  };
  try {
    let pending: Promise<void> = Promise.resolve();
    for (let i = 0; i < series.length; ) {
      const group = [series[i]!];
      let count = series[i]!.slices.length;
      for (i++; i < series.length && count < chunk; i++) {
        group.push(series[i]!);
        count += series[i]!.slices.length;
      }
      const batch = decode(group);
      await pending;
      pending = run(batch);
    }
    await pending;
  } finally {
    bar.stop();
    if (o.runtimeInstance === undefined) await runtime.close();
  }

  // 3. Studies, in order of their first predicted slice.
  const byStudy = new Map<string, SlicePrediction[]>();
  for (const sp of predictions) {
    const g = byStudy.get(sp.studyUid);
    if (g) g.push(sp);
    else byStudy.set(sp.studyUid, [sp]);
  }
  const studies = [...byStudy.values()].map((g) => summarise(g, null, threshold.value, topK));
  return {
    model: dir,
    input,
    runtime: runtimeName,
    onnxBackend: onnx?.backend ?? null,
    tta,
    threshold,
    slices: predictions,
    series: seriesOut,
    studies,
    rejects,
    files: files.length,
    seconds: (performance.now() - start) / 1000,
  };
}

/**
 * The horizontally mirrored copy of n NHWC inputs. Mirroring the model input equals
 * `BatchLoader`'s hflip draw (the flip is the last step there, after resize and scaling).
 */
export function flipInput(
  x: Float32Array,
  n: number,
  size: number,
  channels: number,
): Float32Array {
  const out = new Float32Array(x.length);
  const row = size * channels;
  for (let e = 0; e < n; e++) {
    for (let y = 0; y < size; y++) {
      const base = e * size * row + y * row;
      for (let xx = 0; xx < size; xx++) {
        const src = base + xx * channels;
        const dst = base + (size - 1 - xx) * channels;
        for (let c = 0; c < channels; c++) out[dst + c] = x[src + c]!;
      }
    }
  }
  return out;
}
