/**
 * `ichdet worker`: takes jobs from the listed queues and runs each in a sandboxed child process
 * (processor.ts). A worker that dies (SIGKILL, a lost machine) stops renewing its jobs' locks;
 * after `lockMs` another worker's stalled-job check moves them back to waiting and someone else
 * runs them again (at most `maxStalled` times). SIGTERM closes gracefully: no new jobs, the
 * running ones finish.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ChildPool, Queue, Worker } from 'bullmq';
import { ConfigError } from '../errors.js';
import { checkRedis, redisOptions } from './connection.js';
import {
  QUEUE_NAMES,
  QUEUE_PREFIX,
  type QueueName,
  STORE_ENV,
  WARM_ENV,
  workerName,
} from './jobs.js';

export interface WorkerOptions {
  /** `redis://host:port`. */
  redis: string;
  /** The shared folder every worker sees. */
  store: string;
  /** Queues served (default all). */
  queues?: string | readonly string[];
  /** Jobs run at once per queue (default 1). */
  concurrency?: number;
  /** Lock duration in ms: how long a lost worker's job waits before it is retried (default 30000). */
  lockMs?: number;
  /** How often stalled jobs are looked for, in ms (default lockMs). */
  stalledMs?: number;
  /** How many times a job may be recovered from a lost worker before it fails (default 5). */
  maxStalled?: number;
  /** Stops the worker (closes gracefully). */
  signal?: AbortSignal;
  /** One human line per event. */
  log?: (line: string) => void;
  /** One JSON object per event. */
  event?: (e: Record<string, unknown>) => void;
}

/** Parses `train,predict` into known queue names. @throws ConfigError */
export function parseQueues(q: string | readonly string[] | undefined): QueueName[] {
  if (q === undefined) return [...QUEUE_NAMES];
  const list = typeof q === 'string' ? q.split(',').map((s) => s.trim()) : [...q];
  for (const name of list) {
    if (!(QUEUE_NAMES as readonly string[]).includes(name)) {
      throw new ConfigError(
        `--queues must list ${QUEUE_NAMES.join(', ')}, received "${Array.isArray(q) ? q.join(',') : q}"`,
      );
    }
  }
  if (list.length === 0) throw new ConfigError('--queues lists no queue');
  return list as QueueName[];
}

/** The processor file next to this one (`.ts` from sources, `.js` from dist). */
export function processorFile(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./processor${ext}`, import.meta.url));
}

function positive(option: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new ConfigError(`${option} must be a positive integer, received ${String(value)}`);
  }
  return v;
}

/**
 * Starts `n` sandboxed job processes of `w` before it takes a job (BullMQ otherwise forks one
 * when a job arrives, and the job waits for it to load), and returns their pids. BullMQ keeps
 * them and hands each job a free one. BullMQ has no option for this: its child pool is reached
 * as a field; a BullMQ without it starts none here (the jobs then fork them, as before).
 */
async function startJobProcesses(w: Worker, file: string, n: number): Promise<number[]> {
  const pool = (w as unknown as { childPool?: ChildPool }).childPool;
  if (pool === undefined || typeof pool.retain !== 'function') return [];
  const children = await Promise.all(Array.from({ length: n }, () => pool.retain(file)));
  for (const c of children) pool.release(c);
  return children.map((c) => c.pid);
}

/** Checks Redis, then serves the queues until `signal` aborts; resolves once closed. */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const event = o.event ?? (() => {});
  const connection = redisOptions(o.redis);
  const queues = parseQueues(o.queues);
  const concurrency = positive('--concurrency', o.concurrency, 1);
  const lockDuration = positive('--lock-ms', o.lockMs, 30_000);
  const stalledInterval = positive('--stalled-ms', o.stalledMs, lockDuration);
  const maxStalledCount = positive('--max-stalled', o.maxStalled, 5);
  const store = resolve(o.store);
  const probe = new Queue(queues[0]!, { connection, prefix: QUEUE_PREFIX });
  try {
    await checkRedis(await probe.client, o.redis);
  } finally {
    await probe.close();
  }
  process.env[STORE_ENV] = store;
  // host:c<concurrency>:pid — the submitter sizes a prepare's default --shards from the live
  // workers' concurrency (workerName, submit.ts).
  const name = workerName(concurrency);
  const workers = queues.map((q) => {
    const w = new Worker(q, processorFile(), {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount,
      name,
      // Started below, once its job processes are (prepare's: loaded and warm).
      autorun: false,
      ...(q === 'prepare' && {
        workerForkOptions: { env: { ...process.env, [WARM_ENV]: 'prepare' } },
      }),
    });
    w.on('active', (job) => {
      log(`${q}: ${job.id} (${job.name}) started`);
      event({ event: 'active', queue: q, job: job.id, name: job.name, worker: name });
    });
    w.on('completed', (job) => {
      log(`${q}: ${job.id} (${job.name}) completed`);
      event({ event: 'completed', queue: q, job: job.id, name: job.name, worker: name });
    });
    w.on('failed', (job, err) => {
      log(`${q}: ${job?.id} (${job?.name}) failed: ${err.message}`);
      event({ event: 'failed', queue: q, job: job?.id, error: err.message, worker: name });
    });
    w.on('stalled', (id) => {
      log(`${q}: ${id} stalled (its worker was lost); it runs again`);
      event({ event: 'stalled', queue: q, job: id, worker: name });
    });
    w.on('error', (err) => log(`${q}: ${err.message}`));
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // A prepare job is short: its job processes start now, not when the first job waits for them.
  const jobProcesses: number[] = [];
  for (const [i, q] of queues.entries()) {
    if (q === 'prepare') {
      try {
        jobProcesses.push(...(await startJobProcesses(workers[i]!, processorFile(), concurrency)));
      } catch (err) {
        // The jobs fork their processes then, as BullMQ does by default.
        log(`${q}: could not start job processes ahead: ${(err as Error).message}`);
      }
    }
  }
  for (const w of workers) w.run().catch((err: Error) => w.emit('error', err));
  log(`worker ${name} serving ${queues.join(', ')} (store ${store}, concurrency ${concurrency})`);
  event({ event: 'ready', worker: name, queues, store, pid: process.pid, jobProcesses });
  await new Promise<void>((done) => {
    if (o.signal?.aborted) done();
    o.signal?.addEventListener('abort', () => done(), { once: true });
  });
  log(`worker ${name} closing: running jobs finish, no new ones are taken`);
  await Promise.all(workers.map((w) => w.close()));
}
