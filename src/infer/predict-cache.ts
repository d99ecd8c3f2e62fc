/**
 * Predicting cache slices with a saved model on every core (what `evaluate` and `compare`
 * score): the inference workers fed by the same BatchLoader training uses (data/input.ts), so the
 * input is exactly what training saw, minus augmentation. Optional test-time augmentation by
 * horizontal flip: the mean of the plain and the mirrored prediction. `predictCacheWithEmbeddings`
 * also returns each slice's embedding (the head's pooled features), as the series stage needs.
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

/** Probabilities (n × 6) and embeddings (n × dim) of cache slices, row-major. */
export interface CachePredictions {
  p: Float32Array;
  e: Float32Array;
  dim: number;
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
  return (await run(dir, cache, positions, o, false)).p;
}

/**
 * Probabilities (n × 6) and embeddings (n × dim: the output of the head's global average
 * pooling, before its dense layer) of the cache slices at `positions` by the model in `dir`.
 * With TTA both are the mean over the passes. The probabilities equal `predictCache`'s.
 *
 * @throws ConfigError when the cache's windows or channel count differ from the model's, or the
 *   model has no ichdet head.
 */
export function predictCacheWithEmbeddings(
  dir: string,
  cache: Cache,
  positions: Int32Array,
  o: PredictCacheOptions,
): Promise<CachePredictions> {
  return run(dir, cache, positions, o, true);
}

async function run(
  dir: string,
  cache: Cache,
  positions: Int32Array,
  o: PredictCacheOptions,
  embeddings: boolean,
): Promise<CachePredictions> {
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
  const runtime = await startTfjsRuntime(dir, { ...o, embeddings });
  const dim = runtime.dim;
  const chunk = 32 * o.workers;
  const out = new Float32Array(positions.length * LABEL_COUNT);
  const emb = new Float32Array(positions.length * dim);
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
      const sumE = new Float32Array(pos.length * dim);
      for (const hflip of passes) {
        const draws = hflip
          ? Array.from(pos, () => ({ hflip: true, vflip: false, crop: null }))
          : null;
        const x = loader.load(pos, draws);
        const r = embeddings
          ? await runtime.predictWithEmbeddings(x, pos.length)
          : { p: await runtime.predict(x, pos.length), e: new Float32Array(0) };
        for (let k = 0; k < r.p.length; k++) sum[k] = sum[k]! + r.p[k]!;
        for (let k = 0; k < r.e.length; k++) sumE[k] = sumE[k]! + r.e[k]!;
      }
      for (let k = 0; k < sum.length; k++) out[from * LABEL_COUNT + k] = sum[k]! / passes.length;
      for (let k = 0; k < sumE.length; k++) emb[from * dim + k] = sumE[k]! / passes.length;
      bar.tick(pos.length);
    }
  } finally {
    bar.stop();
    await runtime.close();
  }
  return { p: out, e: emb, dim };
}
