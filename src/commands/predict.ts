/**
 * `ichdet predict`: a trained model on new DICOM files or folders. Writes to the output folder:
 * - `--format csv` (default): `slices.csv` (one row per slice: ids, position, six
 *   probabilities, flag) and `summary.csv` (one row per series and per study: the maximum of
 *   each label over its slices, the flag at the threshold, the top slices by `any`);
 * - `--format json`: `predictions.json` with all of it;
 * - `--format rsna`: `submission.csv`, the competition's `ID,Label` rows
 *   (`ID_<SOPInstanceUID>_<subtype>`);
 * - always `rejects.csv` (file, reason) and `predict.json` (the options, model, threshold and
 *   counts, so a prediction can be reproduced);
 * - `--cam DIR`: Grad-CAM heatmaps (infer/gradcam.ts) of every slice whose `any` reaches the
 *   threshold: `<image>_<label>.png` (over the brain window) and `<image>_<label>.npy` (the map,
 *   float32 rows × cols in [0, 1]); `--cam-layer` picks the layer (default: the architecture's
 *   feature layer); `--masks DIR` (label masks named `<image>.png`, as `ichdet synth` writes
 *   them) adds the pointing game per label to `pointing.csv` and `predict.json`.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend } from '../backend/init.js';
import { type CropBox, headBox } from '../dicom/crop.js';
import { readWindowed } from '../dicom/fastpath.js';
import { windowedImage } from '../dicom/preprocess.js';
import { decodeSlice } from '../dicom/read.js';
import { WINDOW_PRESETS } from '../dicom/window.js';
import { ConfigError } from '../errors.js';
import { formatSubmission } from '../eval/rsna.js';
import { type InferenceOptions, resolveInferenceConfig } from '../infer/config.js';
import {
  argmax,
  camToBox,
  GradCam,
  overlayPng,
  POINTING_TOLERANCE,
  PointingGame,
  type PointingRow,
} from '../infer/gradcam.js';
import { maskBits, pointingCsv, readMask, resolveMasksDir } from '../infer/pointing.js';
import {
  type GroupSummary,
  type InferenceRuntime,
  type PredictedSeries,
  type PredictFilesResult,
  predictInputs,
  type Reject,
  type SlicePrediction,
} from '../infer/predict.js';
import { encodeNpy } from '../io/npy.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import {
  loadSeriesAggregator,
  loadSeriesOnnxAggregator,
  seriesThreshold,
} from '../series/aggregator.js';
import { listFiles, writeFileAtomic } from '../util/files.js';
import type { Reporter } from '../util/reporter.js';

export const PREDICT_FORMATS = ['csv', 'json', 'rsna'] as const;
export type PredictFormat = (typeof PREDICT_FORMATS)[number];

/** The inference options (model, runtime, TTA, threshold, workers…: infer/config.ts) and: */
export interface PredictOptions extends Omit<InferenceOptions, 'chunk' | 'checkpoint'> {
  /** DICOM files or folders (walked recursively). */
  inputs: string[];
  /** Output folder. */
  out: string;
  format?: PredictFormat | string;
  /**
   * A `train-series` run: stage 2 per series after the CNN — per-slice probabilities and the
   * series' `any` come from the series model, and so do the flags (threshold: its study triage
   * point unless `threshold` is given).
   */
  seriesModel?: string;
  /** Grad-CAM output folder. */
  cam?: string;
  /** Grad-CAM layer: a layer name or `1/8`, `1/16`, `1/32` (default: the feature layer). */
  camLayer?: string;
  /**
   * Folder of label masks (`<image id>.png`, 8-bit, bit k = subtype k, as `ichdet synth`
   * writes): scores the heatmaps with the pointing game. Needs `cam`.
   */
  masks?: string;
  progress?: boolean;
  /** Progress events and log lines (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter;
  /** Stops between batches; the promise then rejects with `Interrupted`. */
  signal?: AbortSignal;
  /** An already started runtime (tests, benchmarks). */
  runtimeInstance?: InferenceRuntime;
}

export interface CamRecord {
  imageId: string;
  label: string;
  png: string;
  npy: string;
  /** Row and column of the map's maximum in the slice. */
  peak: [number, number];
}

export interface PredictResult extends PredictFilesResult {
  out: string;
  format: PredictFormat;
  /** Files written (outputs, rejects, config; not the heatmaps). */
  written: string[];
  cams: CamRecord[];
  /** The Grad-CAM layer (null without `cam`). */
  camLayer: string | null;
  /** The pointing game per label (null without `masks`). */
  pointing: PointingRow[] | null;
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** `slices.csv`: one row per slice. */
export function slicesCsv(slices: readonly SlicePrediction[], threshold: number): string {
  const head = [
    'image_id',
    'study_uid',
    'series_uid',
    'patient_id',
    'index',
    'position',
    ...LABEL_NAMES,
    'flag',
    'file',
  ];
  const rows = slices.map((s) =>
    [
      s.imageId,
      s.studyUid,
      s.seriesUid,
      s.patientId,
      String(s.index),
      s.position === null ? '' : String(s.position),
      ...s.p.map(String),
      s.p[ANY_INDEX]! >= threshold ? '1' : '0',
      s.file,
    ]
      .map(csvField)
      .join(','),
  );
  return `${[head.join(','), ...rows].join('\n')}\n`;
}

/** `summary.csv`: one row per series, then one per study. */
export function summaryCsv(
  series: readonly GroupSummary[],
  studies: readonly GroupSummary[],
): string {
  const head = [
    'level',
    'study_uid',
    'series_uid',
    'patient_id',
    'slices',
    ...LABEL_NAMES,
    'flag',
    'top_slices',
  ];
  const row = (level: string, g: GroupSummary) =>
    [
      level,
      g.studyUid,
      g.seriesUid ?? '',
      g.patientId,
      String(g.slices),
      ...g.max.map(String),
      g.flag ? '1' : '0',
      g.top.map((t) => `${t.imageId}:${t.any}`).join(' '),
    ]
      .map(csvField)
      .join(',');
  return `${[head.join(','), ...series.map((g) => row('series', g)), ...studies.map((g) => row('study', g))].join('\n')}\n`;
}

export function rejectsCsv(rejects: readonly Reject[]): string {
  return `${['file,reason', ...rejects.map((r) => `${csvField(r.file)},${csvField(r.reason)}`)].join('\n')}\n`;
}

/** The competition id of an image: its id when it already starts with `ID_`, else `ID_<id>`. */
export function rsnaId(imageId: string): string {
  return imageId.startsWith('ID_') ? imageId : `ID_${imageId}`;
}

/** A file-name-safe form of an image id. */
function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** What `predict.json` records beside the result, and the Grad-CAM outputs. */
export interface PredictRecord {
  cams: CamRecord[];
  camLayer: string | null;
  pointing: PointingRow[] | null;
  /** The inputs as given, made absolute. */
  inputs: string[];
  seriesModel: string | null;
  seriesModels: readonly string[] | null;
  cam: string | null;
  masks: string | null;
}

/**
 * Writes a prediction's files into `out` (the format's outputs, `rejects.csv`, `pointing.csv`
 * with masks, `predict.json`); returns their paths. `predict --queue` merges its studies' results
 * with it, so the queued outputs are a local predict's.
 */
export async function writePredictOutputs(
  out: string,
  format: PredictFormat,
  r: PredictFilesResult,
  m: PredictRecord,
): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, text: string) => {
    const f = join(out, name);
    await writeFileAtomic(f, text);
    written.push(f);
  };
  if (format === 'csv') {
    await write('slices.csv', slicesCsv(r.slices, r.threshold.value));
    await write('summary.csv', summaryCsv(r.series, r.studies));
  } else if (format === 'json') {
    const { input: _input, ...rest } = r;
    await write(
      'predictions.json',
      `${JSON.stringify({ ...rest, cams: m.cams, camLayer: m.camLayer }, null, 2)}\n`,
    );
  } else {
    const p = new Float32Array(r.slices.length * LABEL_COUNT);
    for (const [i, s] of r.slices.entries()) p.set(s.p, i * LABEL_COUNT);
    await write(
      'submission.csv',
      formatSubmission(
        r.slices.map((s) => rsnaId(s.imageId)),
        p,
      ),
    );
  }
  await write('rejects.csv', rejectsCsv(r.rejects));
  if (m.pointing !== null) await write('pointing.csv', pointingCsv(m.pointing));
  await write(
    'predict.json',
    `${JSON.stringify(
      {
        command: 'ichdet predict',
        model: r.model,
        arch: r.input.arch,
        inputs: m.inputs,
        format,
        runtime: r.runtime,
        seriesModel: m.seriesModel,
        seriesModels: m.seriesModels,
        onnxBackend: r.onnxBackend,
        tta: r.tta,
        threshold: r.threshold,
        cam: m.cam,
        camLayer: m.camLayer,
        masks: m.masks,
        pointing: m.pointing,
        files: r.files,
        slices: r.slices.length,
        series: r.series.length,
        studies: r.studies.length,
        flaggedStudies: r.studies.filter((s) => s.flag).length,
        rejects: r.rejects.length,
        seconds: r.seconds,
      },
      null,
      2,
    )}\n`,
  );
  return written;
}

/**
 * Predicts; see the module comment.
 *
 * @throws ConfigError for a bad option (before any work); InputError for a missing model or input.
 */
export async function predict(o: PredictOptions): Promise<PredictResult> {
  const format = (o.format ?? 'csv') as PredictFormat;
  if (!PREDICT_FORMATS.includes(format)) {
    throw new ConfigError(
      `--format must be one of ${PREDICT_FORMATS.join(', ')}, received "${o.format}"`,
    );
  }
  if (o.inputs.length === 0) throw new ConfigError('--input needs at least one file or folder');
  if (o.cam === undefined && (o.masks !== undefined || o.camLayer !== undefined)) {
    throw new ConfigError(
      `${o.masks !== undefined ? '--masks' : '--cam-layer'} needs --cam DIR (the heatmaps it applies to)`,
    );
  }
  const masksDir = resolveMasksDir(o.masks);
  const game =
    masksDir === undefined
      ? undefined
      : new PointingGame(LABEL_NAMES, { tolerance: POINTING_TOLERANCE });
  const out = resolve(o.out);
  const cams: CamRecord[] = [];
  let cam: GradCam | undefined;
  let camDir: string | undefined;
  let threshold = 0;
  let brain: { center: number; width: number } = { ...WINDOW_PRESETS.brain };
  let rsnaFix = true;
  let crop: 'none' | 'head' = 'none';
  // The slice in the brain window for the overlay and, with a `head`-cropped model, the box its
  // input covered (the map lies on that box): one decode for both.
  const grayAndBox = (bytes: Uint8Array, file: string) => {
    if (crop !== 'head') {
      return { gray: readWindowed(bytes, file, { windows: [brain], rsnaFix }).image, box: null };
    }
    const slice = decodeSlice(bytes, file, { rsnaFix });
    const box: CropBox | null = headBox(slice.hu, slice.rows, slice.cols);
    return { gray: windowedImage(slice, { windows: [brain] }), box };
  };
  const onSeries =
    o.cam === undefined
      ? undefined
      : async (s: PredictedSeries) => {
          const flagged = s.slices
            .map((_, i) => i)
            .filter((i) => s.p[i * LABEL_COUNT + ANY_INDEX]! >= threshold);
          if (flagged.length === 0 || cam === undefined || camDir === undefined) return;
          const per = cam.size * cam.size * cam.channels;
          const x = new Float32Array(flagged.length * per);
          for (const [j, i] of flagged.entries())
            x.set(s.x.subarray(i * per, (i + 1) * per), j * per);
          const m = cam.maps(x, flagged.length);
          const L = m.labels.length;
          for (const [j, i] of flagged.entries()) {
            const ref = s.slices[i]!;
            const { gray, box } = grayAndBox(s.bytes[i]!, ref.file);
            const { height: rows, width: cols } = gray;
            const mask =
              masksDir === undefined ? undefined : readMask(masksDir, ref.imageId, rows, cols);
            for (const [li, l] of m.labels.entries()) {
              const raw = m.maps.subarray((j * L + li) * m.h * m.w, (j * L + li + 1) * m.h * m.w);
              const map = camToBox(raw, m.h, m.w, rows, cols, box);
              const label = LABEL_NAMES[l]!;
              const base = join(camDir, `${safeName(ref.imageId)}_${label}`);
              await writeFileAtomic(`${base}.npy`, encodeNpy(map, [rows, cols]));
              await writeFileAtomic(`${base}.png`, overlayPng(gray.data, map, rows, cols));
              if (mask) game?.add(label, map, mask.data, maskBits(l), rows, cols);
              const peak = argmax(map);
              cams.push({
                imageId: ref.imageId,
                label,
                png: `${base}.png`,
                npy: `${base}.npy`,
                peak: [Math.floor(peak / cols), peak % cols],
              });
            }
          }
        };
  // One config, resolved and checked before any file is read; Grad-CAM needs it before the
  // first series.
  let config = resolveInferenceConfig(o);
  // Stage 2 runs in the runtime stage 1 runs in: tfjs, or ONNX Runtime (SRUN/fold<k>/model.onnx).
  const series =
    o.seriesModel === undefined
      ? undefined
      : config.runtime === 'onnx'
        ? await loadSeriesOnnxAggregator(o.seriesModel, {
            backend: config.onnxBackend,
            threads: 1,
            stage1: config.dir,
          })
        : loadSeriesAggregator(o.seriesModel, { stage1: config.dir });
  if (o.seriesModel !== undefined) {
    config = { ...config, threshold: seriesThreshold(o.seriesModel, o.threshold) };
  }
  const { input, dir } = config;
  threshold = config.threshold.value;
  rsnaFix = input.rsnaFix;
  crop = input.crop;
  const named = input.windows.find((w) => w.name === 'brain');
  if (named) brain = { center: named.center, width: named.width };
  const files = await listFiles(o.inputs);
  if (o.cam !== undefined) {
    camDir = resolve(o.cam);
    mkdirSync(camDir, { recursive: true });
    await initBackend(config.backend);
    cam = await GradCam.load(dir, o.camLayer);
  }
  let r: PredictFilesResult;
  try {
    r = await predictInputs(
      files.map((path) => ({ path })),
      config,
      {
        progress: o.progress,
        reporter: o.reporter,
        signal: o.signal,
        runtimeInstance: o.runtimeInstance,
        onSeries,
        ...(series !== undefined && { aggregator: series }),
      },
    );
  } finally {
    cam?.dispose();
    series?.dispose();
  }
  const pointing = game?.rows() ?? null;
  const written = await writePredictOutputs(out, format, r, {
    cams,
    camLayer: cam?.layer ?? null,
    pointing,
    inputs: o.inputs.map((p) => resolve(p)),
    seriesModel: o.seriesModel === undefined ? null : resolve(o.seriesModel),
    seriesModels: series?.models ?? null,
    cam: camDir ?? null,
    masks: masksDir ?? null,
  });
  return { ...r, out, format, written, cams, camLayer: cam?.layer ?? null, pointing };
}
