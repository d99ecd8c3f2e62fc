/**
 * Submitting a flow and following it, shared by every `--queue` command: a flow's parent runs
 * only when all its children have completed, and fails when one of them fails for good. Kept
 * apart from the flows themselves so that `prepare --queue` loads BullMQ and nothing of training.
 */
import { type ConnectionOptions, FlowProducer, type Job, Queue, QueueEvents } from 'bullmq';
import { ConfigError, IchdetError } from '../errors.js';
import { checkRedis, redisOptions } from './connection.js';
import { type FlowSpec, jobId, QUEUE_PREFIX, type QueueName } from './jobs.js';

/** How a submission waits: not at all (`--detach`) or until its flow's parent is done. */
export interface FollowOptions {
  /** Return once submitted (default false: follow the jobs until the parent finishes). */
  detach?: boolean;
  /** One line per change of a job's state. */
  log?: (line: string) => void;
  /** Interval in ms of a full read of the jobs' states, besides the queue's events (default 5000). */
  pollMs?: number;
  signal?: AbortSignal;
}

export interface Submitted {
  /** The flow's parent (the merge, the report). */
  parent: string;
  children: string[];
  /** The parent's return value once followed to completion. */
  result?: unknown;
}

/** Retries of a job that threw (a lost worker is recovered separately, by the stalled check). */
const ATTEMPTS = 2;

export function positive(
  option: string,
  value: number | string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`${option} must be a positive integer, received ${String(value)}`);
  }
  return n;
}

export async function submitFlow(
  redis: string,
  queueName: QueueName,
  plan: FlowSpec | ((queue: Queue) => Promise<FlowSpec>),
  f: FollowOptions,
): Promise<Submitted> {
  const connection = redisOptions(redis);
  const queue = new Queue(queueName, { connection, prefix: QUEUE_PREFIX });
  try {
    await checkRedis(await queue.client, redis);
    const spec = typeof plan === 'function' ? await plan(queue) : plan;
    return await addAndFollow(connection, queue, spec, f);
  } finally {
    await queue.close();
  }
}

async function addAndFollow(
  connection: ConnectionOptions,
  queue: Queue,
  spec: FlowSpec,
  f: FollowOptions,
): Promise<Submitted> {
  const flow = new FlowProducer({ connection, prefix: QUEUE_PREFIX });
  // Listening before the flow is added: the follow wakes on the jobs' events, not on a timer.
  const events = f.detach
    ? undefined
    : new QueueEvents(spec.queue, { connection, prefix: QUEUE_PREFIX });
  try {
    await events?.waitUntilReady();
    const parent = jobId(spec.parent);
    const children = spec.children.map(jobId);
    await flow.add({
      name: spec.parent.name,
      queueName: spec.queue,
      data: spec.parent.data,
      opts: { jobId: parent, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 1000 } },
      children: spec.children.map((c, i) => ({
        name: c.name,
        queueName: spec.queue,
        data: c.data,
        opts: {
          jobId: children[i]!,
          attempts: ATTEMPTS,
          backoff: { type: 'fixed', delay: 1000 },
          failParentOnFailure: true,
        },
      })),
    });
    const log = f.log ?? ((s: string) => process.stderr.write(`${s}\n`));
    log(
      `submitted ${spec.parent.name} ${parent} with ${children.length} jobs on queue ${spec.queue}`,
    );
    if (events === undefined) return { parent, children };
    const result = await follow(queue, events, parent, children, log, f);
    return { parent, children, result };
  } finally {
    await events?.close();
    await flow.close();
  }
}

/**
 * Follows the jobs until the parent completes (its result) or fails (IchdetError). It wakes on
 * the queue's events (a job became active, completed, failed) and then reads only the states of
 * the jobs they name; a full read of every state every `pollMs` covers a missed event.
 */
async function follow(
  queue: Queue,
  events: QueueEvents,
  parent: string,
  children: string[],
  log: (line: string) => void,
  f: FollowOptions,
): Promise<unknown> {
  const seen = new Map<string, string>();
  const mine = new Set([parent, ...children]);
  const pollMs = f.pollMs ?? 5000;
  const dirty = new Set<string>();
  let wake: (() => void) | undefined;
  const onEvent = ({ jobId: id }: { jobId: string }) => {
    if (!mine.has(id)) return;
    dirty.add(id);
    wake?.();
  };
  const onAbort = () => wake?.();
  for (const e of ['active', 'completed', 'failed', 'waiting'] as const) events.on(e, onEvent);
  f.signal?.addEventListener('abort', onAbort);
  let done = 0;
  let full = true;
  try {
    for (;;) {
      if (f.signal?.aborted) {
        throw new IchdetError(`stopped following; the jobs go on (ichdet jobs shows them)`);
      }
      const ids = full ? children : children.filter((id) => dirty.has(id));
      dirty.clear();
      full = false;
      for (const id of ids) {
        const state = await queue.getJobState(id);
        const before = seen.get(id);
        if (before === state) continue;
        seen.set(id, state);
        if (state === 'completed') done++;
        else if (before === 'completed') done--;
        if (state !== 'waiting') log(`${id}: ${state}`);
      }
      const job: Job | undefined = await queue.getJob(parent);
      if (!job) throw new IchdetError(`job ${parent} is not on queue ${queue.name} (removed?)`);
      const state = await job.getState();
      if (seen.get(parent) !== state) {
        seen.set(parent, state);
        log(`${parent}: ${state} (${done}/${children.length} jobs completed)`);
      }
      // Read again: the job may have finished between reading it and reading its state.
      const settled =
        state === 'completed' || state === 'failed' ? await queue.getJob(parent) : job;
      if (state === 'completed') return settled?.returnvalue;
      if (state === 'failed') {
        let reason = settled?.failedReason ?? '';
        for (const id of children) {
          const c = await queue.getJob(id);
          if (c && (await c.getState()) === 'failed') reason = `${id}: ${c.failedReason}`;
        }
        throw new IchdetError(`job ${parent} failed: ${reason}`);
      }
      if (dirty.size > 0) continue;
      await new Promise<void>((r) => {
        const timer = setTimeout(() => {
          full = true;
          r();
        }, pollMs);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      wake = undefined;
    }
  } finally {
    for (const e of ['active', 'completed', 'failed', 'waiting'] as const) events.off(e, onEvent);
    f.signal?.removeEventListener('abort', onAbort);
  }
}
