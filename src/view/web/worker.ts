/**
 * In-browser inference: onnxruntime-web in a Web Worker, loaded from the viewer's own server
 * (/ort/, no CDN). The wasm backend uses threads when the page is cross-origin isolated (the
 * server sends COOP/COEP); WebGPU only when the browser offers an adapter. Runs the exported
 * model's `probabilities` and, when the file has it, its `cam` output (class activation maps).
 */
import type * as Ort from 'onnxruntime-web';
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

async function load(modelUrl: string, threads: number): Promise<WorkerReply> {
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
  return {
    type: 'loaded',
    backend: webgpu ? 'webgpu' : 'wasm',
    threads: ort.env.wasm.numThreads ?? 1,
    isolated,
    outputs: [...session.outputNames],
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

scope.onmessage = (e) => {
  const m = e.data;
  const job = m.type === 'load' ? load(m.modelUrl, m.threads) : run(m.id, m.x, m.dims);
  job.then(
    (reply) => scope.postMessage(reply),
    (err: unknown) =>
      scope.postMessage({
        type: 'error',
        id: m.type === 'run' ? m.id : -1,
        message: err instanceof Error ? err.message : String(err),
      }),
  );
};
