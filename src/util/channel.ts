/**
 * One request at a time to a worker thread, and its reply: the request/reply channel under the
 * training engine's model workers and the inference runtime's. A worker replies to every request
 * with one message; `{type: 'error', name, message, stack}` rejects the call, as do the worker's
 * own `error` and `exit` events (also for calls made after it died).
 */
import type { Worker } from 'node:worker_threads';
import { IchdetError } from '../errors.js';

/** Raised when a worker thread fails; keeps the worker's message and stack. */
export class WorkerFailure extends IchdetError {
  override name = 'WorkerFailure';
  constructor(
    /** What the worker does: `training`, `inference`. */
    readonly role: string,
    readonly worker: number,
    message: string,
    readonly workerStack?: string,
  ) {
    super(`${role} worker ${worker}: ${message}`);
  }
}

/** The error reply every channel worker sends when a request fails. */
export interface ErrorReply {
  type: 'error';
  name: string;
  message: string;
  stack?: string;
}

export class ThreadChannel<Req extends { type: string }, Rep extends { type: string }> {
  private pending: ((r: Rep | ErrorReply) => void) | undefined;
  private failed: Error | undefined;

  /** `fail` turns a worker-side message (and stack) into the error a call rejects with. */
  constructor(
    readonly worker: Worker,
    private readonly fail: (message: string, stack?: string) => Error,
  ) {
    worker.on('message', (r: Rep | ErrorReply) => {
      const f = this.pending;
      this.pending = undefined;
      f?.(r);
    });
    const onError = (e: Error) => {
      this.failed = e;
      const f = this.pending;
      this.pending = undefined;
      f?.({ type: 'error', name: e.name, message: e.message, stack: e.stack });
    };
    worker.on('error', onError);
    worker.on('exit', (code) => {
      if (this.failed === undefined) onError(new Error(`exited with code ${code}`));
    });
  }

  /** Sends `req`; resolves with the reply of type `expect`. */
  call<T extends Rep['type']>(
    req: Req,
    expect: T,
    transfer: ArrayBuffer[] = [],
  ): Promise<Extract<Rep, { type: T }>> {
    if (this.failed) return Promise.reject(this.fail(this.failed.message, this.failed.stack));
    return new Promise((resolve, reject) => {
      this.pending = (r) => {
        if (r.type === 'error') {
          const e = r as ErrorReply;
          reject(this.fail(`${e.name}: ${e.message}`, e.stack));
        } else if (r.type !== expect) reject(this.fail(`replied "${r.type}" to "${req.type}"`));
        else resolve(r as Extract<Rep, { type: T }>);
      };
      this.worker.postMessage(req, transfer);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Runs `handle` on every request a worker thread receives and posts its reply (or the error). */
export function serveRequests<Req, Rep extends { type: string }>(
  port: {
    on(event: 'message', f: (r: Req) => void): void;
    postMessage(m: unknown, t?: ArrayBuffer[]): void;
  },
  handle: (r: Req) => Promise<Rep> | Rep,
  transferOf: (r: Rep) => ArrayBuffer[] = () => [],
): void {
  port.on('message', (r: Req) => {
    Promise.resolve()
      .then(() => handle(r))
      .then(
        (reply) => port.postMessage(reply, transferOf(reply)),
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          port.postMessage({
            type: 'error',
            name: e.name,
            message: e.message,
            stack: e.stack,
          } satisfies ErrorReply);
        },
      );
  });
}
