/**
 * An inference worker: one tfjs instance in its own thread that loads a saved model once and
 * answers `predict` requests in micro-batches (inference mode: batch norm on its moving
 * statistics, no dropout).
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type BackendChoice, initBackend } from '../backend/init.js';
import { loadSavedModel } from '../run/checkpoint.js';
import { serveRequests } from '../util/channel.js';

export type InferRequest =
  | { type: 'load'; backend: BackendChoice; dir: string }
  | { type: 'predict'; x: Float32Array; n: number; micro: number };

export type InferReply =
  | { type: 'loaded'; backend: string; size: number; channels: number; outputs: number }
  | { type: 'predicted'; p: Float32Array }
  | { type: 'error'; name: string; message: string; stack?: string };

const port = parentPort;
if (!port) throw new Error('infer/tfjs-worker.ts must run inside a worker thread');

let model: LayersModel | undefined;
let shape: [number, number, number] = [0, 0, 0];
let outputs = 0;

async function handle(r: InferRequest): Promise<InferReply> {
  if (r.type === 'load') {
    const b = await initBackend(r.backend);
    model = await loadSavedModel(r.dir);
    const [, h, w, c] = model.inputs[0]!.shape;
    const k = model.outputs[0]!.shape.at(-1);
    shape = [h ?? 0, w ?? 0, c ?? 0];
    outputs = k ?? 0;
    return {
      type: 'loaded',
      backend: `${b.name} (${b.detail})`,
      size: shape[0],
      channels: shape[2],
      outputs,
    };
  }
  if (!model) throw new Error(`request "${r.type}" before load`);
  const m0 = model;
  const [h, w, c] = shape;
  const per = h * w * c;
  const p = new Float32Array(r.n * outputs);
  for (let start = 0; start < r.n; start += r.micro) {
    const m = Math.min(r.micro, r.n - start);
    const out = tf.tidy(() => {
      const x = tf.tensor4d(r.x.subarray(start * per, (start + m) * per), [m, h, w, c]);
      return m0.apply(x, { training: false }) as tf.Tensor2D;
    });
    p.set(out.dataSync() as Float32Array, start * outputs);
    out.dispose();
  }
  return { type: 'predicted', p };
}

serveRequests<InferRequest, InferReply>(port, handle, (reply) =>
  reply.type === 'predicted' ? [reply.p.buffer as ArrayBuffer] : [],
);
