/**
 * The data-parallel engine: N model workers (one tfjs instance and heap each, one per core)
 * hold identical replicas; each step every worker computes the gradient sum of its share of the
 * batch in micro-batches (so the configured batch size is exact whatever fits in a heap); then
 * each worker applies the optimiser to its range of the master weights in shared memory, with
 * the shares' sum added in worker order (the bits of one whole update), and the engine averages
 * the batch-norm moving statistics the workers updated. Replicas then reload the weights before
 * their next step, so they never drift apart.
 */

import type { ModelCard } from '../run/model-card.js';
import { ThreadChannel, WorkerFailure } from '../util/channel.js';
import { startThread } from '../util/pool.js';
import type { OptimizerState } from './optim.js';
import type { Reply, Request, TensorInfo, WorkerInit } from './protocol.js';

export { WorkerFailure } from '../util/channel.js';

type ReplyOf<T extends Reply['type']> = Extract<Reply, { type: T }>;

export interface StepResult {
  /** Mean loss over the batch. */
  loss: number;
}

export class ModelWorkers {
  readonly trainable: TensorInfo[] = [];
  readonly stats: TensorInfo[] = [];
  backend = '';
  /** Master weights (trainable, flat) and moving statistics, shared with every worker. */
  params: Float32Array<ArrayBufferLike> = new Float32Array(0);
  statValues: Float32Array<ArrayBufferLike> = new Float32Array(0);
  /** The optimiser slots the workers hold (shared). */
  private slots: Float32Array<ArrayBufferLike>[] = [];
  private statsOut: Float32Array<ArrayBufferLike>[] = [];
  private readonly channels: ThreadChannel<Request, Reply>[] = [];
  private version = 0;

  private constructor(readonly size: number) {}

  /** Starts `n` workers and builds (or loads) the model in each; all must agree on its layout. */
  static async start(n: number, init: WorkerInit): Promise<ModelWorkers> {
    const w = new ModelWorkers(n);
    for (let i = 0; i < n; i++) w.channels.push(w.open(i));
    try {
      const ready = await Promise.all(
        w.channels.map((_, i) => w.call<'ready'>(i, { type: 'init', init }, 'ready')),
      );
      const first = ready[0]!;
      for (const [i, r] of ready.entries()) {
        const same =
          r.trainable.length === first.trainable.length &&
          r.trainable.every(
            (t, k) => t.name === first.trainable[k]!.name && t.size === first.trainable[k]!.size,
          ) &&
          r.params.every((v, k) => Object.is(v, first.params[k]));
        if (!same)
          throw new WorkerFailure(
            'training',
            i,
            'its model differs from worker 0 after the same build',
          );
      }
      w.backend = first.backend;
      w.trainable.push(...first.trainable);
      w.stats.push(...first.stats);
      const p = first.params.length;
      const s = first.statValues.length;
      const paramsBuf = new SharedArrayBuffer(p * 4);
      const statsBuf = new SharedArrayBuffer(s * 4);
      w.params = new Float32Array(paramsBuf);
      w.params.set(first.params);
      w.statValues = new Float32Array(statsBuf);
      w.statValues.set(first.statValues);
      const allGrads = w.channels.map(() => new SharedArrayBuffer(p * 4));
      await Promise.all(
        w.channels.map((_, i) => {
          const grads = allGrads[i]!;
          const statsOut = new SharedArrayBuffer(s * 4);
          w.statsOut.push(new Float32Array(statsOut));
          return w.call<'shared'>(
            i,
            {
              type: 'share',
              buffers: { params: paramsBuf, stats: statsBuf, grads, statsOut, allGrads },
            },
            'shared',
          );
        }),
      );
      w.version = 1;
      return w;
    } catch (err) {
      await w.close();
      throw err;
    }
  }

  private open(i: number): ThreadChannel<Request, Reply> {
    return new ThreadChannel<Request, Reply>(
      startThread('../train/worker', null),
      (message, stack) => new WorkerFailure('training', i, message, stack),
    );
  }

  private call<T extends Reply['type']>(
    i: number,
    req: Request,
    expect: T,
    transfer: ArrayBuffer[] = [],
  ): Promise<ReplyOf<T>> {
    return this.channels[i]!.call(req, expect, transfer);
  }

  /**
   * One optimiser step over a batch already split into per-worker shares (x: n×H×W×C, y: n×6).
   * Shares may be empty (a last batch smaller than the worker count).
   */
  async step(
    shares: readonly { x: Float32Array; y: Float32Array; n: number }[],
    opt: OptimizerState,
    o: { micro: number; seed: number },
  ): Promise<StepResult> {
    const batch = shares.reduce((s, sh) => s + sh.n, 0);
    const active = shares.map((sh, i) => ({ sh, i })).filter(({ sh }) => sh.n > 0);
    const replies = await Promise.all(
      active.map(({ sh, i }) =>
        this.call<'stepped'>(
          i,
          {
            type: 'step',
            version: this.version,
            x: sh.x,
            y: sh.y,
            n: sh.n,
            micro: o.micro,
            batch,
            seed: o.seed * 64 + i,
          },
          'stepped',
          [sh.x.buffer as ArrayBuffer, sh.y.buffer as ArrayBuffer],
        ),
      ),
    );
    // The optimiser, each worker on its range of the weights, with the Σ of the shares' gradient
    // sums in worker order (deterministic, and the bits of one whole update).
    await this.shareSlots(opt);
    const ids = active.map(({ i }) => i);
    const total = this.params.length;
    await Promise.all(
      this.channels.map((_, i) =>
        this.call<'updated'>(
          i,
          {
            type: 'update',
            lo: Math.floor((total * i) / this.size),
            hi: Math.floor((total * (i + 1)) / this.size),
            active: ids,
            name: opt.name,
            lr: opt.lr,
            step: opt.step,
          },
          'updated',
        ),
      ),
    );
    opt.step++;
    if (this.statValues.length > 0) {
      const outs = active.map(({ i }) => this.statsOut[i]!);
      const s = this.statValues;
      for (let k = 0; k < s.length; k++) {
        let sum = 0;
        for (const o2 of outs) sum += o2[k]!;
        s[k] = sum / outs.length;
      }
    }
    this.version++;
    return { loss: replies.reduce((s, r) => s + r.lossSum, 0) / batch };
  }

  /**
   * Puts the optimiser's slot vectors in shared memory (replacing `opt.slots` by shared copies:
   * the caller's state stays the one that is saved) and hands them to the workers; nothing when
   * they are already the shared ones.
   */
  private async shareSlots(opt: OptimizerState): Promise<void> {
    if (opt.slots.every((s, k) => s === this.slots[k]) && opt.slots.length === this.slots.length) {
      return;
    }
    opt.slots = opt.slots.map((s) => {
      if (s.buffer instanceof SharedArrayBuffer) return s;
      const shared = new Float32Array(new SharedArrayBuffer(s.length * 4));
      shared.set(s);
      return shared;
    });
    this.slots = opt.slots;
    await Promise.all(
      this.channels.map((_, i) =>
        this.call<'slotsShared'>(
          i,
          { type: 'slots', slots: opt.slots.map((s) => s.buffer as SharedArrayBuffer) },
          'slotsShared',
        ),
      ),
    );
  }

  /** Probabilities (n×6) of the shares, concatenated in share order. */
  async predict(
    shares: readonly { x: Float32Array; n: number }[],
    micro: number,
  ): Promise<Float32Array> {
    const replies = await Promise.all(
      shares.map((sh, i) =>
        sh.n === 0
          ? Promise.resolve({ type: 'predicted' as const, p: new Float32Array(0) })
          : this.call<'predicted'>(
              i,
              { type: 'predict', version: this.version, x: sh.x, n: sh.n, micro },
              'predicted',
              [sh.x.buffer as ArrayBuffer],
            ),
      ),
    );
    const total = replies.reduce((s, r) => s + r.p.length, 0);
    const out = new Float32Array(total);
    let off = 0;
    for (const r of replies) {
      out.set(r.p, off);
      off += r.p.length;
    }
    return out;
  }

  /** Saves the current model (tfjs layers format) to `dir` from worker 0. */
  async save(dir: string, metadata: ModelCard): Promise<void> {
    await this.call<'saved'>(0, { type: 'save', version: this.version, dir, metadata }, 'saved');
  }

  /** Replaces the master weights and statistics (resume); workers reload them before their next use. */
  load(params: Float32Array, stats: Float32Array): void {
    this.params.set(params);
    this.statValues.set(stats);
    this.version++;
  }

  async close(): Promise<void> {
    await Promise.all(this.channels.splice(0).map((c) => c.terminate()));
  }
}
