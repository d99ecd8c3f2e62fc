/**
 * `ichdet prepare` as a library function: validates every option before any file is read,
 * parses the labels, then runs (or resumes) the job of data/prepare.ts and returns a summary.
 * The cache layout is described in data/cache.ts and in the README.md each cache carries.
 */

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_RECORDS_PER_SHARD } from '../data/cache.js';
import { type LabelsReport, readLabels } from '../data/labels.js';
import { openMetaIndex, selectWithContext } from '../data/meta-index.js';
import {
  PARTITIONS,
  type Partition,
  type PrepareJob,
  type PrepareOutcome,
  runPrepare,
  type Selection,
  type ShardSpec,
} from '../data/prepare.js';
import { CROP_MODES, type CropMode, validatePreprocessConfig } from '../dicom/preprocess.js';
import { DEFAULT_WINDOWS, parseWindows, type Window } from '../dicom/window.js';
import { ConfigError, InputError } from '../errors.js';
import { readSplitCsv } from '../train/split-file.js';
import { defaultPoolSize, type WorkerPool } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';
import { oneOf } from '../util/validate.js';

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
  /**
   * How `shard` splits the file list: `mod` (default, as above) or `block` (the K-th of N
   * contiguous runs; `prepare --queue`'s jobs use it).
   */
  partition?: Partition | string;
  /** Compute the shard files' sha256 as they are committed (`PrepareResult.digests`). */
  hash?: boolean;
  /** Apply the RSNA 12-bit intercept fix (default true). */
  rsnaFix?: boolean;
  /** `head`: crop each slice to the square around the head before resizing (default `none`). */
  crop?: CropMode | string;
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
  /** The metadata index of --images (`ichdet index --out`); needed by `split`. */
  index?: string;
  /** Cache only the images of this split file (plus their `context` neighbours). */
  split?: string;
  /** The split names to cache (`train,val`); default every split in the file. */
  splits?: string | readonly string[];
  /** Neighbours on each side of every selected slice to cache as context rows (default 0). */
  context?: number | string;
  /** Start even when the file system lacks the planned space. */
  force?: boolean;
  /** Decoding threads to use and leave open (a queue worker's, shared by its shard jobs). */
  pool?: WorkerPool;
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
    crop: oneOf('--crop', o.crop ?? 'none', CROP_MODES),
    workers,
    shard,
    partition: oneOf('partition', o.partition ?? 'mod', PARTITIONS),
    hash: o.hash === true,
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
  const selection = resolveSelection(o, job.images);
  const labels = job.labelsPath === undefined ? undefined : await readLabels(job.labelsPath);
  const outcome = await runPrepare({
    ...job,
    labels,
    selection,
    force: o.force === true,
    ...(o.pool !== undefined && { pool: o.pool }),
  });
  return { ...outcome, labelsReport: labels?.report };
}

/**
 * The files `--split` (with `--index`, `--splits`, `--context`) selects, or undefined for the
 * whole folder.
 *
 * @throws ConfigError for options that do not go together or an index of another folder;
 *   InputError for a bad split file or a split image the index lacks.
 */
export function resolveSelection(o: PrepareOptions, images: string): Selection | undefined {
  if (o.split === undefined) {
    for (const [name, v] of [
      ['--index', o.index],
      ['--splits', o.splits],
      ['--context', o.context],
    ] as const) {
      if (v !== undefined) throw new ConfigError(`${name} is only used with --split SPLIT.csv`);
    }
    return undefined;
  }
  if (o.index === undefined) {
    throw new ConfigError(
      '--split needs --index META (ichdet index --images DIR --out META): the series of each selected slice come from it',
    );
  }
  const context = o.context === undefined ? 0 : Number(o.context);
  if (!Number.isInteger(context) || context < 0 || context > 2) {
    throw new ConfigError(`--context must be 0, 1 or 2, received ${show(o.context)}`);
  }
  const rows = readSplitCsv(o.split);
  const have = [...new Set(rows.map((r) => r.split))];
  const names =
    o.splits === undefined
      ? have
      : (typeof o.splits === 'string' ? o.splits.split(',') : [...o.splits])
          .map((n) => n.trim())
          .filter((n) => n !== '');
  for (const n of names) {
    if (!have.includes(n)) {
      throw new ConfigError(
        `--splits names "${n}", which ${o.split} does not have; it has ${have.join(', ') || 'no rows'}`,
      );
    }
  }
  const chosen = new Set(names);
  const selected = new Set(rows.filter((r) => chosen.has(r.split)).map((r) => r.imageId));
  const index = openMetaIndex(o.index);
  try {
    if (index.config.images !== images) {
      throw new ConfigError(
        `metadata index ${o.index} was made from ${index.config.images}, not from --images ${images}`,
      );
    }
    const files = selectWithContext(index.sliceRows(), selected, context).map((f) => ({
      rel: f.rel,
      context: f.context,
    }));
    return {
      files,
      describe: `${o.split} [${names.join(',')}] + context ${context} of ${resolve(o.index)}`,
    };
  } finally {
    index.close();
  }
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
