/**
 * Starting the runtime an inference config names: the tfjs model workers, or ONNX Runtime on
 * `DIR/model.onnx` (`ichdet export-onnx RUN --out RUN/best/model.onnx`), exported to a temporary
 * file first when the model folder has none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ONNX_FILE } from '../run/layout.js';
import { ModelFolder } from '../run/run.js';
import type { InferenceConfig } from './config.js';
import { exportRunToOnnx } from './onnx-export.js';
import { type OnnxBackend, type OnnxBackendChoice, OnnxModel } from './onnx-runtime.js';
import type { InferenceRuntime } from './runtime.js';
import { startTfjsRuntime } from './tfjs-runtime.js';

/**
 * ONNX Runtime on the model in `dir` (`backend`: native onnxruntime-node, wasm onnxruntime-web,
 * or auto), with `threads` intra-op threads.
 */
export async function onnxRuntime(
  dir: string | ModelFolder,
  threads: number,
  backend: OnnxBackendChoice = 'auto',
): Promise<InferenceRuntime & { backend: OnnxBackend }> {
  const folder = typeof dir === 'string' ? new ModelFolder(dir) : dir;
  let file = folder.onnxFile();
  let tmp: string | undefined;
  if (file === null) {
    tmp = mkdtempSync(join(tmpdir(), 'ichdet-onnx-'));
    file = join(tmp, ONNX_FILE);
    await exportRunToOnnx(folder.dir, file);
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

/**
 * The runtime `c.runtime` names, on `c.workers` workers (tfjs) or threads (ONNX Runtime);
 * `onnxBackend` is the ONNX Runtime build it runs on (null for tfjs).
 */
export async function startRuntime(
  c: InferenceConfig,
): Promise<InferenceRuntime & { onnxBackend: OnnxBackend | null }> {
  if (c.runtime === 'onnx') {
    const r = await onnxRuntime(c.model, c.workers, c.onnxBackend);
    return Object.assign(r, { onnxBackend: r.backend });
  }
  const r = await startTfjsRuntime(c.dir, { workers: c.workers, backend: c.backend });
  return Object.assign(r, { onnxBackend: null });
}
