/**
 * An inference worker: one tfjs instance in its own thread that loads a saved model once and
 * answers `predict` requests in micro-batches (inference mode: batch norm on its moving
 * statistics, no dropout). Loaded with `embeddings`, it also returns each input's embedding: the
 * output of the head's global average pooling (`head_pool`), the features the head sees.
 */
import { parentPort } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs-core';
import {
  model as functionalModel,
  type LayersModel,
  SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import { forwardInBatches } from '../backend/forward.js';
import { type BackendChoice, initBackend } from '../backend/init.js';
import { ConfigError } from '../errors.js';
import { HEAD_POOL } from '../models/common.js';
import { loadSavedModel } from '../run/checkpoint.js';
import { serveRequests } from '../util/channel.js';

export type InferRequest =
  | { type: 'load'; backend: BackendChoice; dir: string; embeddings?: boolean }
  | { type: 'predict'; x: Float32Array; n: number; micro: number };

export type InferReply =
  | {
      type: 'loaded';
      backend: string;
      size: number;
      channels: number;
      outputs: number;
      /** Embedding width (0 unless loaded with `embeddings`). */
      dim: number;
    }
  | { type: 'predicted'; p: Float32Array; e?: Float32Array }
  | { type: 'error'; name: string; message: string; stack?: string };

const port = parentPort;
if (!port) throw new Error('infer/tfjs-worker.ts must run inside a worker thread');

let model: LayersModel | undefined;
let shape: [number, number, number] = [0, 0, 0];
let outputs = 0;
/** Width of the embedding, when the model was loaded with `embeddings` (then `model` has 2 outputs). */
let dim = 0;

/** The model with two outputs: the head's pooled features, then the probabilities. */
function withEmbeddings(m: LayersModel, dir: string): LayersModel {
  let pool: SymbolicTensor | SymbolicTensor[];
  try {
    pool = m.getLayer(HEAD_POOL).output;
  } catch {
    throw new ConfigError(
      `model ${dir} has no ${HEAD_POOL} layer, so no embedding; expected a model trained by ichdet`,
    );
  }
  if (!(pool instanceof SymbolicTensor)) {
    throw new ConfigError(`model ${dir}: layer ${HEAD_POOL} has more than one output`);
  }
  return functionalModel({ inputs: m.inputs, outputs: [pool, m.outputs[0]!] });
}

async function handle(r: InferRequest): Promise<InferReply> {
  if (r.type === 'load') {
    const b = await initBackend(r.backend);
    const loaded = await loadSavedModel(r.dir);
    const [, h, w, c] = loaded.inputs[0]!.shape;
    const k = loaded.outputs[0]!.shape.at(-1);
    shape = [h ?? 0, w ?? 0, c ?? 0];
    outputs = k ?? 0;
    model = r.embeddings === true ? withEmbeddings(loaded, r.dir) : loaded;
    dim = r.embeddings === true ? (model.outputs[0]!.shape.at(-1) ?? 0) : 0;
    return {
      type: 'loaded',
      backend: `${b.name} (${b.detail})`,
      size: shape[0],
      channels: shape[2],
      outputs,
      dim,
    };
  }
  if (!model) throw new Error(`request "${r.type}" before load`);
  const m0 = model;
  const outs = forwardInBatches(
    (x) => m0.apply(x, { training: false }) as tf.Tensor | tf.Tensor[],
    r.x,
    r.n,
    r.micro,
    shape,
    dim > 0 ? [dim, outputs] : [outputs],
  );
  return dim > 0
    ? { type: 'predicted', p: outs[1]!, e: outs[0]! }
    : { type: 'predicted', p: outs[0]! };
}

serveRequests<InferRequest, InferReply>(port, handle, (reply) =>
  reply.type === 'predicted'
    ? [reply.p.buffer as ArrayBuffer, ...(reply.e ? [reply.e.buffer as ArrayBuffer] : [])]
    : [],
);
