/**
 * The one inference configuration: what `predict` (and the viewer, the PACS service, the queue
 * workers after it) resolves from its options once, before any file is read — the model folder
 * and its card, the runtime, test-time augmentation, the flag threshold and where it came from,
 * workers and backend. Every check names the option and the value received.
 */
import { BACKENDS, type BackendChoice } from '../backend/init.js';
import { ConfigError } from '../errors.js';
import type { CheckpointName } from '../run/layout.js';
import type { InputCard } from '../run/model-card.js';
import { ModelFolder, type ThresholdChoice } from '../run/run.js';
import { defaultPoolSize } from '../util/pool.js';
import { oneOf, positiveInt } from '../util/validate.js';
import { type OnnxBackendChoice, parseOnnxBackend } from './onnx-runtime.js';
import { RUNTIMES, type RuntimeName, TTA_MODES, type TtaMode } from './runtime.js';

export interface InferenceOptions {
  /** A run folder (its `best/` model, or `checkpoint`) or a model folder. */
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
  const model = new ModelFolder(o.model, o.checkpoint ?? 'best');
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
