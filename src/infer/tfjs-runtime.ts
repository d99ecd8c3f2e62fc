/**
 * The tfjs runtime: a saved model loaded in `workers` inference workers (one tfjs instance and
 * heap each, one per core); each input is split into contiguous shares, one per worker, and the
 * probabilities come back in input order.
 */
import type { BackendChoice } from '../backend/init.js';
import { ThreadChannel, WorkerFailure } from '../util/channel.js';
import { startThread } from '../util/pool.js';
import type { InferenceRuntime } from './runtime.js';
import type { InferReply, InferRequest } from './tfjs-worker.js';

export interface TfjsRuntimeOptions {
  /** Worker threads (default 1). */
  workers?: number;
  backend?: BackendChoice | undefined;
  /** Examples per forward pass in a worker (default 16). */
  micro?: number | undefined;
}

export interface TfjsRuntime extends InferenceRuntime {
  /** The backend the workers run on, as they describe it. */
  readonly backend: string;
}

/** Splits n rows of `per` values into `k` contiguous shares (copies, to be transferred). */
export function shareRows(x: Float32Array, n: number, k: number, per: number) {
  const shares: { x: Float32Array; n: number }[] = [];
  for (let i = 0, start = 0; i < k; i++) {
    const m = Math.floor(n / k) + (i < n % k ? 1 : 0);
    shares.push({ x: x.slice(start * per, (start + m) * per), n: m });
    start += m;
  }
  return shares;
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
      channels.map((c) => c.call({ type: 'load', backend: o.backend ?? 'auto', dir }, 'loaded')),
    );
  } catch (err) {
    await close();
    throw err;
  }
  const first = loaded[0]!;
  const per = first.size * first.size * first.channels;
  return {
    backend: first.backend,
    async predict(x: Float32Array, n: number): Promise<Float32Array> {
      if (x.length !== n * per) {
        throw new RangeError(`predict needs ${n} × ${per} inputs, received ${x.length}`);
      }
      const shares = shareRows(x, n, workers, per);
      const replies = await Promise.all(
        shares.map((sh, i) =>
          sh.n === 0
            ? Promise.resolve(new Float32Array(0))
            : channels[i]!.call({ type: 'predict', x: sh.x, n: sh.n, micro }, 'predicted', [
                sh.x.buffer as ArrayBuffer,
              ]).then((r) => r.p),
        ),
      );
      const out = new Float32Array(n * first.outputs);
      let off = 0;
      for (const p of replies) {
        out.set(p, off);
        off += p.length;
      }
      return out;
    },
    close,
  };
}
