/**
 * Reading a features folder (`ichdet cv --out CV` writes `CV/features/`) as series: the stage-2
 * model's input. The folder holds
 *
 *     index.csv       row,image_id,patient_id,study_uid,series_uid,z,slice_index,fold,part,
 *                     <the six labels>  (one row per image, in matrix order)
 *     probs.npy       float32 [n, 6]   the stage-1 probabilities (out-of-fold for part=oof)
 *     embeddings.npy  float32 [n, D]   the stage-1 penultimate features
 *     features.json   {format: "ichdet-features", version: 1, arch, folds, n, dim, labels, …}
 *
 * Rows are grouped by series_uid and ordered by slice_index; Δz is the distance along the slice
 * normal to the next slice (0 for the last; the series' median step where z is missing).
 * Every problem is an InputError that names the file and what is missing or wrong.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { decodeNpy } from '../io/npy.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';

export const FEATURES_INDEX = 'index.csv';
export const FEATURES_PROBS = 'probs.npy';
export const FEATURES_EMBEDDINGS = 'embeddings.npy';
export const FEATURES_META = 'features.json';
export const FEATURES_FORMAT = 'ichdet-features';

/** The columns index.csv must have, in this order. */
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

/** features.json, as far as stage 2 reads it. */
export interface FeaturesMeta {
  format: string;
  version: number;
  arch: string;
  folds: number;
  n: number;
  dim: number;
  labels: string[];
  [field: string]: unknown;
}

/** One series of a features folder, its slices in order. */
export interface FeatureSeries {
  seriesUid: string;
  studyUid: string;
  patientId: string;
  /** The held-out fold of the series' images; null for test series. */
  fold: number | null;
  part: FeaturePart;
  /** Matrix rows of the slices, ordered by slice_index. */
  rows: number[];
  /** Position along the slice normal (mm), null where index.csv left it empty. */
  z: (number | null)[];
  /** Distance to the next slice (mm); 0 for the last. */
  dz: Float32Array;
}

export interface FeatureSet {
  dir: string;
  meta: FeaturesMeta;
  n: number;
  dim: number;
  imageIds: string[];
  /** Stage-1 probabilities, n × 6 row-major. */
  probs: Float32Array;
  /** n × dim row-major. */
  embeddings: Float32Array;
  /** n × 6 labels, NaN where index.csv left a label empty. */
  labels: Float32Array;
  series: FeatureSeries[];
}

function readText(dir: string, name: string, what: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    throw new InputError(`${join(dir, name)} is missing: a features folder needs ${what}`);
  }
}

function readMeta(dir: string): FeaturesMeta {
  const file = join(dir, FEATURES_META);
  const text = readText(dir, FEATURES_META, 'features.json (format, folds, n, dim)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError(`${file} must hold a JSON object`);
  }
  const o = json as Record<string, unknown>;
  if (o.format !== FEATURES_FORMAT) {
    throw new InputError(
      `${file}: "format" must be "${FEATURES_FORMAT}", received ${JSON.stringify(o.format)}`,
    );
  }
  for (const field of ['version', 'folds', 'n', 'dim'] as const) {
    const v = o[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new InputError(
        `${file}: "${field}" must be a non-negative integer, received ${JSON.stringify(v)}`,
      );
    }
  }
  if (o.version !== 1) {
    throw new InputError(`${file}: "version" must be 1, received ${JSON.stringify(o.version)}`);
  }
  const labels = o.labels;
  if (!Array.isArray(labels) || labels.join(',') !== LABEL_NAMES.join(',')) {
    throw new InputError(
      `${file}: "labels" must be ${JSON.stringify(LABEL_NAMES)}, received ${JSON.stringify(labels)}`,
    );
  }
  return o as unknown as FeaturesMeta;
}

function readMatrix(dir: string, name: string, rows: number, cols: number | null): Float32Array {
  const file = join(dir, name);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new InputError(`${file} is missing: a features folder needs ${name}`);
  }
  const a = decodeNpy(bytes, file);
  const want = `[${rows}, ${cols ?? 'D'}]`;
  if (
    a.dtype !== 'float32' ||
    a.shape.length !== 2 ||
    a.shape[0] !== rows ||
    (cols !== null && a.shape[1] !== cols)
  ) {
    throw new InputError(
      `${file}: expected float32 ${want} (one row per index.csv row), received ${a.dtype} [${a.shape.join(', ')}]`,
    );
  }
  return a.data as Float32Array;
}

function intField(file: string, line: number, name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) {
    throw new InputError(`${file} line ${line}: "${name}" must be an integer, received "${v}"`);
  }
  return n;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Δz to the next slice, |z[i+1] − z[i]|; the median known step where a z is missing. */
export function stepsOf(z: readonly (number | null)[]): Float32Array {
  const out = new Float32Array(z.length);
  const known: number[] = [];
  for (let i = 0; i + 1 < z.length; i++) {
    const a = z[i];
    const b = z[i + 1];
    if (a !== null && a !== undefined && b !== null && b !== undefined) known.push(Math.abs(b - a));
  }
  const fill = median(known);
  for (let i = 0; i + 1 < z.length; i++) {
    const a = z[i];
    const b = z[i + 1];
    out[i] =
      a !== null && a !== undefined && b !== null && b !== undefined ? Math.abs(b - a) : fill;
  }
  return out;
}

interface IndexRow {
  imageId: string;
  patientId: string;
  studyUid: string;
  seriesUid: string;
  z: number | null;
  sliceIndex: number;
  fold: number | null;
  part: FeaturePart;
}

function readIndex(dir: string, labels: Float32Array[]): IndexRow[] {
  const file = join(dir, FEATURES_INDEX);
  const text = readText(dir, FEATURES_INDEX, 'index.csv (one row per image)');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((s) => s.trim());
  const missing = FEATURES_COLUMNS.filter((c, i) => header[i] !== c);
  if (missing.length > 0 || header.length !== FEATURES_COLUMNS.length) {
    throw new InputError(
      `${file}: header must be "${FEATURES_COLUMNS.join(',')}"; missing or misplaced: ${missing.join(', ') || '(extra columns)'}, received "${header.join(',')}"`,
    );
  }
  const rows: IndexRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',');
    const line = i + 1;
    if (f.length !== FEATURES_COLUMNS.length) {
      throw new InputError(
        `${file} line ${line}: expected ${FEATURES_COLUMNS.length} fields, received ${f.length}`,
      );
    }
    const row = intField(file, line, 'row', f[0]!);
    if (row !== i - 1) {
      throw new InputError(`${file} line ${line}: "row" must be ${i - 1}, received ${row}`);
    }
    const part = f[8]!.trim();
    if (part !== 'oof' && part !== 'test') {
      throw new InputError(`${file} line ${line}: "part" must be oof or test, received "${part}"`);
    }
    const zText = f[5]!.trim();
    const z = zText === '' ? null : Number(zText);
    if (z !== null && !Number.isFinite(z)) {
      throw new InputError(
        `${file} line ${line}: "z" must be a number or empty, received "${zText}"`,
      );
    }
    const foldText = f[7]!.trim();
    const fold = foldText === '' ? null : intField(file, line, 'fold', foldText);
    if (part === 'oof' && fold === null) {
      throw new InputError(`${file} line ${line}: an oof row needs its "fold"`);
    }
    const y = new Float32Array(LABEL_COUNT);
    for (let l = 0; l < LABEL_COUNT; l++) {
      const v = f[9 + l]!.trim();
      if (v === '') y[l] = Number.NaN;
      else if (v === '0' || v === '1') y[l] = Number(v);
      else {
        throw new InputError(
          `${file} line ${line}: "${LABEL_NAMES[l]}" must be 0, 1 or empty, received "${v}"`,
        );
      }
    }
    labels.push(y);
    rows.push({
      imageId: f[1]!,
      patientId: f[2]!,
      studyUid: f[3]!,
      seriesUid: f[4]!,
      z,
      sliceIndex: intField(file, line, 'slice_index', f[6]!),
      fold,
      part,
    });
  }
  return rows;
}

function groupSeries(file: string, rows: IndexRow[]): FeatureSeries[] {
  const groups = new Map<string, number[]>();
  for (const [i, r] of rows.entries()) {
    const g = groups.get(r.seriesUid);
    if (g === undefined) groups.set(r.seriesUid, [i]);
    else g.push(i);
  }
  const out: FeatureSeries[] = [];
  for (const [uid, idx] of groups) {
    idx.sort((a, b) => rows[a]!.sliceIndex - rows[b]!.sliceIndex);
    const first = rows[idx[0]!]!;
    for (const i of idx) {
      const r = rows[i]!;
      if (r.fold !== first.fold || r.part !== first.part || r.studyUid !== first.studyUid) {
        throw new InputError(
          `${file}: series ${uid} mixes fold/part/study (row ${idx[0]}: fold ${first.fold} ${first.part} ${first.studyUid}; row ${i}: fold ${r.fold} ${r.part} ${r.studyUid})`,
        );
      }
    }
    const z = idx.map((i) => rows[i]!.z);
    out.push({
      seriesUid: uid,
      studyUid: first.studyUid,
      patientId: first.patientId,
      fold: first.fold,
      part: first.part,
      rows: idx,
      z,
      dz: stepsOf(z),
    });
  }
  return out;
}

/**
 * Reads a features folder and groups its rows into series.
 *
 * @throws InputError naming the file and what is missing or wrong: a missing file, a bad
 *   index.csv header or row, a matrix whose shape does not match index.csv or features.json.
 */
export function loadFeatureSeries(dir: string): FeatureSet {
  const meta = readMeta(dir);
  const labelRows: Float32Array[] = [];
  const rows = readIndex(dir, labelRows);
  const n = rows.length;
  if (meta.n !== n) {
    throw new InputError(
      `${join(dir, FEATURES_META)}: "n" is ${meta.n} but ${FEATURES_INDEX} has ${n} rows`,
    );
  }
  const probs = readMatrix(dir, FEATURES_PROBS, n, LABEL_COUNT);
  const embeddings = readMatrix(dir, FEATURES_EMBEDDINGS, n, meta.dim);
  const labels = new Float32Array(n * LABEL_COUNT);
  for (const [i, y] of labelRows.entries()) labels.set(y, i * LABEL_COUNT);
  return {
    dir,
    meta,
    n,
    dim: meta.dim,
    imageIds: rows.map((r) => r.imageId),
    probs,
    embeddings,
    labels,
    series: groupSeries(join(dir, FEATURES_INDEX), rows),
  };
}
