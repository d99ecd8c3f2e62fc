/**
 * `ichdet stats`: the HU statistics of `dicom/ct-stats.ts` over a DICOM folder, median and
 * 10th/90th percentiles over slices, beside the same numbers measured on real RSNA 2019 slices,
 * so a user can hold synthetic data against their own scans.
 */

import {
  RSNA_REFERENCE,
  type SliceStats,
  STAT_LABELS,
  STAT_NAMES,
  type StatName,
  type StatSummary,
  sliceStats,
  summarizeStats,
} from '../dicom/ct-stats.js';
import { readSlice } from '../dicom/read.js';
import { ConfigError, IchdetError } from '../errors.js';
import { listFiles } from '../util/files.js';

export interface StatsOptions {
  /** Files read at most, in sorted path order (default 300, as ct_stats.py). */
  maxFiles?: number;
}

export interface StatsResult {
  folder: string;
  /** Files read (after the max-files cut). */
  files: number;
  /** Slices with enough brain to measure. */
  slices: number;
  /** Files that could not be read as a CT slice, with the reason. */
  failed: { file: string; error: string }[];
  stats: Record<StatName, StatSummary | undefined>;
  /** The real RSNA 2019 values, median [p10, p90]. */
  reference: Record<StatName, [number, number, number]>;
}

export const STATS_DEFAULT_MAX_FILES = 300;

/**
 * The files a folder's statistics are measured on: its `*.dcm` files (any depth) in sorted path
 * order, or every file when none is named `.dcm` (DICOM files often have no extension).
 */
export async function statsFiles(folder: string, maxFiles: number): Promise<string[]> {
  const all = await listFiles([folder]);
  const dcm = all.filter((f) => f.endsWith('.dcm'));
  const files = (dcm.length > 0 ? dcm : all).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return files.slice(0, maxFiles);
}

export async function stats(folder: string, opts: StatsOptions = {}): Promise<StatsResult> {
  const maxFiles = opts.maxFiles ?? STATS_DEFAULT_MAX_FILES;
  if (!Number.isInteger(maxFiles) || maxFiles < 1) {
    throw new ConfigError(`--max-files must be a positive integer, received ${maxFiles}`);
  }
  const files = await statsFiles(folder, maxFiles);
  const rows: SliceStats[] = [];
  const failed: StatsResult['failed'] = [];
  for (const file of files) {
    try {
      const s = await readSlice(file);
      const r = sliceStats(s.hu, s.rows, s.cols);
      if (r) rows.push(r);
    } catch (err) {
      if (!(err instanceof IchdetError)) throw err;
      failed.push({ file, error: err.message });
    }
  }
  return {
    folder,
    files: files.length,
    slices: rows.length,
    failed,
    stats: summarizeStats(rows),
    reference: RSNA_REFERENCE,
  };
}

const fmt = (x: number, k: StatName): string =>
  x.toFixed(k === 'noiseR1' ? 2 : k === 'noise' || k === 'dense' ? 2 : 1);

/** A table of the statistics beside the real RSNA values, as the CLI prints it. */
export function formatStats(r: StatsResult): string {
  const lines = [
    `${r.slices} brain slices of ${r.files} files in ${r.folder}` +
      (r.failed.length ? ` (${r.failed.length} unreadable, skipped)` : ''),
    `${'statistic'.padEnd(72)} ${'median [p10, p90] (n)'.padEnd(30)} real RSNA`,
  ];
  for (const k of STAT_NAMES) {
    const s = r.stats[k];
    const [m, lo, hi] = r.reference[k];
    const here = s ? `${fmt(s.median, k)} [${fmt(s.p10, k)}, ${fmt(s.p90, k)}] (${s.n})` : '—';
    lines.push(`${STAT_LABELS[k].padEnd(72)} ${here.padEnd(30)} ${m} [${lo}, ${hi}]`);
  }
  return lines.join('\n');
}
