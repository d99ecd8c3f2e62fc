/**
 * Running an exported ichdet .onnx file with ONNX Runtime's native CPU library
 * (onnxruntime-node, which ships the library in its npm package): graph optimisations on
 * (Conv + BatchNorm + activation fusion), one intra-op thread per core by default.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ConfigError, InputError } from '../errors.js';
import { ONNX_INPUT, ONNX_METADATA_KEY, ONNX_OUTPUT } from './onnx-export.js';
import { inspectModel } from './onnx-proto.js';

export interface OnnxLoadOptions {
  /** Intra-op threads (default: the number of cores). */
  threads?: number;
}

export class OnnxModel {
  private constructor(
    private readonly session: InferenceSession,
    /** The ichdet metadata stored in the file (`{}` when it has none). */
    readonly metadata: Record<string, unknown>,
    /** [height, width, channels] of one input image. */
    readonly inputShape: readonly [number, number, number],
    /** Outputs per image (6 for an ichdet head). */
    readonly outputs: number,
    readonly file: string,
  ) {}

  /** Loads an .onnx file written by `exportOnnx`; InputError when it is missing or not one. */
  static async load(file: string, o: OnnxLoadOptions = {}): Promise<OnnxModel> {
    const threads = o.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new ConfigError(`threads must be a positive integer, received ${threads}`);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new InputError(`cannot read ONNX model ${file}: ${(err as Error).message}`);
    }
    let header: ReturnType<typeof inspectModel>;
    try {
      header = inspectModel(bytes);
    } catch (err) {
      throw new InputError(`${file} is not an ONNX model: ${(err as Error).message}`);
    }
    const inp = header.inputs.find((i) => i.name === ONNX_INPUT);
    const out = header.outputs.find((i) => i.name === ONNX_OUTPUT);
    const [, h, w, c] = inp?.shape ?? [];
    const k = out?.shape[1];
    if (
      typeof h !== 'number' ||
      typeof w !== 'number' ||
      typeof c !== 'number' ||
      typeof k !== 'number'
    ) {
      throw new InputError(
        `${file} has no "${ONNX_INPUT}" [N, H, W, C] input and "${ONNX_OUTPUT}" [N, K] output; was it written by ichdet export-onnx?`,
      );
    }
    let metadata: Record<string, unknown> = {};
    const json = header.metadata[ONNX_METADATA_KEY];
    if (json !== undefined) {
      try {
        metadata = JSON.parse(json) as Record<string, unknown>;
      } catch (err) {
        throw new InputError(
          `${file}: metadata "${ONNX_METADATA_KEY}" is not JSON: ${(err as Error).message}`,
        );
      }
    }
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(bytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new InputError(`ONNX Runtime cannot load ${file}: ${(err as Error).message}`);
    }
    return new OnnxModel(session, metadata, [h, w, c], k, file);
  }

  /** Probabilities (n × outputs, row-major) of `n` images given as NHWC float32. */
  async run(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.inputShape;
    if (!Number.isInteger(n) || n < 1 || x.length !== n * h * w * c) {
      throw new ConfigError(
        `${this.file}: input must hold n × ${h} × ${w} × ${c} floats, received ${x.length} for n = ${n}`,
      );
    }
    const feeds = { [ONNX_INPUT]: new Tensor('float32', x, [n, h, w, c]) };
    const result = await this.session.run(feeds);
    const y = result[ONNX_OUTPUT];
    if (!y || !(y.data instanceof Float32Array)) {
      throw new InputError(`${this.file}: the model returned no float32 "${ONNX_OUTPUT}"`);
    }
    return y.data;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
