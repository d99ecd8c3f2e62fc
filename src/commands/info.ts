/**
 * `ichdet info CACHE`: what a cache holds — slice, patient, study and series counts, rejects,
 * the label table (positives and rate per label) and the preprocessing config.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CacheConfig, type CacheJob, openCache } from '../data/cache.js';
import { formatBytes } from '../data/prepare.js';
import { LABEL_NAMES, type LabelName } from '../data/types.js';

export interface LabelCount {
  name: LabelName;
  /** Slices with this label 1. */
  positives: number;
  /** Slices with a value (0 or 1) for this label. */
  labelled: number;
  /** positives / labelled; 0 when nothing is labelled. */
  rate: number;
}

export interface CacheInfo {
  dir: string;
  config: CacheConfig;
  job: CacheJob;
  slices: number;
  rejects: number;
  patients: number;
  studies: number;
  series: number;
  /** Context rows (`prepare --split`): cached as neighbours only, never drawn by split. */
  contextRows: number;
  labels: LabelCount[];
  /** Bytes the cache folder takes on disk (allocated blocks: a sparse shard counts as written). */
  bytesOnDisk: number;
}

/** Allocated bytes of every file under `dir`. */
export function bytesOnDisk(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += bytesOnDisk(p);
    else if (e.isFile()) total += statSync(p).blocks * 512;
  }
  return total;
}

/** Reads the counts of a cache (an unfinished one too). @throws InputError, ConfigError */
export function cacheInfo(dir: string): CacheInfo {
  const cache = openCache(dir, { allowIncomplete: true });
  try {
    const rows = cache.rows();
    const labels = LABEL_NAMES.map((name, k) => {
      let positives = 0;
      let labelled = 0;
      for (const r of rows) {
        const v = r.labels[k]!;
        if (v >= 0) labelled++;
        if (v === 1) positives++;
      }
      return { name, positives, labelled, rate: labelled > 0 ? positives / labelled : 0 };
    });
    return {
      dir,
      config: cache.config,
      job: cache.job,
      slices: rows.length,
      rejects: cache.rejects().length,
      patients: new Set(rows.map((r) => r.patientId)).size,
      studies: new Set(rows.map((r) => r.studyInstanceUid)).size,
      series: new Set(rows.map((r) => r.seriesInstanceUid)).size,
      contextRows: rows.filter((r) => r.context === true).length,
      labels,
      bytesOnDisk: bytesOnDisk(dir),
    };
  } finally {
    cache.close();
  }
}

/** The text `ichdet info` prints. */
export function formatCacheInfo(i: CacheInfo): string {
  const c = i.config;
  const lines = [
    `cache ${i.dir}${i.job.complete ? '' : ' (INCOMPLETE: rerun its prepare command to finish)'}`,
    `  slices ${i.slices}${i.contextRows > 0 ? ` (${i.contextRows} context rows)` : ''}, rejected ${i.rejects}; patients ${i.patients}, studies ${i.studies}, series ${i.series}`,
    `  size on disk ${formatBytes(i.bytesOnDisk)} (${i.bytesOnDisk} bytes)`,
    '',
    `  ${'label'.padEnd(18)}${'positives'.padStart(10)}${'labelled'.padStart(10)}${'rate'.padStart(9)}`,
    ...i.labels.map(
      (l) =>
        `  ${l.name.padEnd(18)}${String(l.positives).padStart(10)}${String(l.labelled).padStart(10)}${`${(100 * l.rate).toFixed(2)}%`.padStart(9)}`,
    ),
    '',
    `  config: size ${c.size}, windows ${c.windows.map((w) => `${w.name}(${w.center}/${w.width})`).join(',')}, ` +
      `channels ${c.channels}, rsna fix ${c.rsnaFix ? 'on' : 'off'}, crop ${c.crop}, record ${c.recordBytes} bytes, ` +
      `${c.recordsPerShard} records/shard, ichdet ${c.version}, format ${c.format}, created ${c.createdAt}`,
    `  job: images ${i.job.images}, partition ${i.job.shard} (${i.job.slots} of ${i.job.fileCount} files), labels ${i.job.labels ?? 'none'}`,
    ...(i.job.selection ? [`  selection: ${i.job.selection}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
