/**
 * Opening a run folder (or a model folder) and reading what it holds: which model to load, its
 * card, its config, its evaluation's triage threshold, its ONNX export, whether training
 * finished. Every command that takes `--model RUN` or `RUN` goes through here; the file names
 * are in layout.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import { readTrainConfig, type TrainConfig } from './config.js';
import {
  BEST_DIR,
  type CheckpointName,
  CONFIG_FILE,
  EVAL_DIR,
  EVAL_METRICS_FILE,
  LAST_DIR,
  METRICS_FILE,
  MODEL_JSON,
  ONNX_FILE,
  STATE_FILE,
} from './layout.js';
import {
  type InputCard,
  type ModelCard,
  parseModelCard,
  readModelCard,
  toInputCard,
} from './model-card.js';

/**
 * A model given as an .onnx file alone (no `model.json`): the file and the ichdet metadata read
 * from its `metadata_props` (infer/config.ts reads it; this layer does not decode ONNX).
 */
export interface OnnxOnlyModel {
  file: string;
  metadata: Record<string, unknown>;
}

/**
 * The saved model folder of a run: `RUN/best` by default, `RUN/last`, or `path` itself when it
 * is a model folder.
 *
 * @throws InputError when there is no such model.
 */
export function resolveModelDir(path: string, checkpoint: CheckpointName = 'best'): string {
  if (checkpoint !== 'best' && checkpoint !== 'last') {
    throw new ConfigError(`--checkpoint must be best or last, received "${String(checkpoint)}"`);
  }
  if (existsSync(join(path, MODEL_JSON))) return path;
  const dir = join(path, checkpoint === 'best' ? BEST_DIR : LAST_DIR);
  if (!existsSync(join(dir, MODEL_JSON))) {
    throw new InputError(
      `${path} has no ${checkpoint}/ model (${join(dir, MODEL_JSON)} is missing)`,
    );
  }
  return dir;
}

/** Where a flag threshold came from: `option`, the metrics file it was read from, or `default`. */
export interface ThresholdChoice {
  value: number;
  source: string;
}

/** A model folder: its files and card. */
export class ModelFolder {
  readonly dir: string;
  /** The .onnx file of a model given as that file alone (no tfjs model); else null. */
  readonly onnxOnly: string | null;
  private readonly onnxMetadata: Record<string, unknown> | null;
  private cardCache: ModelCard | undefined;

  /**
   * `onnx`: the model is that .onnx file alone; its folder is the model folder and its card
   * comes from the file's metadata.
   *
   * @throws InputError when `path` is neither a model folder nor a run with that checkpoint.
   */
  constructor(path: string, checkpoint: CheckpointName = 'best', onnx?: OnnxOnlyModel) {
    if (onnx !== undefined) {
      this.onnxOnly = resolve(onnx.file);
      this.onnxMetadata = onnx.metadata;
      this.dir = dirname(this.onnxOnly);
    } else {
      this.onnxOnly = null;
      this.onnxMetadata = null;
      this.dir = resolveModelDir(resolve(path), checkpoint);
    }
  }

  /** Where the card is read from: `DIR/model.json`, or the .onnx file of an ONNX-only model. */
  private get cardSource(): string {
    return this.onnxOnly ?? join(this.dir, MODEL_JSON);
  }

  /** The model card (checked). */
  card(): ModelCard {
    this.cardCache ??=
      this.onnxMetadata === null
        ? readModelCard(this.dir)
        : parseModelCard(this.onnxMetadata, this.cardSource);
    return this.cardCache;
  }

  /** The card with what inference needs; ConfigError names a missing field. */
  inputCard(): InputCard {
    return toInputCard(this.card(), this.cardSource);
  }

  /** The ONNX-only model's file, or `DIR/model.onnx` when `ichdet export-onnx` wrote one; else null. */
  onnxFile(): string | null {
    if (this.onnxOnly !== null) return this.onnxOnly;
    const f = join(this.dir, ONNX_FILE);
    return existsSync(f) ? f : null;
  }

  /** The run folder this model belongs to (the parent of best/ or last/), or null. */
  runDir(): string | null {
    const parent = dirname(this.dir);
    return existsSync(join(parent, CONFIG_FILE)) ? parent : null;
  }

  /**
   * The flag threshold: `explicit` when given; else the `any` triage threshold of the run's
   * `eval/metrics.json` when that evaluation was of this very model; else 0.5.
   */
  threshold(explicit?: number): ThresholdChoice {
    if (explicit !== undefined) {
      if (!(explicit >= 0 && explicit <= 1)) {
        throw new ConfigError(`--threshold must be in [0, 1], received ${explicit}`);
      }
      return { value: explicit, source: 'option' };
    }
    const file = join(dirname(this.dir), EVAL_DIR, EVAL_METRICS_FILE);
    if (existsSync(file)) {
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as {
          model?: string;
          metrics?: { labels?: { any?: { triage?: { threshold?: number } | null } } };
        };
        const t = m.metrics?.labels?.any?.triage?.threshold;
        if (
          typeof t === 'number' &&
          Number.isFinite(t) &&
          (m.model === undefined || resolve(m.model) === this.dir)
        ) {
          return { value: t, source: file };
        }
      } catch {
        // An unreadable metrics file: fall back to the default.
      }
    }
    return { value: 0.5, source: 'default' };
  }
}

/** A training run folder (`ichdet train --out RUN`). */
export class RunFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** Whether the folder holds a run (its config.json exists). */
  exists(): boolean {
    return existsSync(this.configFile);
  }

  get configFile(): string {
    return join(this.dir, CONFIG_FILE);
  }

  get metricsFile(): string {
    return join(this.dir, METRICS_FILE);
  }

  /** `RUN/best` or `RUN/last`. */
  checkpointDir(name: CheckpointName): string {
    return join(this.dir, name === 'best' ? BEST_DIR : LAST_DIR);
  }

  /** `RUN/eval` (the evaluation's outputs). */
  get evalDir(): string {
    return join(this.dir, EVAL_DIR);
  }

  /** The run's config (checked); InputError when the folder holds no run. */
  config(): TrainConfig {
    if (!this.exists()) {
      throw new InputError(`${this.dir} is not a training run (${CONFIG_FILE} is missing)`);
    }
    return readTrainConfig(this.configFile);
  }

  /** A checkpoint's model folder. */
  model(checkpoint: CheckpointName = 'best'): ModelFolder {
    return new ModelFolder(this.dir, checkpoint);
  }

  /** Whether `last/` records every configured epoch as done. */
  finished(): boolean {
    const state = join(this.checkpointDir('last'), STATE_FILE);
    if (!existsSync(state) || !this.exists()) return false;
    const s = JSON.parse(readFileSync(state, 'utf8')) as { epoch: number };
    return s.epoch >= this.config().epochs;
  }

  /** The parameter count of a checkpoint's model (with its head), from its model.json. */
  paramCount(checkpoint: CheckpointName = 'last'): number | null {
    const file = join(this.checkpointDir(checkpoint), MODEL_JSON);
    if (!existsSync(file)) return null;
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      weightsManifest: { weights: { shape: number[]; name: string }[] }[];
    };
    let n = 0;
    for (const g of json.weightsManifest)
      for (const w of g.weights) n += w.shape.reduce((a, b) => a * b, 1);
    return n;
  }
}

/** Opens a run folder. */
export function openRun(dir: string): RunFolder {
  return new RunFolder(dir);
}
