/**
 * The tfjs runtime: a saved model loaded in `workers` inference workers (one tfjs instance and
 * heap each, one per core); each input is split into contiguous shares, one per worker, and the
 * probabilities come back in input order. Started with `embeddings`, the workers also return
 * each input's embedding (the head's pooled features) through `predictWithEmbeddings`.
 */
import type { BackendChoice } from '../backend/init.js';
import { ThreadChannel, WorkerFailure } from '../util/channel.js';
import { startThread } from '../util/pool.js';
import { shareRows } from '../util/shares.js';
import type { InferenceRuntime } from './runtime.js';
import type { InferReply, InferRequest } from './tfjs-worker.js';

export interface TfjsRuntimeOptions {
  /** Worker threads (default 1). */
  workers?: number;
  backend?: BackendChoice | undefined;
  /** Examples per forward pass in a worker (default 16). */
  micro?: number | undefined;
  /** Also compute embeddings (`predictWithEmbeddings`); default false. */
  embeddings?: boolean | undefined;
}

/** Probabilities (n × outputs) and embeddings (n × dim), row-major, in input order. */
export interface PredictionsWithEmbeddings {
  p: Float32Array;
  e: Float32Array;
}

export interface TfjsRuntime extends InferenceRuntime {
  /** The backend the workers run on, as they describe it. */
  readonly backend: string;
  /** Embedding width (0 unless started with `embeddings`). */
  readonly dim: number;
  /** Probabilities and embeddings; throws unless started with `embeddings`. */
  predictWithEmbeddings(x: Float32Array, n: number): Promise<PredictionsWithEmbeddings>;
}

/** Starts the workers on the model saved in `dir` (a model folder). */
export async function startTfjsRuntime(
  dir: string,
  o: TfjsRuntimeOptions = {},
): Promise<TfjsRuntime> {
  const workers = o.workers ?? 1;
  const micro = o.micro ?? 16;
  const channels = Array.from(
    { length: workers },
    (_, i) =>
      new ThreadChannel<InferRequest, InferReply>(
        startThread('../infer/tfjs-worker', null),
        (message, stack) => new WorkerFailure('inference', i, message, stack),
      ),
  );
  const close = async () => {
    await Promise.all(channels.map((c) => c.terminate()));
  };
  let loaded: Extract<InferReply, { type: 'loaded' }>[];
  try {
    loaded = await Promise.all(
      channels.map((c) =>
        c.call(
          { type: 'load', backend: o.backend ?? 'auto', dir, embeddings: o.embeddings === true },
          'loaded',
        ),
      ),
    );
  } catch (err) {
    await close();
    throw err;
  }
  const first = loaded[0]!;
  const per = first.size * first.size * first.channels;
  const run = async (x: Float32Array, n: number): Promise<PredictionsWithEmbeddings> => {
    if (x.length !== n * per) {
      throw new RangeError(`predict needs ${n} × ${per} inputs, received ${x.length}`);
    }
    const shares = shareRows(x, n, workers, per);
    const replies = await Promise.all(
      shares.map((sh, i) =>
        sh.n === 0
          ? Promise.resolve({ p: new Float32Array(0), e: new Float32Array(0) })
          : channels[i]!.call({ type: 'predict', x: sh.x, n: sh.n, micro }, 'predicted', [
              sh.x.buffer as ArrayBuffer,
            ]).then((r) => ({ p: r.p, e: r.e ?? new Float32Array(0) })),
      ),
    );
    const p = new Float32Array(n * first.outputs);
    const e = new Float32Array(n * first.dim);
    let offP = 0;
    let offE = 0;
    for (const r of replies) {
      p.set(r.p, offP);
      offP += r.p.length;
      e.set(r.e, offE);
      offE += r.e.length;
    }
    return { p, e };
  };
  return {
    backend: first.backend,
    dim: first.dim,
    async predict(x: Float32Array, n: number): Promise<Float32Array> {
      return (await run(x, n)).p;
    },
    async predictWithEmbeddings(x: Float32Array, n: number): Promise<PredictionsWithEmbeddings> {
      if (first.dim === 0) {
        throw new RangeError('predictWithEmbeddings needs a runtime started with embeddings');
      }
      return run(x, n);
    },
    close,
  };
}
