/**
 * A reusable pool of worker threads that runs one task module over many items. The task module
 * exports `runTask(item)` (sync or async); items and results must be structured-cloneable.
 * `map` returns results in item order; `run` queues one item (so a caller can keep submitting
 * work while earlier items run). A failed task rejects with a TaskError naming the item.
 *
 * Works from compiled `dist/` (`.js` worker) and from TypeScript sources under tsx or vitest: when
 * this module's own URL ends in `.ts`, the worker registers tsx's loader hooks and then imports
 * `pool-worker.ts`, so it can load TypeScript task modules too.
 */
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';

export interface PoolOptions {
  /** URL of the task module (`new URL('./task.js', import.meta.url)`); `.ts` from sources is fine. */
  taskModule: URL;
  /** Number of worker threads; defaults to `os.availableParallelism()`. */
  size?: number;
}

export interface MapOptions<T, R> {
  /** How an item is named in error messages; defaults to `item <index>`. */
  describe?: (item: T, index: number) => string;
  /** Called once per finished item, in completion order (for progress bars). */
  onResult?: (result: R, index: number) => void;
}

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

/**
 * Starts a worker thread on the module `util/<name>` or any module beside this one reached by
 * a relative `name` (`../train/worker`), from compiled JS or from TypeScript sources alike.
 */
export function startThread(name: string, workerData: unknown): Worker {
  if (fromSources()) {
    // From sources the worker must load TypeScript: register tsx's ESM hooks inside the new
    // thread first (a worker's `--import tsx` does not cover its own entry file on Node 20).
    const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
    const tsxApi = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
    const entry = new URL(`./${name}.ts`, import.meta.url).href;
    const boot =
      `import(${JSON.stringify(tsxApi)})` +
      `.then((m) => { m.register(); return import(${JSON.stringify(entry)}); })` +
      '.catch((e) => { setImmediate(() => { throw e; }); });';
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(new URL(`./${name}.js`, import.meta.url), { workerData });
}

interface Pending {
  id: number;
  item: unknown;
  label: string;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
}

export class WorkerPool {
  readonly size: number;
  private readonly taskModule: string;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
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
    return startThread('pool-worker', { taskModule: this.taskModule });
  }

  /** Starts every worker now (they load the task module while the caller prepares work). */
  start(): void {
    if (this.closed) throw new Error('WorkerPool.start called after close()');
    while (this.slots.length < this.size) this.addSlot();
  }

  private addSlot(): Slot {
    const slot: Slot = { worker: this.spawn(), busy: undefined };
    slot.worker.on('message', (reply: WorkerReply) => {
      const job = slot.busy;
      slot.busy = undefined;
      if (job && reply.id === job.id) {
        if (reply.ok) job.resolve(reply.result);
        else {
          const e = reply.error ?? { name: 'Error', message: 'unknown worker error' };
          job.reject(new TaskError(job.label, e.name, e.message, e.stack));
        }
      }
      this.dispatch();
    });
    const fail = (err: Error): void => {
      const job = slot.busy;
      slot.busy = undefined;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (job) job.reject(new TaskError(job.label, err.name, err.message, err.stack));
      if (!this.closed) this.dispatch();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`worker exited with code ${code}`));
    });
    slot.worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.addSlot();
      if (!slot) break;
      const job = this.queue.shift()!;
      slot.busy = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, item: job.item });
    }
    for (const s of this.slots) if (!s.busy) s.worker.unref();
  }

  /** Queues one item; resolves with its result. `label` names it in errors. */
  run<T, R>(item: T, label = `item ${this.nextId}`): Promise<R> {
    if (this.closed) return Promise.reject(new Error('WorkerPool.run called after close()'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        item,
        label,
        resolve: resolve as (r: unknown) => void,
        reject,
      });
      this.dispatch();
    });
  }

  /** Runs the task over every item; resolves with the results in item order. */
  async map<T, R>(items: readonly T[], opts: MapOptions<T, R> = {}): Promise<R[]> {
    const describe = opts.describe ?? ((_item: T, index: number) => `item ${index}`);
    return Promise.all(
      items.map(async (item, i) => {
        const r = await this.run<T, R>(item, describe(item, i));
        opts.onResult?.(r, i);
        return r;
      }),
    );
  }

  /** Stops every worker; queued items are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('worker pool closed'));
    const ws = this.slots.splice(0).map((s) => s.worker);
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
