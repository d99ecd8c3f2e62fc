/**
 * Predicting cache slices with a saved model on every core: the model workers of the training
 * engine, started from a saved folder, fed by the same BatchLoader (so the input is exactly what
 * training saw, minus augmentation). Optional test-time augmentation by horizontal flip: the
 * mean of the plain and the mirrored prediction.
 */

import type { BackendChoice } from '../backend/init.js';
import type { Cache } from '../data/cache.js';
import { ConfigError } from '../errors.js';
import type { Preprocessing } from '../models/registry.js';
import { readModelMetadata } from '../run/checkpoint.js';
import { createProgress } from '../util/progress.js';
import { NO_AUGMENT } from './augment.js';
import { BatchLoader } from './data.js';
import { ModelWorkers } from './engine.js';

export const TTA_MODES = ['none', 'hflip'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

/** What a saved ichdet model says about its input (written by `train`). */
export interface ModelInput {
  arch: string;
  size: number;
  channels: number;
  context: 0 | 1 | 2;
  cacheChannels: number;
  preprocessing: Preprocessing;
  windows: { name: string; center: number; width: number }[];
}

/** The input description of a saved model; ConfigError when it lacks one (not made by ichdet). */
export function modelInput(dir: string): ModelInput {
  const m = readModelMetadata(dir);
  for (const k of ['arch', 'size', 'channels', 'context', 'preprocessing'] as const) {
    if (m[k] === undefined) {
      throw new ConfigError(
        `${dir}/model.json has no ichdet metadata "${k}"; was it saved by ichdet train?`,
      );
    }
  }
  return m as unknown as ModelInput;
}

/** A saved model loaded in model workers (one per core), each input split among them. */
export interface Predictor {
  readonly input: ModelInput;
  /** Probabilities (n × 6) of n preprocessed inputs (n × size × size × channels). */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Starts `o.workers` model workers on the model in `dir`. */
export async function startPredictor(
  dir: string,
  o: { workers: number; backend?: BackendChoice | undefined; micro?: number | undefined },
): Promise<Predictor> {
  const input = modelInput(dir);
  const workers = await ModelWorkers.start(o.workers, {
    backend: o.backend ?? 'auto',
    arch: input.arch,
    size: input.size,
    channels: input.channels,
    dropout: 0,
    seed: 0,
    weightsFile: null,
    checkpoint: dir,
    freezeBackbone: false,
    loss: 'bce',
    focalGamma: 2,
    bnMomentum: null,
  });
  const per = input.size * input.size * input.channels;
  const micro = o.micro ?? 16;
  return {
    input,
    predict(x: Float32Array, n: number): Promise<Float32Array> {
      if (x.length !== n * per) {
        throw new RangeError(`predict needs ${n} × ${per} inputs, received ${x.length}`);
      }
      const shares = [];
      for (let i = 0, start = 0; i < o.workers; i++) {
        const m = Math.floor(n / o.workers) + (i < n % o.workers ? 1 : 0);
        shares.push({ x: x.slice(start * per, (start + m) * per), n: m });
        start += m;
      }
      return workers.predict(shares, micro);
    },
    close: () => workers.close(),
  };
}

export interface PredictCacheOptions {
  workers: number;
  backend?: BackendChoice;
  tta?: TtaMode;
  /** Examples per forward pass in a worker (default 16). */
  micro?: number;
  progress?: boolean;
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
  const input = modelInput(dir);
  if (cache.config.channels !== input.cacheChannels) {
    throw new ConfigError(
      `cache ${cache.dir} has ${cache.config.channels} channels per slice, the model was trained on ${input.cacheChannels}`,
    );
  }
  const loader = new BatchLoader(
    cache,
    { size: input.size, context: input.context, preprocessing: input.preprocessing },
    NO_AUGMENT,
  );
  const predictor = await startPredictor(dir, o);
  const chunk = 32 * o.workers;
  const out = new Float32Array(positions.length * 6);
  const bar = createProgress({
    total: positions.length,
    label: o.label ?? 'predict',
    unit: 'images',
    enabled: o.progress !== false,
  });
  try {
    for (let from = 0; from < positions.length; from += chunk) {
      const pos = positions.subarray(from, Math.min(positions.length, from + chunk));
      const passes = o.tta === 'hflip' ? [false, true] : [false];
      const sum = new Float32Array(pos.length * 6);
      for (const hflip of passes) {
        const draws = hflip
          ? Array.from(pos, () => ({ hflip: true, vflip: false, crop: null }))
          : null;
        const x = loader.load(pos, draws);
        const p = await predictor.predict(x, pos.length);
        for (let k = 0; k < p.length; k++) sum[k] = sum[k]! + p[k]!;
      }
      for (let k = 0; k < sum.length; k++) out[from * 6 + k] = sum[k]! / passes.length;
      bar.tick(pos.length);
    }
  } finally {
    bar.stop();
    await predictor.close();
  }
  return out;
}
