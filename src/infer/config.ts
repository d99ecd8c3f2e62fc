/**
 * The one inference configuration: what `predict` (and the viewer, the PACS service, the queue
 * workers after it) resolves from its options once, before any file is read — the model folder
 * and its card, the runtime, test-time augmentation, the flag threshold and where it came from,
 * workers and backend. Every check names the option and the value received.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BACKENDS, type BackendChoice } from '../backend/choices.js';
import { ConfigError, InputError } from '../errors.js';
import { BEST_DIR, type CheckpointName, MODEL_JSON, ONNX_FILE } from '../run/layout.js';
import type { InputCard } from '../run/model-card.js';
import { ModelFolder, type OnnxOnlyModel, type ThresholdChoice } from '../run/run.js';
import { defaultPoolSize } from '../util/pool.js';
import { oneOf, positiveInt } from '../util/validate.js';
import { ONNX_METADATA_KEY } from './onnx-export.js';
import { inspectModel } from './onnx-proto.js';
import { type OnnxBackendChoice, parseOnnxBackend } from './onnx-runtime.js';
import { RUNTIMES, type RuntimeName, TTA_MODES, type TtaMode } from './runtime.js';

export interface InferenceOptions {
  /**
   * A run folder (its `best/` model, or `checkpoint`), a model folder, its `model.onnx`, or an
   * ONNX-only model: a folder holding only `model.onnx`, or any .onnx file `export-onnx` wrote
   * (its card is read from the file's `metadata_props`; needs `runtime: 'onnx'`).
   */
  model: string;
  checkpoint?: CheckpointName;
  runtime?: RuntimeName | string | undefined;
  /** ONNX Runtime build for `runtime: 'onnx'` (default auto: native when installed, else wasm). */
  onnxBackend?: OnnxBackendChoice | string | undefined;
  tta?: TtaMode | string | undefined;
  /** Flag threshold on `any`; default the run's triage threshold, else 0.5. */
  threshold?: number | undefined;
  /** Top slices listed per series and study (default 3). */
  topK?: number | undefined;
  /** Worker threads of the tfjs runtime, intra-op threads of ONNX Runtime (default: cores). */
  workers?: number | undefined;
  backend?: BackendChoice | string | undefined;
  /** Series are decoded and sent to the model in groups of at least this many slices (default 64). */
  chunk?: number | undefined;
}

export interface InferenceConfig {
  model: ModelFolder;
  /** The model folder (absolute). */
  dir: string;
  input: InputCard;
  runtime: RuntimeName;
  onnxBackend: OnnxBackendChoice;
  tta: TtaMode;
  threshold: ThresholdChoice;
  topK: number;
  workers: number;
  backend: BackendChoice;
  chunk: number;
}

/** The ichdet metadata (`metadata_props` "ichdet") of an .onnx file; ConfigError when absent. */
export function readOnnxMetadata(file: string): Record<string, unknown> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InputError(`cannot read ONNX model ${file}: ${(err as Error).message}`);
  }
  let json: string | undefined;
  try {
    json = inspectModel(bytes).metadata[ONNX_METADATA_KEY];
  } catch (err) {
    throw new InputError(`${file} is not an ONNX model: ${(err as Error).message}`);
  }
  if (json === undefined) {
    throw new ConfigError(
      `${file} has no ichdet metadata (metadata_props "${ONNX_METADATA_KEY}"); export it with ichdet export-onnx`,
    );
  }
  try {
    const meta = JSON.parse(json) as unknown;
    if (meta !== null && typeof meta === 'object') return meta as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new InputError(`${file}: metadata "${ONNX_METADATA_KEY}" is not a JSON object`);
}

/**
 * The model `--model` names: a .onnx file beside its `model.json` stands for its folder; an
 * .onnx file without one, or a folder (or run) without a tfjs model but with `model.onnx`, is an
 * ONNX-only model.
 */
export function openModel(path: string, checkpoint: CheckpointName = 'best'): ModelFolder {
  const abs = resolve(path);
  let onnx: string | null = null;
  if (abs.toLowerCase().endsWith('.onnx') && existsSync(abs) && statSync(abs).isFile()) {
    if (basename(abs) === ONNX_FILE && existsSync(join(dirname(abs), MODEL_JSON))) {
      return new ModelFolder(dirname(abs), checkpoint);
    }
    onnx = abs;
  } else if (
    !existsSync(join(abs, MODEL_JSON)) &&
    !existsSync(join(abs, BEST_DIR, MODEL_JSON)) &&
    checkpoint === 'best'
  ) {
    for (const f of [join(abs, ONNX_FILE), join(abs, BEST_DIR, ONNX_FILE)]) {
      if (existsSync(f)) {
        onnx = f;
        break;
      }
    }
  }
  if (onnx === null) return new ModelFolder(abs, checkpoint);
  const only: OnnxOnlyModel = { file: onnx, metadata: readOnnxMetadata(onnx) };
  return new ModelFolder(abs, checkpoint, only);
}

/**
 * Checks every option and reads the model card.
 *
 * @throws ConfigError for a bad option or a model without the card inference needs; InputError
 *   for a missing model.
 */
export function resolveInferenceConfig(o: InferenceOptions): InferenceConfig {
  const runtime = oneOf('--runtime', o.runtime ?? 'tfjs', RUNTIMES);
  const onnxBackend = parseOnnxBackend(o.onnxBackend);
  if (o.onnxBackend !== undefined && runtime !== 'onnx') {
    throw new ConfigError(
      `--onnx-backend needs --runtime onnx, received --runtime ${runtime} --onnx-backend ${o.onnxBackend}`,
    );
  }
  const tta = oneOf('--tta', o.tta ?? 'none', TTA_MODES);
  const topK = positiveInt('top-k', o.topK ?? 3);
  const workers = positiveInt('--workers', o.workers ?? defaultPoolSize());
  const backend = oneOf('--backend', o.backend ?? 'auto', BACKENDS);
  const chunk = positiveInt('chunk', o.chunk ?? 64);
  const model = openModel(o.model, o.checkpoint ?? 'best');
  if (model.onnxOnly !== null && runtime !== 'onnx') {
    throw new ConfigError(
      `${model.onnxOnly} is an ONNX-only model (no ${MODEL_JSON}): it needs --runtime onnx, received --runtime ${runtime}`,
    );
  }
  const input = model.inputCard();
  const threshold = model.threshold(o.threshold);
  return {
    model,
    dir: model.dir,
    input,
    runtime,
    onnxBackend,
    tta,
    threshold,
    topK,
    workers,
    backend,
    chunk,
  };
}
