/**
 * Messages between the training engine (main thread) and its model workers (one tfjs instance
 * each). Weights travel through shared memory, never in messages: the engine owns the master
 * copy of the trainable weights (`params`) and the batch-norm moving statistics (`stats`) in
 * SharedArrayBuffers; each worker writes its gradient sum and its updated statistics into its
 * own shared slots. Messages carry only batches, predictions and control.
 */
import type { ModelCard } from '../run/model-card.js';
import type { LossName, OptimizerName } from './config.js';

export interface WorkerInit {
  backend: string;
  /** OpenBLAS threads of the native accelerator (default 1: one worker per core). */
  threads?: number;
  arch: string;
  size: number;
  channels: number;
  dropout: number;
  seed: number;
  /** `none`, or a Keras `.h5` file to load into the fresh model. */
  weightsFile: string | null;
  /** A tfjs layers checkpoint folder (`model.json` + weights) to start from instead. */
  checkpoint: string | null;
  freezeBackbone: boolean;
  loss: LossName;
  focalGamma: number;
  /** Overrides every batch-norm layer's momentum; null keeps the model's. */
  bnMomentum: number | null;
}

export interface SharedBuffers {
  params: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** This worker's gradient sum (same layout as params). */
  grads: SharedArrayBuffer;
  /** This worker's moving statistics after its last step (same layout as stats). */
  statsOut: SharedArrayBuffer;
  /** Every worker's gradient sum, in worker order (each worker updates a range of params). */
  allGrads: SharedArrayBuffer[];
}

export interface TensorInfo {
  name: string;
  shape: number[];
  size: number;
}

export type Request =
  | { type: 'init'; init: WorkerInit }
  | { type: 'share'; buffers: SharedBuffers }
  /** The optimiser's slot vectors (adam: m, v), shared; sent again when they are replaced. */
  | { type: 'slots'; slots: SharedArrayBuffer[] }
  /**
   * Applies the optimiser to params[lo, hi) with the sum of the `active` workers' gradients, at
   * optimiser step `step` (optim.ts updateRange).
   */
  | {
      type: 'update';
      lo: number;
      hi: number;
      active: number[];
      name: OptimizerName;
      lr: number;
      step: number;
    }
  | {
      type: 'step';
      /** Version of the shared params to train from (the worker reloads them when it changed). */
      version: number;
      x: Float32Array;
      y: Float32Array;
      n: number;
      /** Examples per forward/backward pass. */
      micro: number;
      /** The full batch size: every example's loss is divided by it. */
      batch: number;
      /** Seeds tfjs' own random draws (dropout) for this step. */
      seed: number;
    }
  | { type: 'predict'; version: number; x: Float32Array; n: number; micro: number }
  | { type: 'save'; version: number; dir: string; metadata: ModelCard };

export type Reply =
  | {
      type: 'ready';
      backend: string;
      trainable: TensorInfo[];
      stats: TensorInfo[];
      /** The initial values, flat, in `trainable` then `stats` order. */
      params: Float32Array;
      statValues: Float32Array;
    }
  | { type: 'shared' }
  | { type: 'slotsShared' }
  | { type: 'updated' }
  | { type: 'stepped'; lossSum: number }
  | { type: 'predicted'; p: Float32Array }
  | { type: 'saved' }
  | { type: 'error'; name: string; message: string; stack?: string };
