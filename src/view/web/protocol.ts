/** Messages between the viewer page and its inference worker. */
export type WorkerRequest =
  | { type: 'load'; modelUrl: string; threads: number; seriesUrls: string[] }
  | { type: 'run'; id: number; x: Float32Array; dims: number[] }
  /** Stage 2 of one series: its inputs in slice order (`x`) and reversed (`xr`), [L, 13] each. */
  | { type: 'series'; id: number; x: Float32Array; xr: Float32Array; length: number };

export type WorkerReply =
  | {
      type: 'loaded';
      backend: 'wasm' | 'webgpu';
      threads: number;
      isolated: boolean;
      outputs: string[];
      /** Series (stage-2) models loaded: one per fold. */
      seriesModels: number;
      /** Milliseconds spent importing the runtime, asking for a WebGPU adapter, creating the session. */
      ms: { import: number; adapter: number; session: number };
    }
  | {
      type: 'result';
      id: number;
      p: Float32Array;
      cam: Float32Array | null;
      camDims: number[] | null;
    }
  | {
      type: 'series-result';
      id: number;
      /** [L × 6] stage-2 probabilities: forward/reversed and fold models averaged. */
      slices: Float32Array;
      study: number;
    }
  | { type: 'error'; id: number; message: string };
