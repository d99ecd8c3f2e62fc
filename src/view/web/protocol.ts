/** Messages between the viewer page and its inference worker. */
export type WorkerRequest =
  | { type: 'load'; modelUrl: string; threads: number }
  | { type: 'run'; id: number; x: Float32Array; dims: number[] };

export type WorkerReply =
  | {
      type: 'loaded';
      backend: 'wasm' | 'webgpu';
      threads: number;
      isolated: boolean;
      outputs: string[];
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
  | { type: 'error'; id: number; message: string };
