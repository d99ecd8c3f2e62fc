/**
 * `ichdet watch`: the triage service beside an Orthanc PACS (watch/service.ts). Loads the model
 * once (ONNX Runtime by default; `--series-model` adds stage 2), Grad-CAM when the model folder
 * has the tfjs model, the series rules and the state file, then handles every study that became
 * stable: `once` reads the change feed to its end and returns; otherwise it follows the feed
 * until the signal aborts (SIGTERM), waiting with backoff while the PACS is down.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend } from '../backend/init.js';
import { ichdetVersion } from '../data/cache.js';
import { ConfigError } from '../errors.js';
import {
  type InferenceConfig,
  type InferenceOptions,
  resolveInferenceConfig,
} from '../infer/config.js';
import { GradCam } from '../infer/gradcam.js';
import { OnnxModel } from '../infer/onnx-runtime.js';
import { startRuntime } from '../infer/runtimes.js';
import {
  loadSeriesAggregator,
  loadSeriesOnnxAggregator,
  type SeriesAggregator,
  seriesModelDirs,
  seriesThreshold,
} from '../series/aggregator.js';
import { SERIES_ONNX_FILE } from '../series/onnx.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { OrthancClient, type ResultTarget, StowTarget } from '../watch/orthanc.js';
import { DEFAULT_RULES, readRules, type SeriesRules } from '../watch/rules.js';
import {
  type KeyImageCam,
  type StudyOutcome,
  WATCH_PHASES,
  Watcher,
  type WatchPhase,
} from '../watch/service.js';
import { type StudyRow, WatchState } from '../watch/state.js';
import { hashModelDir, hashModelFiles } from '../watch/uids.js';

/**
 * Test hook: `ICHDET_WATCH_CRASH_AT=<phase>:<n>` kills this process with SIGKILL (as `kill -9`
 * would) when the n-th study of the process reaches `<phase>` (service.ts WATCH_PHASES:
 * download, predict, after-sr, before-commit). Used by the kill tests only.
 */
export const CRASH_ENV = 'ICHDET_WATCH_CRASH_AT';

function crashHook(spec: string | undefined): ((phase: WatchPhase) => void) | undefined {
  if (spec === undefined || spec === '') return undefined;
  const m = /^([a-z-]+):(\d+)$/.exec(spec);
  if (m === null || !(WATCH_PHASES as readonly string[]).includes(m[1]!) || Number(m[2]) < 1) {
    throw new ConfigError(
      `${CRASH_ENV} must be <phase>:<n> with phase one of ${WATCH_PHASES.join(', ')} and n >= 1, received "${spec}"`,
    );
  }
  const at = m[1] as WatchPhase;
  let left = Number(m[2]);
  return (phase) => {
    if (phase === at && --left === 0) process.kill(process.pid, 'SIGKILL');
  };
}

export interface WatchOptions extends Omit<InferenceOptions, 'chunk' | 'checkpoint' | 'model'> {
  /** Orthanc's REST root, e.g. `http://127.0.0.1:8042`. */
  orthanc: string;
  /**
   * A training run, a model folder, its `model.onnx`, or an ONNX-only model (a folder holding
   * only `model.onnx`, or an .onnx file `export-onnx` wrote).
   */
  model: string;
  /** A `train-series` run: stage 2 per series. */
  seriesModel?: string | undefined;
  /** JSON file of series rules (watch/rules.ts); default: head CT. */
  rules?: string | undefined;
  /** State folder (SQLite); default `.ichdet-watch`. */
  state?: string | undefined;
  /** Read the feed to its end and return. */
  once?: boolean | undefined;
  /** Also act on StableSeries. */
  stableSeries?: boolean | undefined;
  /** A DICOMweb STOW-RS URL to store results to instead of Orthanc. */
  stow?: string | undefined;
  /** Grad-CAM heatmap on the key image (default true when the model has its tfjs weights). */
  heatmap?: boolean | undefined;
  /** Seconds between polls of an idle feed (default 1). */
  pollSeconds?: number | undefined;
  /** `Authorization` header for Orthanc and the STOW target. */
  authorization?: string | undefined;
  reporter?: Reporter | undefined;
  progress?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface WatchResult {
  /** Studies handled in this call, in order. */
  studies: StudyOutcome[];
  /** Every study in the state file. */
  state: StudyRow[];
  lastSeq: number | null;
  modelHash: string;
  heatmap: boolean;
}

/**
 * Stage 2 (`--series-model SRUN`) in the runtime stage 1 runs in, as predict's: ONNX Runtime
 * when every fold of SRUN has its model.onnx (`export-onnx SRUN`), else the tfjs series models.
 */
async function seriesAggregator(srun: string, config: InferenceConfig): Promise<SeriesAggregator> {
  const onnx = seriesModelDirs(resolve(srun)).every((d) => existsSync(join(d, SERIES_ONNX_FILE)));
  if (config.runtime === 'onnx' && onnx) {
    return loadSeriesOnnxAggregator(srun, {
      backend: config.onnxBackend,
      threads: 1,
      stage1: config.dir,
    });
  }
  await initBackend(config.backend);
  return loadSeriesAggregator(srun, { stage1: config.dir });
}

function checkUrl(name: string, url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, received "${url}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL, received "${url}"`);
  }
}

/**
 * Runs the service; see the module comment.
 *
 * @throws ConfigError for a bad option (before anything starts); InputError for a missing model.
 */
export async function watch(o: WatchOptions): Promise<WatchResult> {
  checkUrl('--orthanc', o.orthanc);
  if (o.stow !== undefined) checkUrl('--stow', o.stow);
  const poll = o.pollSeconds ?? 1;
  if (!(poll > 0)) throw new ConfigError(`--poll must be > 0 seconds, received ${poll}`);
  const rules: SeriesRules = o.rules === undefined ? DEFAULT_RULES : readRules(o.rules);
  const onPhase = crashHook(process.env[CRASH_ENV]);
  let config = resolveInferenceConfig({ ...o, runtime: o.runtime ?? 'onnx' });
  if (o.seriesModel !== undefined) {
    config = { ...config, threshold: seriesThreshold(o.seriesModel, o.threshold) };
  }
  const reporter = reporterOf(o);
  const http = o.authorization === undefined ? {} : { authorization: o.authorization };
  const pacs = new OrthancClient(o.orthanc, http);
  const target: ResultTarget = o.stow === undefined ? pacs : new StowTarget(o.stow, http);
  const aggregator =
    o.seriesModel === undefined ? undefined : await seriesAggregator(o.seriesModel, config);
  const onnxOnly = config.model.onnxOnly;
  const modelHash =
    onnxOnly === null
      ? hashModelDir(config.dir, ...(aggregator?.models ?? []))
      : hashModelFiles([onnxOnly], aggregator?.models ?? []);
  // The key image's heatmap: Grad-CAM of the tfjs model; for an ONNX-only model the file's
  // `cam` output (export-onnx --cam), else none (the key image and the SR say so).
  let cam: KeyImageCam | null = null;
  let camName = 'Grad-CAM of any';
  let camOnnx: OnnxModel | null = null;
  let gradCam: GradCam | null = null;
  let camNote = 'DISABLED';
  if (o.heatmap !== false && onnxOnly !== null) {
    const m = await OnnxModel.load(onnxOnly, {
      threads: config.workers,
      backend: config.onnxBackend,
    });
    if (m.hasCam) {
      camOnnx = m;
      const [size, , channels] = m.inputShape;
      cam = { size, channels, maps: (x, n, labels) => m.camMaps(x, n, labels) };
      camName = 'class activation map of any, from the ONNX cam output';
    } else {
      await m.close();
      camNote = 'NO CAM OUTPUT IN THE ONNX MODEL';
      reporter.log(
        `no heatmap on the key images: ${onnxOnly} has no cam output (export it with ichdet export-onnx --cam)`,
        { kind: 'no-heatmap' },
      );
    }
  } else if (o.heatmap !== false) {
    try {
      await initBackend(config.backend);
      gradCam = await GradCam.load(config.dir);
      cam = gradCam;
    } catch (err) {
      camNote = 'NO TFJS MODEL (ONNX ONLY)';
      reporter.log(`no Grad-CAM heatmap on the key images: ${(err as Error).message}`, {
        kind: 'no-heatmap',
      });
    }
  }
  const state = new WatchState(o.state ?? '.ichdet-watch');
  const runtime = await startRuntime(config);
  const watcher = new Watcher({
    pacs,
    target,
    state,
    config,
    runtime,
    ...(aggregator !== undefined && { aggregator }),
    rules,
    modelHash,
    cam,
    camName,
    camNote,
    ...(onPhase !== undefined && { onPhase }),
    stableSeries: o.stableSeries === true,
    reporter,
    ...(o.signal !== undefined && { signal: o.signal }),
    algorithm: `ichdet ${ichdetVersion()}`,
  });
  const studies: StudyOutcome[] = [];
  try {
    reporter.log(`watching ${pacs.url} (model ${config.dir}, runtime ${config.runtime})`, {
      kind: 'watch-start',
      orthanc: pacs.url,
      target: target.url,
      model: config.dir,
      modelHash,
      runtime: config.runtime,
      threshold: config.threshold.value,
      heatmap: cam !== null,
      lastSeq: state.lastSeq(),
    });
    if (o.once === true) {
      studies.push(...(await watcher.pass()).studies);
    } else {
      await watcher.follow({ pollMs: poll * 1000 });
    }
    return {
      studies,
      state: state.studies(),
      lastSeq: state.lastSeq(),
      modelHash,
      heatmap: cam !== null,
    };
  } finally {
    await runtime.close();
    gradCam?.dispose();
    await camOnnx?.close();
    aggregator?.dispose();
    state.close();
  }
}
