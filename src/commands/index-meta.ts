/**
 * `ichdet index` as a library function: every file's header (no pixels) into a metadata index
 * (data/meta-index.ts), on every core, resumable. What it records of a file equals what a full
 * `prepare` of the same folder records, rejects and their reasons included, so `split --index`
 * can draw the subset before anything is cached and `prepare --index … --split …` caches only it.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type IndexJob, type IndexOutcome, runIndex } from '../data/indexer.js';
import { type LabelsReport, readLabels } from '../data/labels.js';
import { ConfigError, InputError } from '../errors.js';
import { defaultPoolSize } from '../util/pool.js';
import type { Reporter } from '../util/reporter.js';

export interface IndexOptions {
  /** Folder of DICOM files, walked recursively (dot files skipped). */
  images: string;
  /** RSNA label CSV (`ID,Label`); omit for unlabelled data. */
  labels?: string;
  /** The index file to write or resume (SQLite), e.g. `meta.sqlite`. */
  out: string;
  /** Worker threads; default the number of cores. */
  workers?: number | string;
  /** Record whether the RSNA 12-bit fix applies, as prepare would (default true). */
  rsnaFix?: boolean;
  /** Files per worker task (default 256). */
  batch?: number | string;
  progress?: boolean;
  reporter?: Reporter;
  signal?: AbortSignal;
}

export interface IndexResult extends IndexOutcome {
  labelsReport: LabelsReport | undefined;
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new ConfigError(
      `${option} must be a positive integer, received ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Validates the options into a job (labels not read yet). @throws ConfigError, InputError */
export function resolveIndexOptions(o: IndexOptions): Omit<IndexJob, 'labels'> {
  if (typeof o.images !== 'string' || o.images.trim() === '') {
    throw new ConfigError(`--images must be a folder path, received ${JSON.stringify(o.images)}`);
  }
  if (typeof o.out !== 'string' || o.out.trim() === '') {
    throw new ConfigError(`--out must be a file path, received ${JSON.stringify(o.out)}`);
  }
  const images = resolve(o.images);
  if (!existsSync(images) || !statSync(images).isDirectory()) {
    throw new InputError(`--images must be an existing folder, received "${o.images}"`);
  }
  const out = resolve(o.out);
  if (out.startsWith(`${images}/`)) {
    throw new ConfigError(`--out must not lie inside --images, received "${o.out}"`);
  }
  if (existsSync(out) && statSync(out).isDirectory()) {
    throw new ConfigError(`--out must be a file (the index), received the folder "${o.out}"`);
  }
  if (o.labels !== undefined && !existsSync(o.labels)) {
    throw new InputError(`--labels file not found: "${o.labels}"`);
  }
  return {
    images,
    out,
    labelsPath: o.labels === undefined ? undefined : resolve(o.labels),
    rsnaFix: o.rsnaFix ?? true,
    workers: positiveInteger('--workers', o.workers, defaultPoolSize()),
    batch: positiveInteger('batch', o.batch, 256),
    progress: o.progress ?? true,
    reporter: o.reporter,
    signal: o.signal,
  };
}

/**
 * Builds (or resumes) a metadata index. The same options after an interruption (even kill -9)
 * finish the job and give the same index as an uninterrupted run.
 *
 * @throws ConfigError for a bad option or an index started with other options; InputError for
 *   a missing folder or a bad label CSV. Bad DICOM files are rows of the `rejects` table.
 */
export async function indexImages(o: IndexOptions): Promise<IndexResult> {
  const job = resolveIndexOptions(o);
  const labels = job.labelsPath === undefined ? undefined : await readLabels(job.labelsPath);
  const outcome = await runIndex({ ...job, labels });
  return { ...outcome, labelsReport: labels?.report };
}

/** The one-line summary the CLI prints. */
export function indexSummary(r: IndexResult): string {
  const rate = r.processed > 0 ? `, ${r.filesPerSecond.toFixed(0)} files/s` : '';
  const resumed = r.resumed > 0 ? `; resumed: ${r.resumed} files were already done` : '';
  return (
    `${r.indexed} slices indexed, ${r.rejected} rejected in ${r.out} ` +
    `(${r.seconds.toFixed(1)} s${rate}, ${(r.bytesRead / 2 ** 20).toFixed(1)} MiB read)${resumed}`
  );
}
