/**
 * `ichdet split`: curates a prepared cache into a split file (`image_id,split,repeat`) by grouped
 * multi-label iterative stratification, with rebalancing of the training part only
 * (data/split.ts says what every column means). Beside SPLIT.csv it writes SPLIT.json: the
 * options, the cache it came from and the label table, so the split can be reproduced.
 */
import { resolve } from 'node:path';
import { openCache } from '../data/cache.js';
import { openMetaIndex } from '../data/meta-index.js';
import {
  planSplit,
  resolveSplitOptions,
  type SplitOptions,
  type SplitOptionsInput,
  type SplitTable,
  splitCsv,
  splitTable,
} from '../data/split.js';
import type { CacheIndexRow } from '../data/types.js';
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';

export interface SplitCommandOptions extends SplitOptionsInput {
  /** The cache folder (`ichdet prepare --out`); or give `index`. */
  cache?: string;
  /** The metadata index (`ichdet index --out`), to split before anything is cached. */
  index?: string;
  /** The split file, ending in .csv; SPLIT.json is written beside it. */
  out: string;
}

export interface SplitResult {
  out: string;
  /** The JSON record written beside the CSV. */
  json: string;
  options: SplitOptions;
  /** Images written to the split file (the subset). */
  images: number;
  /** Images per split name. */
  counts: Record<string, number>;
  /** Labelled images outside the subset, not written. */
  unused: number;
  /** Images without labels, not written. */
  unlabelled: number;
  table: SplitTable;
  /** The table as text, as the CLI prints it. */
  text: string;
}

/** `SPLIT.csv` → `SPLIT.json`. */
export function splitJsonPath(out: string): string {
  return out.replace(/\.csv$/i, '.json');
}

/**
 * Plans and writes a split of the given rows (the cache-free core of `split`).
 *
 * @throws ConfigError for a bad option, before anything is written.
 */
export async function writeSplit(
  rows: readonly CacheIndexRow[],
  o: SplitCommandOptions,
  source: Record<string, unknown> = {},
): Promise<SplitResult> {
  if (!/\.csv$/i.test(o.out)) {
    throw new ConfigError(`--out must end in .csv, received "${o.out}"`);
  }
  const plan = planSplit(rows, o);
  const counts = Object.fromEntries(plan.table.before.slice(1).map((s) => [s.split, s.images]));
  const out = resolve(o.out);
  const json = splitJsonPath(out);
  const text = splitTable(plan.table);
  await writeFileAtomic(out, splitCsv(plan.rows));
  const summary = {
    options: plan.options,
    images: plan.rows.length,
    counts,
    unused: plan.unused,
    unlabelled: plan.unlabelled,
    table: plan.table,
  };
  await writeFileAtomic(
    json,
    `${JSON.stringify({ command: 'ichdet split', ...source, ...summary }, null, 2)}\n`,
  );
  return { out, json, ...summary, text };
}

/**
 * Reads the rows of a cache or a metadata index (the same rows for the same images, in the same
 * order), plans the split and writes SPLIT.csv and SPLIT.json atomically. A cache's context rows
 * (`prepare --split`) are never drawn.
 *
 * @throws ConfigError for a bad option (checked before the cache is opened); InputError for a
 *   folder that is not a cache or holds no labelled image.
 */
export async function split(o: SplitCommandOptions): Promise<SplitResult> {
  resolveSplitOptions(o);
  if (!/\.csv$/i.test(o.out)) {
    throw new ConfigError(`--out must end in .csv, received "${o.out}"`);
  }
  if ((o.cache === undefined) === (o.index === undefined)) {
    throw new ConfigError(
      `give exactly one of --cache DIR and --index FILE, received ${o.cache === undefined ? 'neither' : 'both'}`,
    );
  }
  let rows: CacheIndexRow[];
  let source: Record<string, unknown>;
  if (o.index !== undefined) {
    const index = openMetaIndex(o.index);
    try {
      rows = index.rows();
      source = {
        index: resolve(o.index),
        indexImages: rows.length,
        indexVersion: index.config.version,
        indexCreatedAt: index.config.createdAt,
      };
    } finally {
      index.close();
    }
    return writeSplit(rows, o, source);
  }
  const cache = openCache(o.cache!);
  try {
    const all = cache.rows();
    rows = all.filter((r) => r.context !== true);
    source = {
      cache: resolve(o.cache!),
      cacheImages: rows.length,
      ...(rows.length < all.length && { cacheContextRows: all.length - rows.length }),
      cacheVersion: cache.config.version,
      cacheCreatedAt: cache.config.createdAt,
    };
  } finally {
    cache.close();
  }
  return writeSplit(rows, o, source);
}
