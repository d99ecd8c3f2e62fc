/**
 * The training loop: epochs over the training split in a seeded order, data-parallel steps on
 * the model workers, validation after every epoch, `RUN/metrics.jsonl`, `RUN/last/` (every epoch
 * and every `checkpointMinutes` within one) and `RUN/best/` (the reference's ModelCheckpoint on
 * `--monitor`). Everything random is a function of (seed, epoch, position): the data order, each
 * example's augmentation, dropout. So a run resumed from `RUN/last/` — even after SIGKILL —
 * continues exactly as if it had never stopped (with the same worker count: the workers'
 * micro-batches decide the float summation order).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Cache, ichdetVersion, openCache } from '../data/cache.js';
import { BatchLoader, type InputSpec, inputChannels } from '../data/input.js';
import { ConfigError, checkAborted, InputError } from '../errors.js';
import { rocAuc } from '../eval/auc.js';
import { weightedLogLoss } from '../eval/logloss.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { archSpec } from '../models/index.js';
import { downloadWeights, weightsPath } from '../models/weights.js';
import { readTrainConfig } from '../run/config.js';
import { recoverFolder, writeFolder } from '../run/folder.js';
import {
  BEST_DIR,
  CONFIG_FILE,
  LAST_DIR,
  METRICS_FILE,
  OPTIMIZER_BIN,
  OPTIMIZER_JSON,
  STATE_FILE,
} from '../run/layout.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { hashInts } from '../util/rng.js';
import { parseAugment } from './augment.js';
import {
  microBatchFor,
  resolveTrainConfig,
  type TrainConfig,
  type TrainOptionsInput,
} from './config.js';
import { epochOrder, exampleDraw } from './data.js';
import { ModelWorkers } from './engine.js';
import { lossSumArrays } from './loss.js';
import {
  createOptimizer,
  deserializeOptimizer,
  type OptimizerState,
  serializeOptimizer,
} from './optim.js';
import { readSplitCsv, resolveSplit } from './split-file.js';

/** One line of metrics.jsonl. */
export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch's batches (the configured loss). */
  trainLoss: number;
  /** Validation: mean of the configured loss, BCE, RSNA weighted log loss, AUC per label. */
  valLoss: number;
  valBce: number;
  valWeightedLogLoss: number;
  valAuc: Record<string, number | null>;
  valMeanAuc: number | null;
  /** Training images per second over the epoch (validation excluded). */
  imagesPerSecond: number;
  /** Seconds of the epoch, validation included. */
  seconds: number;
  /** Whether RUN/best/ was saved after this epoch. */
  best: boolean;
}

interface RunState {
  /** Epoch in progress (0-based). */
  epoch: number;
  /** Batches done within it. */
  step: number;
  trainLossSum: number;
  trainImages: number;
  trainSeconds: number;
  epochSeconds: number;
  history: EpochRecord[];
  best: { epoch: number; value: number } | null;
  /** Seconds spent training in all, over every resumption. */
  totalSeconds: number;
}

/** Options of `train`: cache, split and arch are required unless `resume`. */
export interface TrainOptions extends Partial<Omit<TrainOptionsInput, 'out'>> {
  out: string;
  /** Continue the run in `out` from its `last/` checkpoint (other options are then ignored). */
  resume?: boolean;
  /** Progress bars on stderr (default true; drawn only on a TTY). */
  progress?: boolean;
  /** One line per epoch (default: the reporter's log). */
  log?: (line: string) => void;
  /** Progress events and log lines (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter;
  /**
   * Stops the run at the next step: `RUN/last/` is written first, then `Interrupted` is thrown;
   * `resume` continues exactly where it stopped.
   */
  signal?: AbortSignal;
}

export interface TrainResult {
  out: string;
  config: TrainConfig;
  backend: string;
  history: EpochRecord[];
  best: { epoch: number; value: number } | null;
  /** Optimiser steps taken in all. */
  steps: number;
  /** Whether the run finished every epoch (false when stopped by maxSteps). */
  complete: boolean;
  /** Training images per second over this invocation's steps. */
  imagesPerSecond: number;
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function resolveWeightsFile(c: TrainConfig, log: (s: string) => void): Promise<string | null> {
  if (c.weights === 'none') return Promise.resolve(null);
  if (c.weights === 'imagenet') {
    const path = weightsPath(c.arch);
    if (existsSync(path)) return Promise.resolve(path);
    log(`ImageNet weights for ${c.arch} not in the cache; downloading (ichdet weights download)`);
    return downloadWeights(c.arch).then(() => path);
  }
  if (!existsSync(c.weights)) {
    throw new ConfigError(
      `--weights must be imagenet, none or an existing .h5 file, received "${c.weights}"`,
    );
  }
  return Promise.resolve(resolve(c.weights));
}

function monitorValue(c: TrainConfig, r: EpochRecord): number | null {
  if (c.monitor === 'loss') return r.valLoss;
  if (c.monitor === 'weighted_log_loss') return r.valWeightedLogLoss;
  return r.valMeanAuc;
}

function improves(c: TrainConfig, value: number | null, best: RunState['best']): boolean {
  if (value === null || !Number.isFinite(value)) return false;
  if (best === null) return true;
  return c.monitor === 'mean_auc' ? value > best.value : value < best.value;
}

/** Splits rows [0, n) of an n×per batch into `k` contiguous shares as separate buffers. */
function shareOut(x: Float32Array, y: Float32Array, n: number, k: number, per: number) {
  const shares: { x: Float32Array; y: Float32Array; n: number }[] = [];
  for (let i = 0, start = 0; i < k; i++) {
    const m = Math.floor(n / k) + (i < n % k ? 1 : 0);
    shares.push({
      x: x.slice(start * per, (start + m) * per),
      y: y.slice(start * LABEL_COUNT, (start + m) * LABEL_COUNT),
      n: m,
    });
    start += m;
  }
  return shares;
}

function labelsOf(cache: Cache, positions: ArrayLike<number>, rows: ReturnType<Cache['rows']>) {
  const y = new Float32Array(positions.length * LABEL_COUNT);
  for (let i = 0; i < positions.length; i++) {
    const labels = rows[positions[i]!]!.labels;
    for (let l = 0; l < LABEL_COUNT; l++) {
      const v = labels[l]!;
      if (v !== 0 && v !== 1) {
        throw new InputError(
          `cache ${cache.dir}: image ${rows[positions[i]!]!.imageId} has no ${LABEL_NAMES[l]} label; training needs labelled images`,
        );
      }
      y[i * LABEL_COUNT + l] = v;
    }
  }
  return y;
}

/** Validation metrics from labels y and probabilities p (n × 6). */
export function validationMetrics(c: TrainConfig, y: Float32Array, p: Float32Array) {
  const n = y.length / LABEL_COUNT;
  if (!p.every(Number.isFinite)) {
    // A diverged model: logged as such (NaN, null) instead of stopping the run.
    return {
      valLoss: Number.NaN,
      valBce: Number.NaN,
      valWeightedLogLoss: Number.NaN,
      valAuc: Object.fromEntries(LABEL_NAMES.map((l) => [l, null])) as Record<
        string,
        number | null
      >,
      valMeanAuc: null,
    };
  }
  const valAuc: Record<string, number | null> = {};
  const defined: number[] = [];
  for (const [l, name] of LABEL_NAMES.entries()) {
    const yl = new Float32Array(n);
    const pl = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      yl[i] = y[i * LABEL_COUNT + l]!;
      pl[i] = p[i * LABEL_COUNT + l]!;
    }
    const auc = rocAuc(yl, pl);
    valAuc[name] = auc;
    if (auc !== null) defined.push(auc);
  }
  return {
    valLoss: n > 0 ? lossSumArrays(c.loss, y, p, LABEL_COUNT, c.focalGamma) / n : Number.NaN,
    valBce: n > 0 ? lossSumArrays('bce', y, p, LABEL_COUNT) / n : Number.NaN,
    valWeightedLogLoss: n > 0 ? weightedLogLoss(y, p, n) : Number.NaN,
    valAuc,
    valMeanAuc: defined.length > 0 ? defined.reduce((a, b) => a + b, 0) / defined.length : null,
  };
}

function loadConfig(out: string): TrainConfig {
  const file = join(out, CONFIG_FILE);
  if (!existsSync(file)) {
    throw new ConfigError(`--resume: ${out} holds no run (${CONFIG_FILE} is missing)`);
  }
  return readTrainConfig(file);
}

/**
 * Trains one model (or resumes one) as configured; see the module comment.
 *
 * @throws ConfigError for bad options, a RUN folder that already holds a run without `resume`;
 *   InputError for an unreadable cache or split file.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const reporter = reporterOf(o);
  const log = (s: string) => reporter.log(s);
  const out = resolve(o.out);
  let config: TrainConfig;
  if (o.resume) {
    config = { ...loadConfig(out), maxSteps: o.maxSteps ?? null };
    recoverFolder(out, LAST_DIR, STATE_FILE);
  } else {
    const { cache, split, arch } = o;
    for (const [k, v] of Object.entries({ cache, split, arch })) {
      if (v === undefined || v === '') {
        throw new ConfigError(`--${k} is required (unless --resume)`);
      }
    }
    config = resolveTrainConfig({ ...o, cache: cache!, split: split!, arch: arch! });
    config = { ...config, cache: resolve(config.cache), split: resolve(config.split) };
    if (existsSync(join(out, CONFIG_FILE))) {
      throw new ConfigError(
        `${out} already holds a training run; continue it with --resume or choose another --out`,
      );
    }
  }
  const augment = parseAugment(config.augment);
  const spec = archSpec(config.arch);
  const cache = openCache(config.cache);
  try {
    const rows = cache.rows();
    const split = resolveSplit(cache, readSplitCsv(config.split), {
      train: config.trainSplits,
      val: config.valSplit,
    });
    const channels = inputChannels(cache.config.channels, config.context);
    const input: InputSpec = {
      size: config.size,
      context: config.context,
      preprocessing: spec.preprocessing,
    };
    const loader = new BatchLoader(cache, input);
    const per = config.size * config.size * channels;
    const lastDir = join(out, LAST_DIR);
    // A run killed before its first checkpoint starts again from its initial weights.
    const resuming = o.resume === true && existsSync(join(lastDir, STATE_FILE));
    const weightsFile = resuming ? null : await resolveWeightsFile(config, log);
    if (!o.resume) {
      mkdirSync(out, { recursive: true });
      // maxSteps bounds this invocation only; a resumed run goes on to its last epoch.
      const saved = { ...config, maxSteps: null };
      writeFileSync(join(out, CONFIG_FILE), `${JSON.stringify(saved, null, 2)}\n`);
    }

    const workers = await ModelWorkers.start(config.workers, {
      backend: config.backend,
      arch: config.arch,
      size: config.size,
      channels,
      dropout: config.dropout,
      seed: config.seed,
      weightsFile,
      checkpoint: resuming ? lastDir : null,
      freezeBackbone: config.freezeBackbone,
      loss: config.loss,
      focalGamma: config.focalGamma,
      bnMomentum: config.bnMomentum ?? null,
    });
    try {
      return await runLoop();
    } finally {
      await workers.close();
    }

    async function runLoop(): Promise<TrainResult> {
      let opt: OptimizerState;
      let state: RunState;
      if (resuming) {
        const h = readFileSync(join(lastDir, OPTIMIZER_JSON), 'utf8');
        opt = deserializeOptimizer(
          h,
          readFileSync(join(lastDir, OPTIMIZER_BIN)),
          join(lastDir, OPTIMIZER_BIN),
        );
        const names = (JSON.parse(h) as { names?: string[] }).names;
        if (names && names.join('\n') !== workers.trainable.map((t) => t.name).join('\n')) {
          throw new InputError(
            `${lastDir}: the optimiser state does not match the model's weights`,
          );
        }
        state = readJson<RunState>(join(lastDir, STATE_FILE));
        log(
          `resuming ${out} at epoch ${state.epoch + 1}, step ${state.step} (${opt.step} steps done)`,
        );
      } else {
        opt = createOptimizer(config.optimizer, config.lr, workers.params.length);
        state = {
          epoch: 0,
          step: 0,
          trainLossSum: 0,
          trainImages: 0,
          trainSeconds: 0,
          epochSeconds: 0,
          history: [],
          best: null,
          totalSeconds: 0,
        };
      }
      const share = Math.ceil(config.batch / config.workers);
      const micro = microBatchFor(config, share);
      log(
        `training ${config.arch} at ${config.size}² × ${channels} channels on ${config.workers} worker(s), ` +
          `${workers.backend}; batch ${config.batch} in micro-batches of ≤ ${micro}; ` +
          `${split.train.length} training examples, ${split.val.length} validation images`,
      );
      const metadata = (extra: Record<string, unknown>) => ({
        arch: config.arch,
        size: config.size,
        channels,
        context: config.context,
        cacheChannels: cache.config.channels,
        cacheSize: cache.config.size,
        windows: cache.config.windows,
        rsnaFix: cache.config.rsnaFix,
        preprocessing: spec.preprocessing,
        labels: [...LABEL_NAMES],
        ichdetVersion: ichdetVersion(),
        ...extra,
      });
      const saveLast = async () => {
        await writeFolder(out, LAST_DIR, async (tmp) => {
          await workers.save(
            tmp,
            metadata({ epoch: state.epoch, step: state.step, optimizerSteps: opt.step }),
          );
          const s = serializeOptimizer(opt);
          const header = JSON.parse(s.json) as Record<string, unknown>;
          header.names = workers.trainable.map((t) => t.name);
          writeFileSync(join(tmp, OPTIMIZER_BIN), s.data);
          writeFileSync(join(tmp, OPTIMIZER_JSON), `${JSON.stringify(header)}\n`);
          writeFileSync(join(tmp, STATE_FILE), `${JSON.stringify(state)}\n`);
        });
      };

      const writeMetrics = () =>
        writeFileSync(
          join(out, METRICS_FILE),
          state.history.map((h) => `${JSON.stringify(h)}\n`).join(''),
        );
      if (resuming) writeMetrics();
      const stepsPerEpoch = Math.ceil(split.train.length / config.batch);
      let stopped = false;
      let sessionImages = 0;
      let sessionSeconds = 0;
      let lastSave = performance.now();
      while (state.epoch < config.epochs && !stopped) {
        const e = state.epoch;
        const order = epochOrder(split.train, config.seed, e);
        const bar = reporter.task({
          total: order.length,
          label: `epoch ${e + 1}/${config.epochs}`,
          unit: 'images',
        });
        bar.tick(Math.min(order.length, state.step * config.batch));
        const batchAt = (s: number) => {
          const from = s * config.batch;
          const positions = order.subarray(from, Math.min(order.length, from + config.batch));
          const draws = Array.from(positions, (_, j) =>
            exampleDraw(augment, config.seed, e, from + j, cache.config.size),
          );
          const x = loader.load(positions, draws);
          const y = labelsOf(cache, positions, rows);
          return { x, y, n: positions.length };
        };
        try {
          let next = state.step < stepsPerEpoch ? batchAt(state.step) : undefined;
          while (next !== undefined) {
            if (config.maxSteps !== null && opt.step >= config.maxSteps) {
              stopped = true;
              break;
            }
            if (o.signal?.aborted === true) {
              stopped = true;
              break;
            }
            const b = next;
            const t0 = performance.now();
            const pending = workers.step(shareOut(b.x, b.y, b.n, config.workers, per), opt, {
              micro,
              seed: hashInts(config.seed, e, state.step),
            });
            // The next batch is read and augmented while the workers compute.
            next = state.step + 1 < stepsPerEpoch ? batchAt(state.step + 1) : undefined;
            const r = await pending;
            const dt = (performance.now() - t0) / 1000;
            state.step++;
            state.trainLossSum += r.loss;
            state.trainImages += b.n;
            state.trainSeconds += dt;
            state.totalSeconds += dt;
            sessionImages += b.n;
            sessionSeconds += dt;
            bar.setInfo(`loss ${(state.trainLossSum / state.step).toFixed(4)}`);
            bar.tick(b.n);
            const minutes = (performance.now() - lastSave) / 60000;
            if (config.checkpointMinutes > 0 && minutes >= config.checkpointMinutes && next) {
              await saveLast();
              lastSave = performance.now();
            }
          }
        } finally {
          bar.stop();
        }
        if (stopped) break;

        const t0 = performance.now();
        const p = await predictPositions(split.val);
        const y = labelsOf(cache, split.val, rows);
        const m = validationMetrics(config, y, p);
        const record: EpochRecord = {
          epoch: e + 1,
          trainLoss: state.step > 0 ? state.trainLossSum / state.step : Number.NaN,
          ...m,
          imagesPerSecond: state.trainSeconds > 0 ? state.trainImages / state.trainSeconds : 0,
          seconds: state.trainSeconds + (performance.now() - t0) / 1000,
          best: false,
        };
        const value = monitorValue(config, record);
        if (improves(config, value, state.best)) {
          record.best = true;
          state.best = { epoch: e + 1, value: value! };
          await writeFolder(out, BEST_DIR, (tmp) =>
            workers.save(tmp, metadata({ epoch: e + 1, monitor: config.monitor, value })),
          );
        }
        state.history.push(record);
        log(epochLine(record, config));
        state = {
          ...state,
          epoch: e + 1,
          step: 0,
          trainLossSum: 0,
          trainImages: 0,
          trainSeconds: 0,
          epochSeconds: 0,
        };
        await saveLast();
        lastSave = performance.now();
        writeMetrics();
      }
      if (stopped) await saveLast();
      checkAborted(
        o.signal,
        `training stopped at epoch ${state.epoch + 1}, step ${state.step}; ${LAST_DIR}/ is saved, continue with --resume`,
      );
      return {
        out,
        config,
        backend: workers.backend,
        history: state.history,
        best: state.best,
        steps: opt.step,
        complete: state.epoch >= config.epochs,
        imagesPerSecond: sessionSeconds > 0 ? sessionImages / sessionSeconds : 0,
      };
    }

    async function predictPositions(positions: Int32Array): Promise<Float32Array> {
      const chunk = 32 * config.workers;
      const out2 = new Float32Array(positions.length * LABEL_COUNT);
      const micro = Math.max(1, 2 * microBatchFor(config, chunk));
      for (let from = 0; from < positions.length; from += chunk) {
        const pos = positions.subarray(from, Math.min(positions.length, from + chunk));
        const x = loader.load(pos, null);
        const shares = shareOut(
          x,
          new Float32Array(pos.length * LABEL_COUNT),
          pos.length,
          config.workers,
          per,
        );
        out2.set(await workers.predict(shares, micro), from * LABEL_COUNT);
      }
      return out2;
    }
  } finally {
    cache.close();
  }
}

function fmt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(4);
}

function epochLine(r: EpochRecord, c: TrainConfig): string {
  return (
    `epoch ${r.epoch}/${c.epochs}: train loss ${fmt(r.trainLoss)}, val loss ${fmt(r.valLoss)}, ` +
    `weighted log loss ${fmt(r.valWeightedLogLoss)}, mean AUC ${fmt(r.valMeanAuc)}, ` +
    `${r.imagesPerSecond.toFixed(1)} images/s${r.best ? ' (best)' : ''}`
  );
}
