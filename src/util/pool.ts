/**
 * A reusable pool of worker threads that runs one task module over many items and returns the
 * results in item order. The task module exports `runTask(item)` (sync or async); items and
 * results must be structured-cloneable. An error in a task rejects `map` with the item named.
 *
 * Works from compiled `dist/` (`.js` worker) and from TypeScript sources under tsx or vitest: when
 * this module's own URL ends in `.ts`, the worker is started on `pool-worker.ts` with
 * `--import tsx` so it can load TypeScript task modules too.
 */
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';

export interface PoolOptions {
  /** URL of the task module (`new URL('./task.js', import.meta.url)`); `.ts` from sources is fine. */
  taskModule: URL;
  /** Number of worker threads; defaults to `os.availableParallelism()`. */
  size?: number;
}

export interface MapOptions<T, R> {
  /** How an item is named in error messages; defaults to its index. */
  describe?: (item: T, index: number) => string;
  /** Called once per finished item, in completion order (for progress bars). */
  onResult?: (result: R, index: number) => void;
}

/** The message a task failure carries back from the worker. */
interface WorkerReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string; stack?: string };
}

/** Raised when a task fails in a worker; names the item and keeps the worker's stack. */
export class TaskError extends Error {
  override name = 'TaskError';
  constructor(
    readonly item: string,
    readonly causeName: string,
    readonly causeMessage: string,
    readonly workerStack: string | undefined,
  ) {
    super(`task failed on ${item}: ${causeName}: ${causeMessage}`);
  }
}

/** Whether this module runs from TypeScript sources (tsx, vitest) rather than compiled JS. */
function fromSources(): boolean {
  return import.meta.url.endsWith('.ts');
}

export function defaultPoolSize(): number {
  return typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
}

export class WorkerPool {
  readonly size: number;
  private readonly workers: Worker[] = [];
  private readonly taskModule: string;
  private closed = false;

  constructor(opts: PoolOptions) {
    const size = opts.size ?? defaultPoolSize();
    if (!Number.isInteger(size) || size < 1) {
      throw new ConfigError(`pool size must be a positive integer, received ${String(size)}`);
    }
    this.size = size;
    this.taskModule = opts.taskModule.href;
  }

  private spawn(): Worker {
    const ts = fromSources();
    const workerUrl = new URL(ts ? './pool-worker.ts' : './pool-worker.js', import.meta.url);
    const worker = new Worker(workerUrl, {
      workerData: { taskModule: this.taskModule },
      execArgv: ts ? ['--import', 'tsx'] : [],
    });
    worker.unref();
    return worker;
  }

  /** Runs the task over every item; resolves with the results in item order. */
  async map<T, R>(items: readonly T[], opts: MapOptions<T, R> = {}): Promise<R[]> {
    if (this.closed) throw new Error('WorkerPool.map called after close()');
    const describe = opts.describe ?? ((_item: T, index: number) => `item ${index}`);
    const results = new Array<R>(items.length);
    if (items.length === 0) return results;
    while (this.workers.length < Math.min(this.size, items.length)) {
      this.workers.push(this.spawn());
    }
    const active = this.workers.slice(0, Math.min(this.size, items.length));
    let nextIndex = 0;
    let finished = 0;
    return new Promise<R[]>((resolve, reject) => {
      let failed = false;
      const cleanups: (() => void)[] = [];
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        for (const c of cleanups) c();
        // A failed map leaves workers in an unknown state; terminate them, later maps respawn.
        for (const w of this.workers) void w.terminate();
        this.workers.length = 0;
        reject(err);
      };
      const feed = (worker: Worker): void => {
        if (failed || nextIndex >= items.length) return;
        const id = nextIndex++;
        worker.postMessage({ id, item: items[id] });
      };
      for (const worker of active) {
        worker.ref();
        const onMessage = (reply: WorkerReply): void => {
          if (failed) return;
          const item = items[reply.id] as T;
          if (!reply.ok) {
            const e = reply.error ?? { name: 'Error', message: 'unknown worker error' };
            fail(new TaskError(describe(item, reply.id), e.name, e.message, e.stack));
            return;
          }
          results[reply.id] = reply.result as R;
          finished++;
          opts.onResult?.(reply.result as R, reply.id);
          if (finished === items.length) {
            for (const c of cleanups) c();
            resolve(results);
            return;
          }
          feed(worker);
        };
        const onError = (err: Error): void => fail(err);
        const onExit = (code: number): void => {
          if (finished < items.length) fail(new Error(`worker exited with code ${code}`));
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
        cleanups.push(() => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          worker.unref();
        });
        feed(worker);
      }
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** Creates a pool, maps the items, and closes the pool. */
export async function runPool<T, R>(
  opts: PoolOptions,
  items: readonly T[],
  mapOpts: MapOptions<T, R> = {},
): Promise<R[]> {
  const pool = new WorkerPool(opts);
  try {
    return await pool.map(items, mapOpts);
  } finally {
    await pool.close();
  }
}
