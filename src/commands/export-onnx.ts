/**
 * `ichdet export-onnx`: converts a trained run's model (RUN/best or RUN/last, tfjs layers format)
 * to one ONNX file with the model's preprocessing config in its metadata, then checks the file:
 * ONNX Runtime's probabilities for a fixed random batch must match the tfjs model's.
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { initBackend } from '../backend/init.js';
import { ConfigError } from '../errors.js';
import { onnxModelProto } from '../infer/onnx-export.js';
import { encodeModel } from '../infer/onnx-proto.js';
import {
  type OnnxBackend,
  type OnnxBackendChoice,
  OnnxModel,
  parseOnnxBackend,
} from '../infer/onnx-runtime.js';
import { loadSavedModel, readModelMetadata } from '../run/checkpoint.js';
import { resolveModelDir } from '../run/run.js';
import { writeFileAtomic } from '../util/files.js';
import { Rng } from '../util/rng.js';

/** Largest |ONNX − tfjs| the check accepts (the parity bound the tests assert). */
export const ONNX_PARITY_TOLERANCE = 1e-4;

export interface ExportOnnxCommandOptions {
  /** A run folder (`ichdet train --out`) or a model folder (with model.json). */
  run: string;
  /** The .onnx file to write. */
  out: string;
  checkpoint?: 'best' | 'last';
  /** ONNX opset (default 17). */
  opset?: number;
  /** Compare ONNX Runtime with tfjs on a random batch of 2 (default true). */
  verify?: boolean;
  /** ONNX Runtime build the check runs on (default auto: native when installed, else wasm). */
  onnxBackend?: OnnxBackendChoice | string;
  /** Add the class activation map output `cam` (for `ichdet view`'s in-browser heatmaps). */
  cam?: boolean;
}

export interface ExportOnnxCommandResult {
  out: string;
  /** The model folder exported. */
  model: string;
  arch: string | null;
  nodes: number;
  bytes: number;
  /** Largest |ONNX − tfjs| over the check batch; null when not verified. */
  maxAbsDiff: number | null;
  /** The ONNX Runtime build that ran the check; null when not verified. */
  onnxBackend: OnnxBackend | null;
}

/**
 * Exports and (by default) verifies. ConfigError names an unsupported layer, or reports a
 * verification failure (then the file is still written, for inspection).
 */
export async function exportOnnxCommand(
  o: ExportOnnxCommandOptions,
): Promise<ExportOnnxCommandResult> {
  if (!o.out.endsWith('.onnx')) {
    throw new ConfigError(`--out must be an .onnx file, received "${o.out}"`);
  }
  const onnxBackend = parseOnnxBackend(o.onnxBackend);
  const dir = resolveModelDir(o.run, o.checkpoint ?? 'best');
  await initBackend('wasm');
  const model = await loadSavedModel(dir);
  const metadata = readModelMetadata(dir);
  const out = resolve(o.out);
  try {
    const { proto, nodes } = onnxModelProto(model, {
      metadata,
      ...(o.opset !== undefined && { opset: o.opset }),
      cam: o.cam === true,
    });
    const bytes = encodeModel(proto);
    await writeFileAtomic(out, bytes);
    const arch = typeof metadata.arch === 'string' ? metadata.arch : null;
    let maxAbsDiff: number | null = null;
    let ran: OnnxBackend | null = null;
    if (o.verify !== false) {
      [maxAbsDiff, ran] = await compareWithTfjs(model, out, onnxBackend);
      if (!(maxAbsDiff <= ONNX_PARITY_TOLERANCE)) {
        throw new ConfigError(
          `${out}: ONNX Runtime differs from tfjs by up to ${maxAbsDiff}, more than ${ONNX_PARITY_TOLERANCE}; please report this model`,
        );
      }
    }
    return {
      out,
      model: dir,
      arch,
      nodes,
      bytes: bytes.byteLength,
      maxAbsDiff,
      onnxBackend: ran,
    };
  } finally {
    model.dispose();
  }
}

/** Largest |ONNX − tfjs| on two seeded random images, and the ONNX Runtime build that ran. */
async function compareWithTfjs(
  model: LayersModel,
  file: string,
  backend: OnnxBackendChoice,
): Promise<[number, OnnxBackend]> {
  const onnx = await OnnxModel.load(file, { backend });
  try {
    const [h, w, c] = onnx.inputShape;
    const rng = new Rng(20240607);
    const n = 2;
    // One image in [0, 255) (models that rescale inside), one in [-1, 1) (the others' range).
    const px = h * w * c;
    const x = Float32Array.from({ length: n * px }, (_, i) =>
      i < px ? rng.uniform(0, 255) : rng.uniform(-1, 1),
    );
    const got = await onnx.run(x, n);
    const want = tf.tidy(() => {
      const y = model.predict(tf.tensor4d(x, [n, h, w, c]));
      return (Array.isArray(y) ? (y[0] as tf.Tensor) : y).dataSync() as Float32Array;
    });
    let max = got.length === want.length ? 0 : Number.POSITIVE_INFINITY;
    for (let i = 0; i < want.length; i++) {
      max = Math.max(max, Math.abs((want[i] as number) - (got[i] as number)));
    }
    return [max, onnx.backend];
  } finally {
    await onnx.close();
  }
}
