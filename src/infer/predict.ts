/**
 * Predicting new DICOM studies with a saved ichdet model, as composable steps over inputs given
 * as files or as bytes (`{path}` or `{id, bytes}`: a folder, a PACS download, a DICOMweb
 * response):
 *
 * 1. `scanInputs`: every input's header is read and checked (readable DICOM, a single-frame
 *    grayscale CT image); the bad ones are set aside with their reason, duplicates too. File
 *    bytes are kept for step 2 (up to `keepBytes`), so a file is read from disk once.
 * 2. `seriesInputs`: the slices, grouped into series and ordered along the slice normal
 *    (data/series.ts), are decoded series by series exactly as `prepare` builds a cache — HU
 *    with the RSNA fix, the model's windows, resized to its cache size and quantised to 8 bits
 *    (`readWindowedUint8`) — then stacked with their 2.5D neighbours, resized to the input size
 *    and scaled as in training (`inputFromRecords`), so a slice gets the probabilities `evaluate`
 *    computes from a cache.
 * 3. `predictBatch`: the runtime (infer/runtime.ts: tfjs workers or ONNX Runtime), with
 *    optional horizontal-flip test-time augmentation.
 * 4. An `Aggregator` turns a series' (and a study's) slice probabilities into its decision:
 *    `maxAggregator` (the maximum over the slices) today; the series model plugs in here.
 *
 * `predictInputs` composes them, decoding the next series while the model works on the
 * previous ones; `predictFiles` is `predictInputs` over the files of folders.
 */
import { readFileSync } from 'node:fs';
import { inputFromRecords } from '../data/input.js';
import { contextIndices } from '../data/series.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../data/types.js';
import { initCodecs } from '../dicom/codecs.js';
import { readWindowedUint8 } from '../dicom/fastpath.js';
import { parseDicomBytes } from '../dicom/parse.js';
import { ctSliceLayout, requireCtImage, sliceAttributes } from '../dicom/read.js';
import { needsCodecs } from '../dicom/syntax.js';
import type { WindowLevel } from '../dicom/window.js';
import { checkAborted, DicomError } from '../errors.js';
import type { InputCard } from '../run/model-card.js';
import { ModelFolder, type ThresholdChoice } from '../run/run.js';
import { listFiles, ReusableFileReader } from '../util/files.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { type InferenceConfig, type InferenceOptions, resolveInferenceConfig } from './config.js';
import type { OnnxBackend } from './onnx-runtime.js';
import type { InferenceRuntime, RuntimeName, TtaMode } from './runtime.js';
import { startRuntime } from './runtimes.js';
import { groupSeries, type Series, type SliceRef, sliceRef } from './series.js';
import { startTfjsRuntime, type TfjsRuntimeOptions } from './tfjs-runtime.js';

export type { ThresholdChoice } from '../run/run.js';
export { type InferenceRuntime, RUNTIMES, type RuntimeName } from './runtime.js';
export { onnxRuntime } from './runtimes.js';

/** Everything a saved model says about its input (the model card inference needs). */
export type PredictModelInput = InputCard;

/** The model card `predict` needs; ConfigError names what a model lacks. */
export function predictModelInput(dir: string): PredictModelInput {
  return new ModelFolder(dir).inputCard();
}

/** The tfjs runtime: the saved model loaded in `workers` workers, each input split among them. */
export function tfjsRuntime(dir: string, o: TfjsRuntimeOptions): Promise<InferenceRuntime> {
  return startTfjsRuntime(dir, o);
}

/**
 * The flag threshold: `explicit` when given; else the `any` triage threshold of the run's
 * `eval/metrics.json` when that evaluation was of this very model; else 0.5.
 */
export function resolveThreshold(dir: string, explicit?: number): ThresholdChoice {
  return new ModelFolder(dir).threshold(explicit);
}

/** One input: a file, or bytes with an id naming them (in rejects and as the fallback image id). */
export type PredictInput = { path: string } | { id: string; bytes: Uint8Array };

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
  /** Six probabilities in LABEL_NAMES order (stage 2's when a series model refined them). */
  p: number[];
  /** The CNN's own probabilities, when an aggregator refined `p`. */
  stage1?: number[];
}

/**
 * Per series or study: `max` per label over its slices; `any` is the decision's score — the
 * maximum over the slices, or the series model's learned study output (a study: the maximum
 * over its series).
 */
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

/** A slice that passed the scan, with its bytes while they are kept. */
export interface ScannedSlice extends SliceRef {
  bytes?: Uint8Array;
  /** Its pixel data is compressed: the codecs must be loaded before it is decoded. */
  compressed?: boolean;
}

/** One series' decision. */
export interface SeriesDecision {
  /** Per-slice probabilities (L × 6, slice order); null keeps the CNN's. */
  p: Float32Array | null;
  /** The series' `any` score, compared with the flag threshold. */
  any: number;
}

/**
 * Step 4: turns the slice probabilities of a series, in slice order, into its decision. A study's
 * score is the maximum over its series' scores.
 */
export interface Aggregator {
  readonly name: string;
  series(slices: readonly SlicePrediction[]): Promise<SeriesDecision> | SeriesDecision;
}

export interface PredictFilesOptions extends InferenceOptions {
  inputs: string[];
  progress?: boolean;
  /** Progress events and log lines (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter;
  /** Stops between batches; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** An already started runtime (tests, benchmarks); not closed by predictFiles. */
  runtimeInstance?: InferenceRuntime;
  /** How a series' and a study's decision is made (default `maxAggregator`). */
  aggregator?: Aggregator;
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

function reasonOf(err: unknown): string {
  if (err instanceof DicomError) return err.reason;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Reads and checks one file's header: a SliceRef, or the reason it cannot be predicted. */
export function scanFile(
  file: string,
  bytes: Uint8Array,
): { ok: true; slice: ScannedSlice } | { ok: false; reason: string } {
  try {
    const parsed = parseDicomBytes(bytes, file);
    const a = sliceAttributes(parsed);
    const layout = ctSliceLayout(parsed.dataSet, a, file);
    requireCtImage(parsed.dataSet, a, file);
    const slice: ScannedSlice = sliceRef(file, { ...a, rows: layout.rows, cols: layout.cols });
    if (needsCodecs(parsed.syntax.pixels)) slice.compressed = true;
    return { ok: true, slice };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/** Input bytes kept between the scan and the decoding by default: 1 GiB (a large study's worth). */
export const DEFAULT_KEEP_BYTES = 2 ** 30;

/**
 * Step 1: reads and checks every input's header; the slices to predict (each image id once) and
 * the rejects. File bytes are kept on the slice while their total stays within `keepBytes`
 * (beyond it they are read again when decoded).
 */
export function scanInputs(
  inputs: Iterable<PredictInput>,
  o: { keepBytes?: number; signal?: AbortSignal | undefined } = {},
): { slices: ScannedSlice[]; rejects: Reject[] } {
  let budget = o.keepBytes ?? DEFAULT_KEEP_BYTES;
  const rejects: Reject[] = [];
  const slices: ScannedSlice[] = [];
  const seen = new Map<string, string>();
  const reader = new ReusableFileReader();
  for (const input of inputs) {
    checkAborted(o.signal, 'predict stopped while reading headers');
    const name = 'path' in input ? input.path : input.id;
    let bytes: Uint8Array;
    let r: ReturnType<typeof scanFile>;
    try {
      bytes = 'path' in input ? reader.read(input.path) : input.bytes;
      r = scanFile(name, bytes);
    } catch (err) {
      rejects.push({ file: name, reason: `cannot read file: ${reasonOf(err)}` });
      continue;
    }
    if (!r.ok) {
      rejects.push({ file: name, reason: r.reason });
      continue;
    }
    const other = seen.get(r.slice.imageId);
    if (other !== undefined) {
      rejects.push({
        file: name,
        reason: `duplicate image id ${r.slice.imageId} (already read from ${other})`,
      });
      continue;
    }
    seen.set(r.slice.imageId, name);
    const s: ScannedSlice = r.slice;
    if (!('path' in input)) s.bytes = input.bytes;
    else if (bytes.length <= budget) {
      s.bytes = bytes.slice();
      budget -= bytes.length;
    }
    slices.push(s);
  }
  return { slices, rejects };
}

/** A group of series decoded into model inputs. */
export interface SeriesBatch {
  series: { slices: SliceRef[]; bytes: Uint8Array[] }[];
  /** Model inputs, n × size × size × channels, n = all the batch's slices. */
  x: Float32Array;
  n: number;
}

/**
 * Step 2: groups of whole series of at least `chunk` slices (the last may be smaller), decoded
 * and stacked as the model's input. A slice that fails to decode is rejected (`onReject`) and
 * left out of its series.
 */
export function* seriesInputs(
  series: readonly Series[],
  input: InputCard,
  o: { chunk: number; onReject: (r: Reject) => void },
): Generator<SeriesBatch> {
  const cfg = {
    windows: input.windows as WindowLevel[],
    size: input.cacheSize,
    rsnaFix: input.rsnaFix,
    crop: input.crop,
  };
  const spec = { size: input.size, context: input.context, preprocessing: input.preprocessing };
  const cacheGeom = { size: input.cacheSize, channels: input.cacheChannels };
  for (let i = 0; i < series.length; ) {
    const group = [series[i]!];
    let count = series[i]!.slices.length;
    for (i++; i < series.length && count < o.chunk; i++) {
      group.push(series[i]!);
      count += series[i]!.slices.length;
    }
    const out: SeriesBatch['series'] = [];
    const examples: Uint8Array[][] = [];
    for (const s of group) {
      const slices: SliceRef[] = [];
      const records: Uint8Array[] = [];
      const bytes: Uint8Array[] = [];
      for (const ref of s.slices as ScannedSlice[]) {
        try {
          const b = ref.bytes ?? readFileSync(ref.file);
          records.push(readWindowedUint8(b, ref.file, cfg).image.data);
          slices.push(ref);
          bytes.push(b);
        } catch (err) {
          o.onReject({ file: ref.file, reason: reasonOf(err) });
        }
      }
      if (slices.length === 0) continue;
      for (let k = 0; k < slices.length; k++) {
        examples.push(contextIndices(k, slices.length, input.context).map((j) => records[j]!));
      }
      out.push({ slices, bytes });
    }
    yield { series: out, x: inputFromRecords(examples, cacheGeom, spec, null), n: examples.length };
  }
}

/** Step 3: probabilities (n × 6) of a batch, the mean with its mirror image under `hflip` TTA. */
export async function predictBatch(
  runtime: InferenceRuntime,
  b: { x: Float32Array; n: number },
  input: Pick<InputCard, 'size' | 'channels'>,
  tta: TtaMode,
): Promise<Float32Array> {
  const p = await runtime.predict(b.x.slice(), b.n);
  if (tta === 'hflip') {
    const q = await runtime.predict(flipInput(b.x, b.n, input.size, input.channels), b.n);
    for (let k = 0; k < p.length; k++) p[k] = (p[k]! + q[k]!) / 2;
  }
  return p;
}

/**
 * Summary of a group of predicted slices: the maximum of each label over them; `any` is `score`
 * when given (an aggregator's decision), else the maximum of `any`.
 */
export function summarise(
  slices: readonly SlicePrediction[],
  seriesUid: string | null,
  threshold: number,
  topK: number,
  score?: number,
): GroupSummary {
  const first = slices[0]!;
  const max = LABEL_NAMES.map((_, l) => Math.max(...slices.map((s) => s.p[l]!)));
  const any = score ?? max[ANY_INDEX]!;
  const top = [...slices]
    .sort((a, b) => b.p[ANY_INDEX]! - a.p[ANY_INDEX]! || (a.imageId < b.imageId ? -1 : 1))
    .slice(0, topK)
    .map((s) => ({ imageId: s.imageId, any: s.p[ANY_INDEX]! }));
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

/** Step 4 without a series model: a series is as likely positive as its most likely slice. */
export const maxAggregator: Aggregator = {
  name: 'max',
  series: (slices) => ({
    p: null,
    any: Math.max(...slices.map((s) => s.p[ANY_INDEX]!)),
  }),
};

/**
 * Predicts every slice of `inputs` with a resolved config; see the module comment.
 */
export async function predictInputs(
  inputs: Iterable<PredictInput>,
  c: InferenceConfig,
  o: Omit<PredictFilesOptions, keyof InferenceOptions | 'inputs'> & { files?: number } = {},
): Promise<PredictFilesResult> {
  const start = performance.now();
  const reporter = reporterOf(o);
  const aggregate = o.aggregator ?? maxAggregator;
  const list = [...inputs];
  const { slices: refs, rejects } = scanInputs(list, { signal: o.signal });
  // Decoding (seriesInputs) is synchronous: compressed inputs need the codecs loaded first.
  if (refs.some((r) => r.compressed === true)) await initCodecs();
  const series = groupSeries(refs);
  const bar = reporter.task({
    total: refs.length,
    label: `predict ${c.input.arch}`,
    unit: 'images',
  });
  const started = o.runtimeInstance === undefined ? await startRuntime(c) : undefined;
  const runtime = o.runtimeInstance ?? started!;
  const predictions: SlicePrediction[] = [];
  const seriesOut: GroupSummary[] = [];
  const seriesScore = new Map<string, number>();
  const per = c.input.size * c.input.size * c.input.channels;
  const run = async (b: SeriesBatch): Promise<void> => {
    if (b.n === 0) return;
    const p = await predictBatch(runtime, b, c.input, c.tta);
    let off = 0;
    for (const g of b.series) {
      const m = g.slices.length;
      const preds = g.slices.map(
        (ref, i): SlicePrediction => ({
          file: ref.file,
          imageId: ref.imageId,
          patientId: ref.patientId,
          studyUid: ref.studyUid,
          seriesUid: ref.seriesUid,
          index: i,
          position: ref.position,
          p: Array.from(p.subarray((off + i) * LABEL_COUNT, (off + i + 1) * LABEL_COUNT)),
        }),
      );
      const d = await aggregate.series(preds);
      if (d.p !== null) {
        for (const [i, sp] of preds.entries()) {
          sp.stage1 = sp.p;
          sp.p = Array.from(d.p.subarray(i * LABEL_COUNT, (i + 1) * LABEL_COUNT));
        }
      }
      predictions.push(...preds);
      seriesScore.set(g.slices[0]!.seriesUid, d.any);
      seriesOut.push(summarise(preds, g.slices[0]!.seriesUid, c.threshold.value, c.topK, d.any));
      if (o.onSeries) {
        await o.onSeries({
          slices: g.slices,
          x: b.x.subarray(off * per, (off + m) * per),
          p: p.subarray(off * LABEL_COUNT, (off + m) * LABEL_COUNT),
          bytes: g.bytes,
        });
      }
      off += m;
      bar.tick(m);
    }
  };
  try {
    let pending: Promise<void> = Promise.resolve();
    const onReject = (r: Reject) => {
      rejects.push(r);
      bar.tick(1);
    };
    for (const batch of seriesInputs(series, c.input, { chunk: c.chunk, onReject })) {
      await pending;
      checkAborted(
        o.signal,
        `predict stopped after ${predictions.length} of ${refs.length} slices`,
      );
      pending = run(batch);
    }
    await pending;
  } finally {
    bar.stop();
    if (o.runtimeInstance === undefined) await runtime.close();
  }

  // Studies, in order of their first predicted slice.
  const byStudy = new Map<string, SlicePrediction[]>();
  for (const sp of predictions) {
    const g = byStudy.get(sp.studyUid);
    if (g) g.push(sp);
    else byStudy.set(sp.studyUid, [sp]);
  }
  const studies = [...byStudy.values()].map((g) => {
    const score = Math.max(
      ...[...new Set(g.map((s) => s.seriesUid))].map((u) => seriesScore.get(u)!),
    );
    return summarise(g, null, c.threshold.value, c.topK, score);
  });
  return {
    model: c.dir,
    input: c.input,
    runtime: c.runtime,
    // A runtime passed in that says its ONNX build (startRuntime's) is recorded like a started one.
    onnxBackend:
      started?.onnxBackend ??
      (o.runtimeInstance as { onnxBackend?: OnnxBackend | null } | undefined)?.onnxBackend ??
      null,
    tta: c.tta,
    threshold: c.threshold,
    slices: predictions,
    series: seriesOut,
    studies,
    rejects,
    files: o.files ?? list.length,
    seconds: (performance.now() - start) / 1000,
  };
}

/**
 * Predicts every slice of the input files and folders (walked recursively).
 *
 * @throws ConfigError for bad options (before any file is read); InputError for a missing
 *   model or input path.
 */
export async function predictFiles(o: PredictFilesOptions): Promise<PredictFilesResult> {
  const c = resolveInferenceConfig(o);
  const files = await listFiles(o.inputs);
  return predictInputs(
    files.map((path) => ({ path })),
    c,
    o,
  );
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
