/**
 * A model worker: one tfjs instance in its own thread (and, on wasm, its own heap). It builds or
 * loads the model once, then answers the engine's requests: compute the gradient of a batch
 * share (in micro-batches), apply the optimiser to its range of the shared master weights
 * ('update'), predict, save. Before a step it loads the shared weights into its model when their
 * version changed (in place where that is safe: `assignFlat`).
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { forwardInBatches } from '../backend/forward.js';
import { readTensors, writeOwned } from '../backend/heap.js';
import { initBackend } from '../backend/init.js';
import { LABEL_COUNT } from '../labels.js';
import { loadKerasWeights } from '../models/h5.js';
import { backbone, buildModel } from '../models/index.js';
import type { ArchName } from '../models/registry.js';
import { loadSavedModel, saveLayersModel } from '../run/checkpoint.js';
import { serveRequests } from '../util/channel.js';
import { Rng } from '../util/rng.js';
import { lossSum } from './loss.js';
import { updateRange } from './optim.js';
import type { Reply, Request, SharedBuffers, TensorInfo, WorkerInit } from './protocol.js';
import { isMovingStat, withSeededRandom } from './seeded.js';

const port = parentPort;
if (!port) throw new Error('train/worker.ts must run inside a worker thread');

interface State {
  init: WorkerInit;
  model: LayersModel;
  trainable: tf.Variable[];
  stats: tf.Variable[];
  buffers?: SharedBuffers;
  /** The optimiser's slot vectors (shared with the engine). */
  slots?: Float32Array[];
  version: number;
}

let state: State | undefined;

function infos(vars: readonly tf.Variable[]): TensorInfo[] {
  return vars.map((v) => ({ name: v.name, shape: [...v.shape], size: v.size }));
}

function flatten(vars: readonly tf.Variable[]): Float32Array {
  const total = vars.reduce((s, v) => s + v.size, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const v of vars) {
    out.set(v.dataSync() as Float32Array, off);
    off += v.size;
  }
  return out;
}

/**
 * Loads `flat` into the variables: in place in the wasm heap where that is safe (backend/heap.ts
 * `writeOwned`: a weight only the native convolutions read, held by its variable alone), else
 * through a new tensor and `assign`.
 */
function assignFlat(vars: readonly tf.Variable[], flat: Float32Array): void {
  let off = 0;
  const wasm = tf.getBackend() === 'wasm';
  for (const v of vars) {
    const view = flat.subarray(off, off + v.size);
    if (!writeOwned(v, view)) {
      // wasm copies the values into its heap as the tensor is made; other backends may keep
      // the array, so they get a copy (the shared memory keeps changing under the engine).
      const values = wasm ? view : view.slice();
      tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
    }
    off += v.size;
  }
}

async function init(w: WorkerInit): Promise<Reply> {
  const backend = await initBackend(
    w.backend as 'auto',
    w.threads !== undefined ? { threads: w.threads } : {},
  );
  let model: LayersModel;
  if (w.checkpoint !== null) {
    model = await loadSavedModel(w.checkpoint);
  } else {
    // tfjs' initialisers draw their seeds from Math.random: a seeded stream makes the fresh
    // weights a function of --seed alone, identical in every worker.
    model = withSeededRandom(new Rng(w.seed, 0x1417), () =>
      buildModel(w.arch, {
        inputShape: [w.size, w.size, w.channels],
        head: { numClasses: LABEL_COUNT, dropout: w.dropout },
      }),
    );
    if (w.weightsFile !== null) {
      await loadKerasWeights(model, w.weightsFile, { arch: w.arch as ArchName });
    }
  }
  if (w.bnMomentum !== null) {
    for (const layer of model.layers) {
      if (layer.getClassName() === 'BatchNormalization') {
        (layer as unknown as { momentum: number }).momentum = w.bnMomentum;
      }
    }
  }
  if (w.freezeBackbone) {
    for (const layer of backbone(model, w.arch).layers) layer.trainable = false;
  }
  const trainable = model.trainableWeights.map((lw) => lw.read() as tf.Variable);
  const stats = w.freezeBackbone
    ? []
    : model.nonTrainableWeights
        .filter((lw) => isMovingStat(lw.name))
        .map((lw) => lw.read() as tf.Variable);
  state = { init: w, model, trainable, stats, version: -1 };
  return {
    type: 'ready',
    backend: `${backend.name} (${backend.detail})`,
    trainable: infos(trainable),
    stats: infos(stats),
    params: flatten(trainable),
    statValues: flatten(stats),
  };
}

function sync(s: State, version: number): void {
  if (version === s.version || !s.buffers) return;
  assignFlat(s.trainable, new Float32Array(s.buffers.params));
  assignFlat(s.stats, new Float32Array(s.buffers.stats));
  s.version = version;
}

function forward(s: State, x: tf.Tensor4D, training: boolean): tf.Tensor2D {
  return s.model.apply(x, { training }) as tf.Tensor2D;
}

function step(s: State, r: Extract<Request, { type: 'step' }>): Reply {
  sync(s, r.version);
  const { channels, size } = s.init;
  const per = size * size * channels;
  const training = !s.init.freezeBackbone;
  let acc: tf.Tensor[] | undefined;
  let lossTotal = 0;
  for (let start = 0, k = 0; start < r.n; start += r.micro, k++) {
    const m = Math.min(r.micro, r.n - start);
    const x = tf.tensor4d(r.x.subarray(start * per, (start + m) * per), [m, size, size, channels]);
    const y = tf.tensor2d(r.y.subarray(start * LABEL_COUNT, (start + m) * LABEL_COUNT), [
      m,
      LABEL_COUNT,
    ]);
    const { value, grads } = withSeededRandom(new Rng(r.seed, k), () =>
      tf.variableGrads(
        () =>
          tf.div(
            lossSum(s.init.loss, y, forward(s, x, training), s.init.focalGamma),
            r.batch,
          ) as tf.Scalar,
        s.trainable,
      ),
    );
    lossTotal += (value.dataSync()[0] ?? Number.NaN) * r.batch;
    value.dispose();
    x.dispose();
    y.dispose();
    const gs = s.trainable.map((v) => {
      const g = grads[v.name];
      if (!g) throw new Error(`no gradient for trainable weight ${v.name}`);
      return g;
    });
    if (acc === undefined) acc = gs;
    else {
      const prev: tf.Tensor[] = acc;
      acc = prev.map((a, i) => tf.add(a, gs[i]!));
      for (const t of prev) t.dispose();
      for (const t of gs) t.dispose();
    }
  }
  const out = new Float32Array(s.buffers!.grads);
  if (!readTensors(acc ?? [], out)) {
    let off = 0;
    for (const g of acc ?? []) {
      out.set(g.dataSync() as Float32Array, off);
      off += g.size;
    }
  }
  for (const g of acc ?? []) g.dispose();
  new Float32Array(s.buffers!.statsOut).set(flatten(s.stats));
  return { type: 'stepped', lossSum: lossTotal };
}

function predict(s: State, r: Extract<Request, { type: 'predict' }>): Reply {
  sync(s, r.version);
  const { channels, size } = s.init;
  const [p] = forwardInBatches(
    (x) => forward(s, x, false),
    r.x,
    r.n,
    r.micro,
    [size, size, channels],
    [LABEL_COUNT],
  );
  return { type: 'predicted', p: p! };
}

async function handle(r: Request): Promise<Reply> {
  if (r.type === 'init') return init(r.init);
  if (!state) throw new Error(`request "${r.type}" before init`);
  switch (r.type) {
    case 'share':
      state.buffers = r.buffers;
      return { type: 'shared' };
    case 'slots':
      state.slots = r.slots.map((b) => new Float32Array(b));
      return { type: 'slotsShared' };
    case 'update': {
      const b = state.buffers;
      if (!b || !state.slots) throw new Error('update before the buffers and slots were shared');
      updateRange(
        { name: r.name, lr: r.lr, step: r.step, slots: state.slots },
        new Float32Array(b.params),
        r.active.map((i) => new Float32Array(b.allGrads[i]!)),
        r.lo,
        r.hi,
      );
      return { type: 'updated' };
    }
    case 'step':
      return step(state, r);
    case 'predict':
      return predict(state, r);
    case 'save':
      sync(state, r.version);
      await saveLayersModel(state.model, r.dir, r.metadata);
      return { type: 'saved' };
  }
}

serveRequests<Request, Reply>(port, handle, (reply) =>
  reply.type === 'predicted' ? [reply.p.buffer as ArrayBuffer] : [],
);
