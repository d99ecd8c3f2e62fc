/**
 * The stage-1 features folder the series stage learns from (`ichdet cv` writes it as
 * `CV/features/`): one row per image, in this order — out-of-fold rows first, then test rows,
 * each sorted by study, series and slice index.
 *
 *     index.csv        row,image_id,patient_id,study_uid,series_uid,z,slice_index,fold,part,
 *                      epidural,intraparenchymal,intraventricular,subarachnoid,subdural,any
 *                      (z empty when unknown; fold = the image's held-out fold, empty for test
 *                      rows; part `oof` or `test`; labels 0/1, empty when unknown)
 *     probs.npy        float32 [n, 6], LABEL_NAMES order
 *     embeddings.npy   float32 [n, dim], the head's global-average-pooled features
 *     features.json    {format: "ichdet-features", version: 1, arch, folds, n, dim, labels,
 *                       runs: ["runs/fold0", …], folds_trained: {"0": ["fold1", …], …}}
 *
 * An out-of-fold row's probabilities and embedding come from the fold model that did not train
 * on it (`runs[fold]`); a test row's are the mean over every fold model. The writer replaces the
 * folder atomically, so a kill never leaves a half-written one.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import { decodeNpy, encodeNpy } from '../io/npy.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { writeFolder } from '../run/folder.js';

export const FEATURES_FORMAT = 'ichdet-features';
export const FEATURES_VERSION = 1;
export const FEATURES_INDEX = 'index.csv';
export const FEATURES_PROBS = 'probs.npy';
export const FEATURES_EMBEDDINGS = 'embeddings.npy';
export const FEATURES_META = 'features.json';

export const FEATURES_COLUMNS = [
  'row',
  'image_id',
  'patient_id',
  'study_uid',
  'series_uid',
  'z',
  'slice_index',
  'fold',
  'part',
  ...LABEL_NAMES,
] as const;

export type FeaturePart = 'oof' | 'test';

/** One row of index.csv (row i of the matrices). */
export interface FeatureRow {
  imageId: string;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  /** Position along the slice normal (mm); null when unknown. */
  z: number | null;
  /** Order of the slice in its series (from the cache index). */
  sliceIndex: number;
  /** The image's held-out fold; null for test rows. */
  fold: number | null;
  part: FeaturePart;
  /** 0/1 per label in LABEL_NAMES order; null when unknown. */
  labels: (0 | 1 | null)[];
}

/** features.json. */
export interface FeaturesMeta {
  format: typeof FEATURES_FORMAT;
  version: typeof FEATURES_VERSION;
  arch: string;
  folds: number;
  n: number;
  dim: number;
  labels: string[];
  /** The fold runs, relative to the cv folder: `runs[k]` produced fold k's rows. */
  runs: string[];
  /** The training splits of each fold's run, keyed by fold index. */
  folds_trained: Record<string, string[]>;
}

export interface Features {
  dir: string;
  meta: FeaturesMeta;
  rows: FeatureRow[];
  /** n × 6, row-major. */
  probs: Float32Array;
  /** n × dim, row-major. */
  embeddings: Float32Array;
}

/** What the writer needs; `n` and `dim` are taken from rows and `embeddings`. */
export interface FeaturesInput {
  arch: string;
  folds: number;
  dim: number;
  runs: string[];
  foldsTrained: Record<string, string[]>;
  rows: FeatureRow[];
  probs: Float32Array;
  embeddings: Float32Array;
}

/** The order of the rows: out-of-fold first, then by study, series, slice index, image id. */
export function compareFeatureRows(a: FeatureRow, b: FeatureRow): number {
  const key = (r: FeatureRow) => [r.part === 'oof' ? 0 : 1, r.studyUid, r.seriesUid] as const;
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i]! < kb[i]!) return -1;
    if (ka[i]! > kb[i]!) return 1;
  }
  if (a.sliceIndex !== b.sliceIndex) return a.sliceIndex - b.sliceIndex;
  return a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0;
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Splits one CSV line (RFC 4180 quoting, no embedded newlines). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
}

/** index.csv's text. */
export function featuresIndexCsv(rows: readonly FeatureRow[]): string {
  const lines = [FEATURES_COLUMNS.join(',')];
  for (const [i, r] of rows.entries()) {
    lines.push(
      [
        String(i),
        csvField(r.imageId),
        csvField(r.patientId),
        csvField(r.studyUid),
        csvField(r.seriesUid),
        r.z === null || !Number.isFinite(r.z) ? '' : String(r.z),
        String(r.sliceIndex),
        r.fold === null ? '' : String(r.fold),
        r.part,
        ...r.labels.map((v) => (v === null ? '' : String(v))),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes a features folder at `dir` (replacing it atomically).
 *
 * @throws ConfigError when the matrices do not have one row per index row, or a row is bad.
 */
export async function writeFeatures(dir: string, f: FeaturesInput): Promise<string> {
  const n = f.rows.length;
  if (f.probs.length !== n * LABEL_COUNT) {
    throw new ConfigError(
      `features probs must hold ${n} × ${LABEL_COUNT} values, received ${f.probs.length}`,
    );
  }
  if (!Number.isInteger(f.dim) || f.dim < 0 || f.embeddings.length !== n * f.dim) {
    throw new ConfigError(
      `features embeddings must hold ${n} × ${f.dim} values, received ${f.embeddings.length}`,
    );
  }
  for (const r of f.rows) {
    if (r.labels.length !== LABEL_COUNT) {
      throw new ConfigError(
        `features row of image ${r.imageId} must have ${LABEL_COUNT} labels, received ${r.labels.length}`,
      );
    }
    if ((r.part === 'oof') !== (r.fold !== null)) {
      throw new ConfigError(
        `features row of image ${r.imageId}: part ${r.part} with fold ${String(r.fold)}; an oof row has a fold, a test row none`,
      );
    }
  }
  const meta: FeaturesMeta = {
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    arch: f.arch,
    folds: f.folds,
    n,
    dim: f.dim,
    labels: [...LABEL_NAMES],
    runs: f.runs,
    folds_trained: f.foldsTrained,
  };
  const out = resolve(dir);
  await writeFolder(dirname(out), basename(out), (tmp) => {
    writeFileSync(join(tmp, FEATURES_INDEX), featuresIndexCsv(f.rows));
    writeFileSync(join(tmp, FEATURES_PROBS), encodeNpy(f.probs, [n, LABEL_COUNT]));
    writeFileSync(join(tmp, FEATURES_EMBEDDINGS), encodeNpy(f.embeddings, [n, f.dim]));
    writeFileSync(join(tmp, FEATURES_META), `${JSON.stringify(meta, null, 2)}\n`);
  });
  return out;
}

function readText(file: string): string {
  if (!existsSync(file)) throw new InputError(`features file ${file} is missing`);
  return readFileSync(file, 'utf8');
}

function readMatrix(file: string, n: number, cols: number | null): Float32Array {
  if (!existsSync(file)) throw new InputError(`features file ${file} is missing`);
  const a = decodeNpy(readFileSync(file), file);
  if (a.dtype !== 'float32') {
    throw new InputError(`${file}: dtype must be float32, received ${a.dtype}`);
  }
  const [rows, width] = a.shape;
  if (a.shape.length !== 2 || rows !== n || (cols !== null && width !== cols)) {
    throw new InputError(
      `${file}: shape must be (${n}, ${cols ?? 'dim'}) to match ${FEATURES_INDEX} and ${FEATURES_META}, received (${a.shape.join(', ')})`,
    );
  }
  return a.data as Float32Array;
}

function readMeta(file: string): FeaturesMeta {
  let json: unknown;
  try {
    json = JSON.parse(readText(file));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError(`${file}: must hold a JSON object, received ${JSON.stringify(json)}`);
  }
  const m = json as Partial<FeaturesMeta>;
  if (m.format !== FEATURES_FORMAT || m.version !== FEATURES_VERSION) {
    throw new InputError(
      `${file}: format must be ${FEATURES_FORMAT} version ${FEATURES_VERSION}, received ${String(m.format)} version ${String(m.version)}`,
    );
  }
  for (const k of ['n', 'dim', 'folds'] as const) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new InputError(`${file}: ${k} must be an integer ≥ 0, received ${JSON.stringify(v)}`);
    }
  }
  if (JSON.stringify(m.labels) !== JSON.stringify(LABEL_NAMES)) {
    throw new InputError(
      `${file}: labels must be ${LABEL_NAMES.join(',')}, received ${JSON.stringify(m.labels)}`,
    );
  }
  if (!Array.isArray(m.runs) || m.runs.length !== m.folds) {
    throw new InputError(
      `${file}: runs must list ${m.folds} fold runs, received ${JSON.stringify(m.runs)}`,
    );
  }
  return m as FeaturesMeta;
}

function parseIndex(file: string, text: string, folds: number): FeatureRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0] ?? '';
  if (header !== FEATURES_COLUMNS.join(',')) {
    const got = header.split(',');
    const misplaced = FEATURES_COLUMNS.filter((c, i) => got[i] !== c);
    throw new InputError(
      `${file}:1: header must be "${FEATURES_COLUMNS.join(',')}"; missing or misplaced: ${misplaced.join(', ') || '(extra columns)'}, received "${header}"`,
    );
  }
  const rows: FeatureRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const at = `${file}:${i + 1}`;
    const c = csvCells(line);
    if (c.length !== FEATURES_COLUMNS.length) {
      throw new InputError(
        `${at}: expected ${FEATURES_COLUMNS.length} fields, received ${c.length}`,
      );
    }
    const [row, imageId, patientId, studyUid, seriesUid, z, sliceIndex, fold, part] = c as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (row !== String(rows.length)) {
      throw new InputError(`${at}: row must be ${rows.length}, received "${row}"`);
    }
    if (part !== 'oof' && part !== 'test') {
      throw new InputError(`${at}: part must be oof or test, received "${part}"`);
    }
    const foldN = fold === '' ? null : Number(fold);
    if (
      (part === 'oof') !== (foldN !== null) ||
      (foldN !== null && !(Number.isInteger(foldN) && foldN >= 0 && foldN < folds))
    ) {
      throw new InputError(
        `${at}: fold must be an integer in [0, ${folds}) for an oof row and empty for a test row, received "${fold}" (part ${part})`,
      );
    }
    const zN = z === '' ? null : Number(z);
    if (zN !== null && !Number.isFinite(zN)) {
      throw new InputError(`${at}: z must be a number or empty, received "${z}"`);
    }
    if (!/^[0-9]+$/.test(sliceIndex)) {
      throw new InputError(`${at}: slice_index must be an integer ≥ 0, received "${sliceIndex}"`);
    }
    const labels = c.slice(9).map((v, l) => {
      if (v === '') return null;
      if (v === '0' || v === '1') return Number(v) as 0 | 1;
      throw new InputError(`${at}: ${LABEL_NAMES[l]} must be 0, 1 or empty, received "${v}"`);
    });
    rows.push({
      imageId,
      patientId,
      studyUid,
      seriesUid,
      z: zN,
      sliceIndex: Number(sliceIndex),
      fold: foldN,
      part,
      labels,
    });
  }
  return rows;
}

/**
 * Reads and checks a features folder.
 *
 * @throws InputError naming the file and what is wrong: a missing file, a bad header or row, a
 *   matrix whose shape or dtype does not match, or a row count that differs between index.csv,
 *   features.json and the matrices.
 */
export function readFeatures(dir: string): Features {
  const root = resolve(dir);
  if (!existsSync(root)) throw new InputError(`no such features folder: ${root}`);
  const metaFile = join(root, FEATURES_META);
  const meta = readMeta(metaFile);
  const indexFile = join(root, FEATURES_INDEX);
  const rows = parseIndex(indexFile, readText(indexFile), meta.folds);
  if (rows.length !== meta.n) {
    throw new InputError(
      `${indexFile}: holds ${rows.length} rows, ${FEATURES_META} says n = ${meta.n}`,
    );
  }
  const probs = readMatrix(join(root, FEATURES_PROBS), meta.n, LABEL_COUNT);
  const embeddings = readMatrix(join(root, FEATURES_EMBEDDINGS), meta.n, meta.dim);
  return { dir: root, meta, rows, probs, embeddings };
}
