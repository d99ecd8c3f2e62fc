/**
 * The metadata index that `ichdet index` writes: one SQLite file (WAL mode) holding, for every
 * file of an images folder, what a cache's index (cache.ts) records of it, without the pixels:
 *
 * - `slices`: the columns of a cache's `slices` table except `shard`, `record` and `context`
 *   (image_id, patient_id, study_uid, series_uid, z, instance_number, slice_index, prev_id,
 *   next_id, the six labels, source, file_index, rows, cols, pixel spacing, slope, intercept,
 *   bits_stored, pixel_representation, rsna_fix_applied), with the same values a full
 *   `prepare` of the same folder gives;
 * - `rejects`: source, file_index, reason, with the reasons `prepare` gives;
 * - `config`: key/value (JSON): kind, format, version, images, file_count, file_list_sha256,
 *   rsna_fix, labels, created_at, complete.
 *
 * `split --index` draws a split from it before anything is cached, and
 * `prepare --index … --split …` caches only the selected images and their context neighbours.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConfigError, InputError } from '../errors.js';
import { type Db, type RejectRow, SLICE_HEADER_COLUMNS_SQL, type SliceRow } from './cache.js';
import { contextIndices } from './series.js';
import { type CacheIndexRow, LABEL_NAMES, type Labels } from './types.js';

export const META_KIND = 'ichdet-index';
export const META_FORMAT = 1;

export const META_SCHEMA = `
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slices (${SLICE_HEADER_COLUMNS_SQL});
CREATE INDEX IF NOT EXISTS slices_series ON slices (series_uid);
CREATE TABLE IF NOT EXISTS rejects (
  source TEXT PRIMARY KEY,
  file_index INTEGER NOT NULL,
  reason TEXT NOT NULL
);
`;

/** A `slices` row of the metadata index: a cache row without its slot. */
export type MetaRow = Omit<SliceRow, 'shard' | 'record' | 'context'>;

/** What the index was built from; checked when `index` resumes and when `prepare` uses it. */
export interface MetaConfig {
  version: string;
  /** Absolute images folder; `source` is relative to it. */
  images: string;
  fileCount: number;
  fileListSha256: string;
  rsnaFix: boolean;
  labels: string | null;
  createdAt: string;
  complete: boolean;
}

/** Opens (creating when asked) a metadata index file in WAL mode. */
export function openMetaDb(path: string, create: boolean): Db {
  if (!create && !existsSync(path)) throw new InputError(`no such metadata index: ${path}`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // As for a cache: a commit survives a killed process.
  db.pragma('synchronous = NORMAL');
  if (create) db.exec(META_SCHEMA);
  return db;
}

export function saveMetaConfig(db: Db, c: MetaConfig): void {
  const put = db.prepare('INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)');
  const entries: [string, unknown][] = [
    ['kind', META_KIND],
    ['format', META_FORMAT],
    ['version', c.version],
    ['images', c.images],
    ['file_count', c.fileCount],
    ['file_list_sha256', c.fileListSha256],
    ['rsna_fix', c.rsnaFix],
    ['labels', c.labels],
    ['created_at', c.createdAt],
    ['complete', c.complete],
  ];
  db.transaction(() => {
    for (const [k, v] of entries) put.run(k, JSON.stringify(v));
  })();
}

/** Reads the config of an open metadata index; undefined when it has none yet. */
export function loadMetaConfig(db: Db, path: string): MetaConfig | undefined {
  let rows: { key: string; value: string }[];
  try {
    rows = db.prepare('SELECT key, value FROM config').all() as typeof rows;
  } catch {
    throw new InputError(`${path} is not an ichdet metadata index: it has no config table`);
  }
  if (rows.length === 0) return undefined;
  const t = new Map(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  if (t.get('kind') !== META_KIND) {
    throw new InputError(
      `${path} is not an ichdet metadata index (config kind ${JSON.stringify(t.get('kind') ?? null)}, expected "${META_KIND}"); a cache folder is read with --cache`,
    );
  }
  if (t.get('format') !== META_FORMAT) {
    throw new ConfigError(
      `${path}: metadata index format is ${String(t.get('format'))}, expected ${META_FORMAT} (index the images again with this ichdet)`,
    );
  }
  return {
    version: t.get('version') as string,
    images: t.get('images') as string,
    fileCount: t.get('file_count') as number,
    fileListSha256: t.get('file_list_sha256') as string,
    rsnaFix: t.get('rsna_fix') as boolean,
    labels: (t.get('labels') ?? null) as string | null,
    createdAt: t.get('created_at') as string,
    complete: t.get('complete') as boolean,
  };
}

/** A finished metadata index opened for reading. */
export interface MetaIndex {
  readonly path: string;
  readonly config: MetaConfig;
  /** Every slice in file order, as `split` needs them (the shape of `Cache.rows()`). */
  rows(): CacheIndexRow[];
  /** Full rows, in file order. */
  sliceRows(): MetaRow[];
  rejects(): RejectRow[];
  close(): void;
}

/**
 * Opens a finished metadata index.
 *
 * @throws InputError when the file is missing or not an index; ConfigError when it is
 *   unfinished.
 */
export function openMetaIndex(path: string): MetaIndex {
  const db = openMetaDb(path, false);
  let config: MetaConfig | undefined;
  try {
    config = loadMetaConfig(db, path);
    if (config === undefined) {
      throw new InputError(`${path} is not an ichdet metadata index: its config is empty`);
    }
    if (!config.complete) {
      throw new ConfigError(
        `metadata index ${path} is incomplete (its index run was interrupted or is running); run the same index command again to finish it`,
      );
    }
  } catch (err) {
    db.close();
    throw err;
  }
  const sliceRows = () => db.prepare('SELECT * FROM slices ORDER BY file_index').all() as MetaRow[];
  return {
    path,
    config,
    rows: () =>
      sliceRows().map((r) => ({
        imageId: r.image_id,
        patientId: r.patient_id,
        studyInstanceUid: r.study_uid,
        seriesInstanceUid: r.series_uid,
        z: r.z ?? Number.NaN,
        sliceIndex: r.slice_index ?? 0,
        labels: LABEL_NAMES.map((n) => r[n] ?? -1) as Labels,
      })),
    sliceRows,
    rejects: () => db.prepare('SELECT * FROM rejects ORDER BY file_index').all() as RejectRow[],
    close: () => db.close(),
  };
}

/**
 * The files a restricted prepare caches: every selected image, plus the `context` slices on
 * either side of each in its series (the 2.5D window of `--context K` training, series.ts
 * `contextIndices`), in file order. A file is a context file when only its neighbours were
 * selected.
 *
 * @throws InputError naming the first selected image the index does not hold.
 */
export function selectWithContext(
  rows: readonly MetaRow[],
  selected: ReadonlySet<string>,
  context: number,
): { rel: string; context: boolean; fileIndex: number }[] {
  const bySeries = new Map<string, MetaRow[]>();
  const known = new Set<string>();
  for (const r of rows) {
    known.add(r.image_id);
    const s = bySeries.get(r.series_uid);
    if (s) s.push(r);
    else bySeries.set(r.series_uid, [r]);
  }
  const missing = [...selected].filter((id) => !known.has(id));
  if (missing.length > 0) {
    throw new InputError(
      `split image ${missing[0]} is not in the metadata index (${missing.length} of ${selected.size} selected images are missing); was the split made from another index?`,
    );
  }
  const keep = new Map<MetaRow, boolean>();
  for (const s of bySeries.values()) {
    s.sort((a, b) => (a.slice_index ?? 0) - (b.slice_index ?? 0));
    s.forEach((r, i) => {
      if (!selected.has(r.image_id)) return;
      keep.set(r, false);
      for (const j of contextIndices(i, s.length, context)) {
        const n = s[j]!;
        if (!keep.has(n)) keep.set(n, !selected.has(n.image_id));
      }
    });
  }
  return [...keep]
    .map(([r, isContext]) => ({ rel: r.source, context: isContext, fileIndex: r.file_index }))
    .sort((a, b) => a.fileIndex - b.fileIndex);
}
