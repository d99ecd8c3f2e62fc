/**
 * The worker side of `train-series --workers N` (util/pool.ts task module): trains one fold of
 * the series model with this thread's own single-threaded tfjs, saves it as `SRUN/fold<k>/`,
 * and returns its held-out predictions. Progress goes out and the stop flag comes in through the
 * fold's shared memory (see `trainFoldsInWorkers` in series/train.ts).
 */
import { initBackend } from '../backend/init.js';
import { applyFoldNorm, fitFoldNorm } from './fold-norm.js';
import { type FeatureSet, loadFeatureSeries } from './read-features.js';
import {
  FOLD_PROGRESS_SLOTS,
  FOLD_STOP_OFFSET,
  type FoldResult,
  type FoldTask,
  saveFold,
  trainFold,
} from './train.js';

let backend: Promise<unknown> | undefined;
/** The series models' inputs per features folder (with --fold-norm applied when asked). */
const sets = new Map<string, FeatureSet>();

export async function runTask(item: FoldTask): Promise<FoldResult> {
  const c = item.config;
  backend ??= initBackend(c.backend);
  await backend;
  const key = `${c.features}\0${c.foldNorm}`;
  let set = sets.get(key);
  if (set === undefined) {
    set = loadFeatureSeries(c.features);
    if (c.foldNorm) set = applyFoldNorm(set, fitFoldNorm(set));
    sets.set(key, set);
  }
  const progress = new Float64Array(item.shared, 0, FOLD_PROGRESS_SLOTS);
  const stop = new Int32Array(item.shared, FOLD_STOP_OFFSET, 1);
  const ctl = new AbortController();
  const { model, result } = await trainFold(
    c,
    set,
    item.k,
    (done, _total, epoch, loss) => {
      progress[1] = epoch;
      progress[2] = loss;
      progress[0] = done;
      if (Atomics.load(stop, 0) !== 0 && !ctl.signal.aborted) ctl.abort('stopped');
    },
    ctl.signal,
  );
  try {
    await saveFold(c, item.k, model, result);
  } finally {
    model.dispose();
  }
  return result;
}

/** The prediction buffers move back to the main thread instead of being copied. */
export function transferList(result: FoldResult): ArrayBuffer[] {
  return [result.rows.buffer as ArrayBuffer, result.preds.buffer as ArrayBuffer];
}
