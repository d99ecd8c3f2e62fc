/**
 * Predicting cache slices with a saved model on every core (what `evaluate` and `compare`
 * score): the inference workers fed by the same BatchLoader training uses (data/input.ts), so the
 * input is exactly what training saw, minus augmentation. Optional test-time augmentation by
 * horizontal flip: the mean of the plain and the mirrored prediction.
 */
import type { BackendChoice } from '../backend/init.js';
import type { Cache } from '../data/cache.js';
import { BatchLoader } from '../data/input.js';
import { ConfigError, checkAborted } from '../errors.js';
import { LABEL_COUNT } from '../labels.js';
import { inputCard } from '../run/model-card.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import type { TtaMode } from './runtime.js';
import { startTfjsRuntime } from './tfjs-runtime.js';

export interface PredictCacheOptions {
  workers: number;
  backend?: BackendChoice;
  tta?: TtaMode;
  /** Examples per forward pass in a worker (default 16). */
  micro?: number;
  progress?: boolean;
  /** Progress events (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter | undefined;
  /** Stops between batches with `Interrupted`. */
  signal?: AbortSignal | undefined;
  label?: string;
}

/**
 * Probabilities (n × 6, row-major) of the cache slices at `positions` by the model in `dir`.
 *
 * @throws ConfigError when the cache's windows or channel count differ from the model's.
 */
export async function predictCache(
  dir: string,
  cache: Cache,
  positions: Int32Array,
  o: PredictCacheOptions,
): Promise<Float32Array> {
  const input = inputCard(dir);
  if (cache.config.channels !== input.cacheChannels) {
    throw new ConfigError(
      `cache ${cache.dir} has ${cache.config.channels} channels per slice, the model was trained on ${input.cacheChannels}`,
    );
  }
  const loader = new BatchLoader(cache, {
    size: input.size,
    context: input.context,
    preprocessing: input.preprocessing,
  });
  const runtime = await startTfjsRuntime(dir, o);
  const chunk = 32 * o.workers;
  const out = new Float32Array(positions.length * LABEL_COUNT);
  const bar = reporterOf(o).task({
    total: positions.length,
    label: o.label ?? 'predict',
    unit: 'images',
  });
  try {
    for (let from = 0; from < positions.length; from += chunk) {
      checkAborted(o.signal, `prediction stopped after ${from} of ${positions.length} images`);
      const pos = positions.subarray(from, Math.min(positions.length, from + chunk));
      const passes = o.tta === 'hflip' ? [false, true] : [false];
      const sum = new Float32Array(pos.length * LABEL_COUNT);
      for (const hflip of passes) {
        const draws = hflip
          ? Array.from(pos, () => ({ hflip: true, vflip: false, crop: null }))
          : null;
        const x = loader.load(pos, draws);
        const p = await runtime.predict(x, pos.length);
        for (let k = 0; k < p.length; k++) sum[k] = sum[k]! + p[k]!;
      }
      for (let k = 0; k < sum.length; k++) out[from * LABEL_COUNT + k] = sum[k]! / passes.length;
      bar.tick(pos.length);
    }
  } finally {
    bar.stop();
    await runtime.close();
  }
  return out;
}
