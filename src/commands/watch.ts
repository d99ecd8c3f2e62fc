/**
 * `ichdet watch`: the triage service beside an Orthanc PACS (watch/service.ts). Loads the model
 * once (ONNX Runtime by default; `--series-model` adds stage 2), Grad-CAM when the model folder
 * has the tfjs model, the series rules and the state file, then handles every study that became
 * stable: `once` reads the change feed to its end and returns; otherwise it follows the feed
 * until the signal aborts (SIGTERM), waiting with backoff while the PACS is down.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { initBackend } from '../backend/init.js';
import { ichdetVersion } from '../data/cache.js';
import { ConfigError } from '../errors.js';
import { type InferenceOptions, resolveInferenceConfig } from '../infer/config.js';
import { GradCam } from '../infer/gradcam.js';
import { startRuntime } from '../infer/runtimes.js';
import { loadSeriesAggregator, seriesThreshold } from '../series/aggregator.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { OrthancClient, type ResultTarget, StowTarget } from '../watch/orthanc.js';
import { DEFAULT_RULES, readRules, type SeriesRules } from '../watch/rules.js';
import { type StudyOutcome, Watcher } from '../watch/service.js';
import { type StudyRow, WatchState } from '../watch/state.js';
import { hashModelDir } from '../watch/uids.js';

export interface WatchOptions extends Omit<InferenceOptions, 'chunk' | 'checkpoint' | 'model'> {
  /** Orthanc's REST root, e.g. `http://127.0.0.1:8042`. */
  orthanc: string;
  /** A training run, a model folder, or the `model.onnx` inside a model folder. */
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

/** The model folder of `--model`: a `model.onnx` file stands for its folder. */
function modelPath(p: string): string {
  const abs = resolve(p);
  if (abs.toLowerCase().endsWith('.onnx') && existsSync(abs) && statSync(abs).isFile()) {
    return dirname(abs);
  }
  return abs;
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
  let config = resolveInferenceConfig({
    ...o,
    model: modelPath(o.model),
    runtime: o.runtime ?? 'onnx',
  });
  if (o.seriesModel !== undefined) {
    config = { ...config, threshold: seriesThreshold(o.seriesModel, o.threshold) };
  }
  const reporter = reporterOf(o);
  const http = o.authorization === undefined ? {} : { authorization: o.authorization };
  const pacs = new OrthancClient(o.orthanc, http);
  const target: ResultTarget = o.stow === undefined ? pacs : new StowTarget(o.stow, http);
  const aggregator = o.seriesModel === undefined ? undefined : loadSeriesAggregator(o.seriesModel);
  const modelHash = hashModelDir(config.dir, ...(aggregator?.models ?? []));
  let cam: GradCam | null = null;
  let camNote = 'DISABLED';
  if (o.heatmap !== false) {
    try {
      await initBackend(config.backend);
      cam = await GradCam.load(config.dir);
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
    camNote,
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
    cam?.dispose();
    aggregator?.dispose();
    state.close();
  }
}
