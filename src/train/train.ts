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
import type { ModelCard } from '../run/model-card.js';
import { type Reporter, reporterOf } from '../util/reporter.js';
import { hashInts } from '../util/rng.js';
import { shareRows } from '../util/shares.js';
import { type AugmentOptions, parseAugment } from './augment.js';
import {
  lrAt,
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

/** A training batch (x: n × per, y: n × 6) in `k` contiguous shares, one per worker. */
function shareOut(x: Float32Array, y: Float32Array, n: number, k: number, per: number) {
  const ys = shareRows(y, n, k, LABEL_COUNT);
  return shareRows(x, n, k, per).map((sh, i) => ({ ...sh, y: ys[i]!.x }));
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

/** Step 1: the run's config — new (checked, saved later) or resumed (and `last/` recovered). */
function openTrainRun(o: TrainOptions): { out: string; config: TrainConfig } {
  const out = resolve(o.out);
  if (o.resume) {
    const config = { ...loadConfig(out), maxSteps: o.maxSteps ?? null };
    recoverFolder(out, LAST_DIR, STATE_FILE);
    return { out, config };
  }
  const { cache, split, arch } = o;
  for (const [k, v] of Object.entries({ cache, split, arch })) {
    if (v === undefined || v === '') {
      throw new ConfigError(`--${k} is required (unless --resume)`);
    }
  }
  const config = resolveTrainConfig({ ...o, cache: cache!, split: split!, arch: arch! });
  if (existsSync(join(out, CONFIG_FILE))) {
    throw new ConfigError(
      `${out} already holds a training run; continue it with --resume or choose another --out`,
    );
  }
  return { out, config: { ...config, cache: resolve(config.cache), split: resolve(config.split) } };
}

function freshState(): RunState {
  return {
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

/**
 * One invocation of a run: the cache and split it reads, the model workers, the optimiser and
 * the run state, and the steps of the loop — `restore`, `trainEpoch`, `validate`, `saveLast`,
 * `saveBest` — each of which `train` calls by name.
 */
class TrainSession {
  private readonly rows;
  private readonly split: { train: Int32Array; val: Int32Array };
  private readonly loader: BatchLoader;
  private readonly channels: number;
  private readonly per: number;
  private readonly lastDir: string;
  private opt!: OptimizerState;
  state: RunState = freshState();
  sessionImages = 0;
  sessionSeconds = 0;
  private lastSave = performance.now();

  private constructor(
    readonly out: string,
    readonly config: TrainConfig,
    private readonly cache: Cache,
    readonly workers: ModelWorkers,
    private readonly reporter: Reporter,
    private readonly signal: AbortSignal | undefined,
    split: { train: Int32Array; val: Int32Array },
    private readonly augment: AugmentOptions,
  ) {
    this.rows = cache.rows();
    this.split = split;
    this.channels = inputChannels(cache.config.channels, config.context);
    const input: InputSpec = {
      size: config.size,
      context: config.context,
      preprocessing: archSpec(config.arch).preprocessing,
    };
    this.loader = new BatchLoader(cache, input);
    this.per = config.size * config.size * this.channels;
    this.lastDir = join(out, LAST_DIR);
  }

  /**
   * Step 2: opens the cache and split, saves a new run's config, starts the workers on the
   * initial weights (ImageNet, a file, none) or on `last/`, and restores the run state.
   */
  static async open(
    out: string,
    config: TrainConfig,
    o: TrainOptions,
    reporter: Reporter,
  ): Promise<TrainSession> {
    // Checked before anything is written: the augmentation, the cache and the split.
    const augment = parseAugment(config.augment);
    const cache = openCache(config.cache);
    try {
      const split = resolveSplit(cache, readSplitCsv(config.split), {
        train: config.trainSplits,
        val: config.valSplit,
      });
      const channels = inputChannels(cache.config.channels, config.context);
      const lastDir = join(out, LAST_DIR);
      // A run killed before its first checkpoint starts again from its initial weights.
      const resuming = o.resume === true && existsSync(join(lastDir, STATE_FILE));
      const weightsFile = resuming
        ? null
        : await resolveWeightsFile(config, (s) => reporter.log(s));
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
      const session = new TrainSession(
        out,
        config,
        cache,
        workers,
        reporter,
        o.signal,
        split,
        augment,
      );
      try {
        session.restore(resuming);
      } catch (err) {
        await workers.close();
        throw err;
      }
      return session;
    } catch (err) {
      cache.close();
      throw err;
    }
  }

  /** The optimiser and run state: from `last/` when resuming, else fresh. */
  private restore(resuming: boolean): void {
    if (!resuming) {
      this.opt = createOptimizer(this.config.optimizer, this.config.lr, this.workers.params.length);
      this.state = freshState();
      return;
    }
    const h = readFileSync(join(this.lastDir, OPTIMIZER_JSON), 'utf8');
    this.opt = deserializeOptimizer(
      h,
      readFileSync(join(this.lastDir, OPTIMIZER_BIN)),
      join(this.lastDir, OPTIMIZER_BIN),
    );
    const names = (JSON.parse(h) as { names?: string[] }).names;
    if (names && names.join('\n') !== this.workers.trainable.map((t) => t.name).join('\n')) {
      throw new InputError(
        `${this.lastDir}: the optimiser state does not match the model's weights`,
      );
    }
    this.state = readJson<RunState>(join(this.lastDir, STATE_FILE));
    this.reporter.log(
      `resuming ${this.out} at epoch ${this.state.epoch + 1}, step ${this.state.step} (${this.opt.step} steps done)`,
    );
    this.writeMetrics();
  }

  get steps(): number {
    return this.opt.step;
  }

  describe(): string {
    const c = this.config;
    const micro = microBatchFor(c, Math.ceil(c.batch / c.workers));
    return (
      `training ${c.arch} at ${c.size}² × ${this.channels} channels on ${c.workers} worker(s), ` +
      `${this.workers.backend}; batch ${c.batch} in micro-batches of ≤ ${micro}; ` +
      `${this.split.train.length} training examples, ${this.split.val.length} validation images`
    );
  }

  /** The model card saved with every checkpoint (run/model-card.ts). */
  private card(extra: Partial<ModelCard>): ModelCard {
    const c = this.config;
    return {
      arch: c.arch,
      size: c.size,
      channels: this.channels,
      context: c.context,
      cacheChannels: this.cache.config.channels,
      cacheSize: this.cache.config.size,
      windows: this.cache.config.windows,
      rsnaFix: this.cache.config.rsnaFix,
      crop: this.cache.config.crop,
      preprocessing: archSpec(c.arch).preprocessing,
      labels: [...LABEL_NAMES],
      ichdetVersion: ichdetVersion(),
      ...extra,
    };
  }

  /** `last/`: the model, the optimiser and the run state, swapped in atomically. */
  async saveLast(): Promise<void> {
    const { state, opt, workers } = this;
    await writeFolder(this.out, LAST_DIR, async (tmp) => {
      await workers.save(
        tmp,
        this.card({ epoch: state.epoch, step: state.step, optimizerSteps: opt.step }),
      );
      const s = serializeOptimizer(opt);
      const header = JSON.parse(s.json) as Record<string, unknown>;
      header.names = workers.trainable.map((t) => t.name);
      writeFileSync(join(tmp, OPTIMIZER_BIN), s.data);
      writeFileSync(join(tmp, OPTIMIZER_JSON), `${JSON.stringify(header)}\n`);
      writeFileSync(join(tmp, STATE_FILE), `${JSON.stringify(state)}\n`);
    });
    this.lastSave = performance.now();
  }

  /** `best/`: the model after epoch `epoch`, with the monitored value in its card. */
  async saveBest(epoch: number, value: number | null): Promise<void> {
    await writeFolder(this.out, BEST_DIR, (tmp) =>
      this.workers.save(tmp, this.card({ epoch, monitor: this.config.monitor, value })),
    );
  }

  writeMetrics(): void {
    writeFileSync(
      join(this.out, METRICS_FILE),
      this.state.history.map((h) => `${JSON.stringify(h)}\n`).join(''),
    );
  }

  private batchAt(order: Int32Array, e: number, s: number) {
    const { config, augment, cache } = this;
    const from = s * config.batch;
    const positions = order.subarray(from, Math.min(order.length, from + config.batch));
    const draws = Array.from(positions, (_, j) =>
      exampleDraw(augment, config.seed, e, from + j, cache.config.size),
    );
    const x = this.loader.load(positions, draws);
    const y = labelsOf(cache, positions, this.rows);
    return { x, y, n: positions.length };
  }

  /**
   * The training steps of the current epoch from where the state says it is; false when it
   * stopped early (maxSteps reached, or the signal aborted).
   */
  async trainEpoch(): Promise<boolean> {
    const { config, workers, state } = this;
    const e = state.epoch;
    const order = epochOrder(this.split.train, config.seed, e);
    const stepsPerEpoch = Math.ceil(this.split.train.length / config.batch);
    const micro = microBatchFor(config, Math.ceil(config.batch / config.workers));
    const bar = this.reporter.task({
      total: order.length,
      label: `epoch ${e + 1}/${config.epochs}`,
      unit: 'images',
    });
    bar.tick(Math.min(order.length, state.step * config.batch));
    try {
      let next = state.step < stepsPerEpoch ? this.batchAt(order, e, state.step) : undefined;
      while (next !== undefined) {
        if (config.maxSteps !== null && this.opt.step >= config.maxSteps) return false;
        if (this.signal?.aborted === true) return false;
        const b = next;
        const t0 = performance.now();
        this.opt.lr = lrAt(
          config.lrSchedule,
          config.lr,
          e * stepsPerEpoch + state.step,
          config.epochs * stepsPerEpoch,
        );
        const pending = workers.step(shareOut(b.x, b.y, b.n, config.workers, this.per), this.opt, {
          micro,
          seed: hashInts(config.seed, e, state.step),
        });
        // The next batch is read and augmented while the workers compute.
        next = state.step + 1 < stepsPerEpoch ? this.batchAt(order, e, state.step + 1) : undefined;
        const r = await pending;
        const dt = (performance.now() - t0) / 1000;
        state.step++;
        state.trainLossSum += r.loss;
        state.trainImages += b.n;
        state.trainSeconds += dt;
        state.totalSeconds += dt;
        this.sessionImages += b.n;
        this.sessionSeconds += dt;
        bar.setInfo(`loss ${(state.trainLossSum / state.step).toFixed(4)}`);
        bar.tick(b.n);
        const minutes = (performance.now() - this.lastSave) / 60000;
        if (config.checkpointMinutes > 0 && minutes >= config.checkpointMinutes && next) {
          await this.saveLast();
        }
      }
      return true;
    } finally {
      bar.stop();
    }
  }

  /** Validation after the epoch: metrics, `best/` when the monitor improves, the next epoch. */
  async validate(): Promise<EpochRecord> {
    const { config, state } = this;
    const e = state.epoch;
    const t0 = performance.now();
    const p = await this.predictPositions(this.split.val);
    const y = labelsOf(this.cache, this.split.val, this.rows);
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
      await this.saveBest(e + 1, value);
    }
    state.history.push(record);
    this.state = {
      ...state,
      epoch: e + 1,
      step: 0,
      trainLossSum: 0,
      trainImages: 0,
      trainSeconds: 0,
      epochSeconds: 0,
    };
    return record;
  }

  private async predictPositions(positions: Int32Array): Promise<Float32Array> {
    const { config } = this;
    const chunk = 32 * config.workers;
    const out = new Float32Array(positions.length * LABEL_COUNT);
    const micro = Math.max(1, 2 * microBatchFor(config, chunk));
    for (let from = 0; from < positions.length; from += chunk) {
      const pos = positions.subarray(from, Math.min(positions.length, from + chunk));
      const x = this.loader.load(pos, null);
      const shares = shareRows(x, pos.length, config.workers, this.per);
      out.set(await this.workers.predict(shares, micro), from * LABEL_COUNT);
    }
    return out;
  }

  async close(): Promise<void> {
    try {
      await this.workers.close();
    } finally {
      this.cache.close();
    }
  }
}

/**
 * Trains one model (or resumes one) as configured; see the module comment. The steps, by name:
 * open the run (config), open the session (cache, split, workers, restored state), then per
 * epoch train, validate (best/), save last/ and the metrics; a stop (maxSteps, signal) saves
 * last/ where it is.
 *
 * @throws ConfigError for bad options, a RUN folder that already holds a run without `resume`;
 *   InputError for an unreadable cache or split file; Interrupted when `signal` stopped it.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const reporter = reporterOf(o);
  const { out, config } = openTrainRun(o);
  const session = await TrainSession.open(out, config, o, reporter);
  try {
    reporter.log(session.describe());
    let stopped = false;
    while (session.state.epoch < config.epochs && !stopped) {
      stopped = !(await session.trainEpoch());
      if (stopped) break;
      const record = await session.validate();
      reporter.log(epochLine(record, config));
      await session.saveLast();
      session.writeMetrics();
    }
    if (stopped) await session.saveLast();
    checkAborted(
      o.signal,
      `training stopped at epoch ${session.state.epoch + 1}, step ${session.state.step}; ${LAST_DIR}/ is saved, continue with --resume`,
    );
    return {
      out,
      config,
      backend: session.workers.backend,
      history: session.state.history,
      best: session.state.best,
      steps: session.steps,
      complete: session.state.epoch >= config.epochs,
      imagesPerSecond:
        session.sessionSeconds > 0 ? session.sessionImages / session.sessionSeconds : 0,
    };
  } finally {
    await session.close();
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
