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
import { OnnxModel } from './onnx-runtime.js';
import type { InferenceRuntime } from './runtime.js';
import { startTfjsRuntime } from './tfjs-runtime.js';

/** ONNX Runtime on the model in `dir` with `threads` intra-op threads. */
export async function onnxRuntime(dir: string, threads: number): Promise<InferenceRuntime> {
  let file = new ModelFolder(dir).onnxFile();
  let tmp: string | undefined;
  if (file === null) {
    tmp = mkdtempSync(join(tmpdir(), 'ichdet-onnx-'));
    file = join(tmp, ONNX_FILE);
    await exportRunToOnnx(dir, file);
  }
  const model = await OnnxModel.load(file, { threads });
  return {
    predict: (x: Float32Array, n: number) => model.run(x, n),
    async close() {
      await model.close();
      if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** The runtime `c.runtime` names, on `c.workers` workers (tfjs) or threads (ONNX Runtime). */
export function startRuntime(c: InferenceConfig): Promise<InferenceRuntime> {
  return c.runtime === 'onnx'
    ? onnxRuntime(c.dir, c.workers)
    : startTfjsRuntime(c.dir, { workers: c.workers, backend: c.backend });
}
