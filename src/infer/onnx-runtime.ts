/**
 * Running an exported ichdet .onnx file with ONNX Runtime, from one of two builds that share
 * one API (onnxruntime-common):
 * - `native`: onnxruntime-node, the CPU library as a Node addon; an optional peer dependency
 *   (its install script downloads CUDA libraries from NuGet on Linux x64 unless
 *   `ONNXRUNTIME_NODE_INSTALL=skip`, so ichdet does not pull it in);
 * - `wasm`: onnxruntime-web's WebAssembly build (SIMD, threads), a regular dependency with no
 *   install script, loading its .wasm files from its own package folder (no network).
 * `auto` takes native when it can be imported, else wasm. Graph optimisations on (Conv +
 * BatchNorm + activation fusion), one intra-op thread per core by default.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type * as Ort from 'onnxruntime-web';
import { ConfigError, InputError } from '../errors.js';
import { ONNX_CAM_OUTPUT, ONNX_INPUT, ONNX_METADATA_KEY, ONNX_OUTPUT } from './onnx-export.js';
import { inspectModel } from './onnx-proto.js';

export const ONNX_BACKENDS = ['auto', 'native', 'wasm'] as const;
/** Which ONNX Runtime build to use: `auto` is native when installed, else wasm. */
export type OnnxBackendChoice = (typeof ONNX_BACKENDS)[number];
/** The build a model actually runs on. */
export type OnnxBackend = Exclude<OnnxBackendChoice, 'auto'>;

/** The package each build comes from. */
export const ONNX_PACKAGES: Readonly<Record<OnnxBackend, string>> = {
  native: 'onnxruntime-node',
  wasm: 'onnxruntime-web',
};

/** How to add the native runtime without its CUDA download (the line the missing-native error gives). */
export const NATIVE_INSTALL_LINE = 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node';

/** The part of ONNX Runtime's JavaScript API ichdet uses (identical in both builds). */
type OrtApi = Pick<typeof Ort, 'InferenceSession' | 'Tensor' | 'env'>;

/** Imports a package by name (`(s) => import(s)`; tests pass another to simulate a missing one). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface OnnxLoadOptions {
  /** Intra-op threads (default: the number of cores). */
  threads?: number;
  /** ONNX Runtime build (default `auto`). */
  backend?: OnnxBackendChoice | string;
}

export interface LoadedOrt {
  backend: OnnxBackend;
  ort: OrtApi;
}

/** Checks a backend name given by a user; ConfigError names the value and the accepted ones. */
export function parseOnnxBackend(value: string | undefined): OnnxBackendChoice {
  if (value === undefined) return 'auto';
  const v = value.toLowerCase();
  if ((ONNX_BACKENDS as readonly string[]).includes(v)) return v as OnnxBackendChoice;
  throw new ConfigError(
    `--onnx-backend must be one of ${ONNX_BACKENDS.join(', ')}, received "${value}"`,
  );
}

function isModuleNotFound(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    e.message.includes(pkg)
  );
}

const defaultImporter: ModuleImporter = (specifier) => import(specifier);
const loaded = new Map<OnnxBackend, Promise<OrtApi>>();

async function importOrt(backend: OnnxBackend, importer: ModuleImporter): Promise<OrtApi> {
  const pkg = ONNX_PACKAGES[backend];
  let mod: unknown;
  try {
    mod = await importer(pkg);
  } catch (err) {
    if (backend === 'native' && isModuleNotFound(err, pkg)) {
      throw new ConfigError(
        `--onnx-backend native needs the optional package ${pkg}, which is not installed; ` +
          `install it with: ${NATIVE_INSTALL_LINE} (or use --onnx-backend wasm)`,
      );
    }
    throw new ConfigError(
      `cannot load ${pkg} (ONNX Runtime ${backend}): ${(err as Error).message}`,
    );
  }
  const ort = ((mod as { default?: unknown }).default ?? mod) as Partial<OrtApi>;
  if (typeof ort.InferenceSession?.create !== 'function' || typeof ort.Tensor !== 'function') {
    throw new ConfigError(
      `${pkg} does not export InferenceSession and Tensor; is it ONNX Runtime?`,
    );
  }
  return ort as OrtApi;
}

/**
 * Loads ONNX Runtime: `native` (onnxruntime-node; ConfigError with the install line when it is
 * missing), `wasm` (onnxruntime-web), or `auto` (native when it loads, else wasm). Each build is
 * imported once per process with the default importer.
 */
export async function loadOrt(
  choice: OnnxBackendChoice | string = 'auto',
  importer?: ModuleImporter,
): Promise<LoadedOrt> {
  const want = parseOnnxBackend(choice);
  const load = (backend: OnnxBackend): Promise<OrtApi> => {
    if (importer !== undefined) return importOrt(backend, importer);
    let p = loaded.get(backend);
    if (p === undefined) {
      p = importOrt(backend, defaultImporter);
      p.catch(() => loaded.delete(backend));
      loaded.set(backend, p);
    }
    return p;
  };
  if (want !== 'auto') return { backend: want, ort: await load(want) };
  try {
    return { backend: 'native', ort: await load('native') };
  } catch {
    return { backend: 'wasm', ort: await load('wasm') };
  }
}

export class OnnxModel {
  private constructor(
    private readonly ort: OrtApi,
    private readonly session: Ort.InferenceSession,
    /** The ichdet metadata stored in the file (`{}` when it has none). */
    readonly metadata: Record<string, unknown>,
    /** [height, width, channels] of one input image. */
    readonly inputShape: readonly [number, number, number],
    /** Outputs per image (6 for an ichdet head). */
    readonly outputs: number,
    readonly file: string,
    /** The ONNX Runtime build running it. */
    readonly backend: OnnxBackend,
    /** Whether the file has the `cam` output (`export-onnx --cam`). */
    readonly hasCam: boolean = false,
  ) {}

  /**
   * Loads an .onnx file written by `exportOnnx`; InputError when it is missing or not one,
   * ConfigError when the runtime asked for is not installed. The wasm build takes its thread
   * count once per process (from the first model loaded).
   */
  static async load(
    file: string,
    o: OnnxLoadOptions = {},
    importer?: ModuleImporter,
  ): Promise<OnnxModel> {
    const threads = o.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new ConfigError(`threads must be a positive integer, received ${threads}`);
    }
    const { backend, ort } = await loadOrt(o.backend ?? 'auto', importer);
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
    let session: Ort.InferenceSession;
    try {
      if (backend === 'wasm') {
        // Read by onnxruntime-web when its wasm module starts (first session); ignored after.
        ort.env.wasm.numThreads = threads;
      }
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: [backend === 'wasm' ? 'wasm' : 'cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new InputError(
        `ONNX Runtime (${backend}) cannot load ${file}: ${(err as Error).message}`,
      );
    }
    const hasCam = header.outputs.some((o) => o.name === ONNX_CAM_OUTPUT);
    return new OnnxModel(ort, session, metadata, [h, w, c], k, file, backend, hasCam);
  }

  /** Probabilities (n × outputs, row-major) of `n` images given as NHWC float32. */
  async run(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.inputShape;
    if (!Number.isInteger(n) || n < 1 || x.length !== n * h * w * c) {
      throw new ConfigError(
        `${this.file}: input must hold n × ${h} × ${w} × ${c} floats, received ${x.length} for n = ${n}`,
      );
    }
    const feeds = { [ONNX_INPUT]: new this.ort.Tensor('float32', x, [n, h, w, c]) };
    // Only the probabilities: a `cam` output (export --cam) is not computed here.
    const result = await this.session.run(feeds, [ONNX_OUTPUT]);
    const y = result[ONNX_OUTPUT];
    if (!y || !(y.data instanceof Float32Array)) {
      throw new InputError(`${this.file}: the model returned no float32 "${ONNX_OUTPUT}"`);
    }
    return y.data;
  }

  /**
   * Class activation maps of `n` images (NHWC float32) for `labels` (indices into the outputs),
   * from the `cam` output [N, h, w, classes], as `n × labels × h × w` with ReLU applied — the
   * layout of Grad-CAM's maps (infer/gradcam.ts), which for the ichdet head they equal up to a
   * positive factor per image and label. InputError when the file has no `cam` output.
   */
  async camMaps(
    x: Float32Array,
    n: number,
    labels: readonly number[],
  ): Promise<{ maps: Float32Array; n: number; labels: number[]; h: number; w: number }> {
    if (!this.hasCam) {
      throw new InputError(
        `${this.file} has no "${ONNX_CAM_OUTPUT}" output (export it with ichdet export-onnx --cam)`,
      );
    }
    const [h0, w0, c0] = this.inputShape;
    if (!Number.isInteger(n) || n < 1 || x.length !== n * h0 * w0 * c0) {
      throw new ConfigError(
        `${this.file}: input must hold n × ${h0} × ${w0} × ${c0} floats, received ${x.length} for n = ${n}`,
      );
    }
    const feeds = { [ONNX_INPUT]: new this.ort.Tensor('float32', x, [n, h0, w0, c0]) };
    const result = await this.session.run(feeds, [ONNX_CAM_OUTPUT]);
    const y = result[ONNX_CAM_OUTPUT];
    if (!y || !(y.data instanceof Float32Array) || y.dims.length !== 4) {
      throw new InputError(`${this.file}: the model returned no float32 [N, h, w, K] "cam"`);
    }
    const [, h, w, k] = y.dims as [number, number, number, number];
    const maps = new Float32Array(n * labels.length * h * w);
    for (let e = 0; e < n; e++) {
      for (const [li, l] of labels.entries()) {
        const o = (e * labels.length + li) * h * w;
        for (let p = 0; p < h * w; p++) maps[o + p] = Math.max(0, y.data[(e * h * w + p) * k + l]!);
      }
    }
    return { maps, n, labels: [...labels], h, w };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
