/**
 * The worker side of `util/pool.ts`: imports the task module named in `workerData` once, then
 * answers `{ id, item }` messages with `{ id, ok, result }` or `{ id, ok: false, error }`.
 * A task module that exports `transferList(result)` has those buffers moved, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';

interface TaskModule {
  runTask: (item: unknown) => unknown;
  /** Optional: the buffers of a result to transfer (not copy) back to the main thread. */
  transferList?: (result: unknown) => ArrayBuffer[];
}

const port = parentPort;
if (!port) throw new Error('pool-worker.ts must run inside a worker thread');
const { taskModule } = workerData as { taskModule: string };
const loaded = import(taskModule) as Promise<TaskModule>;

port.on('message', async (msg: { id: number; item: unknown }) => {
  try {
    const mod = await loaded;
    if (typeof mod.runTask !== 'function') {
      throw new TypeError(`task module ${taskModule} does not export a runTask function`);
    }
    const result = await mod.runTask(msg.item);
    port.postMessage({ id: msg.id, ok: true, result }, mod.transferList?.(result) ?? []);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({
      id: msg.id,
      ok: false,
      error: { name: e.name, message: e.message, stack: e.stack },
    });
  }
});
