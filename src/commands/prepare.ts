/**
 * `ichdet prepare` as a library function: validates every option before any file is read,
 * parses the labels, then runs (or resumes) the job of data/prepare.ts and returns a summary.
 * The cache layout is described in data/cache.ts and in the README.md each cache carries.
 */

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_RECORDS_PER_SHARD } from '../data/cache.js';
import { type LabelsReport, readLabels } from '../data/labels.js';
import {
  type PrepareJob,
  type PrepareOutcome,
  runPrepare,
  type ShardSpec,
} from '../data/prepare.js';
import { validatePreprocessConfig } from '../dicom/preprocess.js';
import { DEFAULT_WINDOWS, parseWindows, type Window } from '../dicom/window.js';
import { ConfigError, InputError } from '../errors.js';
import { defaultPoolSize } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';

export interface PrepareOptions {
  /** Folder of DICOM files, walked recursively (dot files skipped). */
  images: string;
  /** RSNA label CSV (`ID,Label`); omit for unlabelled data. */
  labels?: string;
  /** Cache folder: new, empty, or a cache to resume. */
  out: string;
  /** Output size (size × size); default 256. */
  size?: number | string;
  /** Windows (`brain,subdural,soft`, presets or center/width); default brain,subdural,soft. */
  windows?: string | readonly Window[];
  /** Worker threads; default the number of cores. */
  workers?: number | string;
  /** `K/N`: process the K-th (1-based) of N partitions (file index mod N = K − 1). */
  shard?: string | ShardSpec;
  /** Apply the RSNA 12-bit intercept fix (default true). */
  rsnaFix?: boolean;
  /** Records per shard file (default 4096). */
  recordsPerShard?: number | string;
  /** Files per worker task (default 32). */
  batch?: number | string;
  /** Draw a progress bar (default true; drawn only on a TTY). */
  progress?: boolean;
  /** Progress events (default: bars on the terminal, unless `progress` is false). */
  reporter?: Reporter;
  /** Stops after the files in flight; what is done is kept, the same call resumes. */
  signal?: AbortSignal;
}

export interface PrepareResult extends PrepareOutcome {
  labelsReport: LabelsReport | undefined;
}

function show(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new ConfigError(`${option} must be a positive integer, received ${show(value)}`);
  }
  return n;
}

/**
 * Parses `K/N` with 1 ≤ K ≤ N.
 *
 * @throws ConfigError `--shard must be K/N with integers 1 ≤ K ≤ N, received "3/2"`.
 */
export function parseShard(value: string | ShardSpec | undefined): ShardSpec {
  if (value === undefined) return { k: 1, n: 1 };
  const text = typeof value === 'string' ? value.trim() : `${value.k}/${value.n}`;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const k = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || !(k >= 1) || !(n >= 1) || k > n) {
    throw new ConfigError(
      `--shard must be K/N with integers 1 ≤ K ≤ N, received ${show(typeof value === 'string' ? value : text)}`,
    );
  }
  return { k, n };
}

/** Validates the options into a job (labels not read yet). @throws ConfigError, InputError */
export function resolvePrepareOptions(o: PrepareOptions): Omit<PrepareJob, 'labels'> {
  if (typeof o.images !== 'string' || o.images.trim() === '') {
    throw new ConfigError(`--images must be a folder path, received ${show(o.images)}`);
  }
  if (typeof o.out !== 'string' || o.out.trim() === '') {
    throw new ConfigError(`--out must be a folder path, received ${show(o.out)}`);
  }
  const size = positiveInteger('--size', o.size, 256);
  const windows =
    typeof o.windows === 'string' ? parseWindows(o.windows) : [...(o.windows ?? DEFAULT_WINDOWS)];
  validatePreprocessConfig({ windows, size });
  const workers = positiveInteger('--workers', o.workers, defaultPoolSize());
  const recordsPerShard = positiveInteger(
    'recordsPerShard',
    o.recordsPerShard,
    DEFAULT_RECORDS_PER_SHARD,
  );
  const batch = positiveInteger('batch', o.batch, 32);
  const shard = parseShard(o.shard);
  const images = resolve(o.images);
  if (!existsSync(images) || !statSync(images).isDirectory()) {
    throw new InputError(`--images must be an existing folder, received "${o.images}"`);
  }
  if (o.labels !== undefined && !existsSync(o.labels)) {
    throw new InputError(`--labels file not found: "${o.labels}"`);
  }
  const out = resolve(o.out);
  if (out === images || out.startsWith(`${images}/`)) {
    throw new ConfigError(`--out must not lie inside --images, received "${o.out}"`);
  }
  return {
    images,
    out,
    labelsPath: o.labels === undefined ? undefined : resolve(o.labels),
    size,
    windows,
    rsnaFix: o.rsnaFix ?? true,
    workers,
    shard,
    recordsPerShard,
    batch,
    progress: o.progress ?? true,
    reporter: o.reporter,
    signal: o.signal,
  };
}

/**
 * Builds (or resumes) a slice cache. Running the same options again after an interruption
 * finishes the job and gives a cache identical to an uninterrupted run.
 *
 * @throws ConfigError for a bad option, or a resumed cache whose config differs;
 *   InputError for a missing folder or a label CSV with a wrong header. Bad DICOM files are
 *   not errors: they are listed in CACHE/rejects.csv.
 */
export async function prepare(o: PrepareOptions): Promise<PrepareResult> {
  const job = resolvePrepareOptions(o);
  const labels = job.labelsPath === undefined ? undefined : await readLabels(job.labelsPath);
  const outcome = await runPrepare({ ...job, labels });
  return { ...outcome, labelsReport: labels?.report };
}

/** The one-line summary the CLI prints. */
export function prepareSummary(r: PrepareResult): string {
  const rate = r.processed > 0 ? `, ${r.slicesPerSecond.toFixed(0)} slices/s` : '';
  const resumed = r.resumed > 0 ? `; resumed: ${r.resumed} files were already done` : '';
  return (
    `${r.cached} slices cached, ${r.rejected} rejected${r.rejected > 0 ? ' (see rejects.csv)' : ''}` +
    ` in ${r.out} (${r.seconds.toFixed(1)} s${rate})${resumed}`
  );
}
