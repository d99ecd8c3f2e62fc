/**
 * In-browser inference: onnxruntime-web in a Web Worker, loaded from the viewer's own server
 * (/ort/, no CDN). The wasm backend uses threads when the page is cross-origin isolated (the
 * server sends COOP/COEP); WebGPU only when the browser offers an adapter. Runs the exported
 * model's `probabilities` and, when the file has it, its `cam` output (class activation maps).
 * With series models (`view --series-model`: each fold's ONNX export) it runs stage 2 as
 * `predictSeriesOnnx` and the series aggregator do: every fold model on the series forward and
 * reversed, the two directions averaged slice by slice, then the folds averaged.
 */
import type * as Ort from 'onnxruntime-web';
import { LABEL_COUNT } from '../../labels.js';
import { averageDirections, SLICE_INPUTS } from '../../series/slice-inputs.js';
import type { WorkerReply, WorkerRequest } from './protocol.js';

interface WorkerScope {
  postMessage(msg: WorkerReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  crossOriginIsolated: boolean;
  navigator: Navigator & { gpu?: { requestAdapter(): Promise<unknown> } };
}
const scope = self as unknown as WorkerScope;

let ort: typeof Ort | null = null;
let session: Ort.InferenceSession | null = null;
let seriesSessions: Ort.InferenceSession[] = [];

/** True when the browser offers a WebGPU adapter (asked for at most 2 s: a GPU-less browser may never answer). */
async function hasWebGpu(): Promise<boolean> {
  const gpu = scope.navigator.gpu;
  if (gpu === undefined) return false;
  try {
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000));
    return (await Promise.race([gpu.requestAdapter(), timeout])) != null;
  } catch {
    return false;
  }
}

async function load(modelUrl: string, threads: number, seriesUrls: string[]): Promise<WorkerReply> {
  const t0 = performance.now();
  const webgpu = await hasWebGpu();
  const t1 = performance.now();
  // Without an adapter the wasm-only build: half the wasm to compile of the WebGPU (jsep) one.
  const url = webgpu ? '/ort/ort.min.mjs' : '/ort/ort.wasm.min.mjs';
  ort = (await import(/* webpackIgnore: true */ url)) as typeof Ort;
  ort.env.wasm.wasmPaths = '/ort/';
  const isolated = scope.crossOriginIsolated;
  ort.env.wasm.numThreads = isolated ? threads : 1;
  const t2 = performance.now();
  const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
  session = await ort.InferenceSession.create(bytes, {
    executionProviders: webgpu ? ['webgpu', 'wasm'] : ['wasm'],
    graphOptimizationLevel: 'all',
  });
  seriesSessions = [];
  for (const u of seriesUrls) {
    const b = new Uint8Array(await (await fetch(u)).arrayBuffer());
    seriesSessions.push(
      await ort.InferenceSession.create(b, {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      }),
    );
  }
  return {
    type: 'loaded',
    backend: webgpu ? 'webgpu' : 'wasm',
    threads: ort.env.wasm.numThreads ?? 1,
    isolated,
    outputs: [...session.outputNames],
    seriesModels: seriesSessions.length,
    ms: { adapter: t1 - t0, import: t2 - t1, session: performance.now() - t2 },
  };
}

async function run(id: number, x: Float32Array, dims: number[]): Promise<WorkerReply> {
  if (ort === null || session === null) throw new Error('no model loaded');
  const feeds = { input: new ort.Tensor('float32', x, dims) };
  const hasCam = session.outputNames.includes('cam');
  const out = await session.run(feeds, hasCam ? ['probabilities', 'cam'] : ['probabilities']);
  const p = out.probabilities!.data as Float32Array;
  const cam = hasCam ? (out.cam!.data as Float32Array) : null;
  return { type: 'result', id, p, cam, camDims: hasCam ? [...out.cam!.dims] : null };
}

async function series(
  id: number,
  x: Float32Array,
  xr: Float32Array,
  length: number,
): Promise<WorkerReply> {
  if (ort === null || seriesSessions.length === 0) throw new Error('no series model loaded');
  const slices = new Float32Array(length * LABEL_COUNT);
  let study = 0;
  const n = seriesSessions.length;
  for (const s of seriesSessions) {
    const once = async (v: Float32Array) => {
      const out = await s.run({ x: new ort!.Tensor('float32', v, [1, length, SLICE_INPUTS]) });
      return {
        slices: out.slices!.data as Float32Array,
        study: (out.study!.data as Float32Array)[0]!,
      };
    };
    const f = await once(x);
    const b = await once(xr);
    const avg = averageDirections(f.slices, b.slices, length);
    for (let k = 0; k < slices.length; k++) slices[k] = slices[k]! + avg[k]! / n;
    study += (f.study + b.study) / 2 / n;
  }
  return { type: 'series-result', id, slices, study };
}

scope.onmessage = (e) => {
  const m = e.data;
  const job =
    m.type === 'load'
      ? load(m.modelUrl, m.threads, m.seriesUrls)
      : m.type === 'series'
        ? series(m.id, m.x, m.xr, m.length)
        : run(m.id, m.x, m.dims);
  job.then(
    (reply) => scope.postMessage(reply),
    (err: unknown) =>
      scope.postMessage({
        type: 'error',
        id: m.type === 'load' ? -1 : m.id,
        message: err instanceof Error ? err.message : String(err),
      }),
  );
};
