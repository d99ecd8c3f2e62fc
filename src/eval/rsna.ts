/**
 * The RSNA 2019 CSV format, both ways: `ID,Label` then one row `ID_<image>_<subtype>,<value>`
 * per image and label (`epidural, intraparenchymal, intraventricular, subarachnoid, subdural,
 * any`). A labels file (stage_2_train.csv) holds 0/1; a submission holds probabilities.
 *
 * Labels are read by data/labels.ts, as `prepare` reads them (exact duplicate rows, which the
 * real file has, are dropped; a conflicting duplicate keeps 1); for scoring, a malformed row
 * or an image without all six labels is an error. A submission is read strictly: the first bad
 * row is an InputError naming the file, the line and the value received.
 */
import { readFile } from 'node:fs/promises';
import { type LabelsReport, parseLabels } from '../data/labels.js';
import { InputError } from '../errors.js';
import { LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { writeFileAtomic } from '../util/files.js';

/** An image id: `ID_` and one part without `_` or `,`. */
const IMAGE_ID = /^ID_[^_,]+$/;
/** A row's id: image id, `_`, subtype. */
const ROW_ID = /^(ID_[^_,]+)_([^_,]+)$/;
/** A decimal number as pandas and numpy write it (no `nan`, `inf` or hex). */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const LABEL_INDEX = new Map<string, number>(LABEL_NAMES.map((n, i) => [n, i]));
const ALL_LABELS = (1 << LABEL_NAMES.length) - 1;
const HEADER = 'ID,Label';

/** Labels of n images: y is n × 6, row-major, in LABEL_NAMES order. */
export interface RsnaLabels {
  file: string;
  imageIds: string[];
  y: Uint8Array;
  /** What data/labels.ts found: duplicate and conflicting rows (kept as `prepare` keeps them). */
  report: LabelsReport;
}

/** A submission: one probability per image and label, values n × 6 row-major. */
export interface RsnaSubmission {
  file: string;
  imageIds: string[];
  values: Float64Array;
  /** The line of each image's first row (1-based, the header is line 1), for messages. */
  lines: Uint32Array;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/**
 * Parses a labels CSV for scoring.
 *
 * @throws InputError for a bad header, a malformed row, an image without all six labels, or
 *   a file with no image.
 */
export function parseRsnaLabels(text: string, file: string): RsnaLabels {
  const { labels, report } = parseLabels(text, file);
  const first = report.malformed.examples[0];
  if (first !== undefined) {
    const more = report.malformed.count - 1;
    throw new InputError(`labels ${first}${more > 0 ? ` (and ${more} more malformed rows)` : ''}`);
  }
  if (labels.size === 0) throw new InputError(`labels ${file}: no label row after the header`);
  const imageIds = [...labels.keys()];
  const y = new Uint8Array(imageIds.length * LABEL_COUNT);
  let incomplete = 0;
  let example = '';
  for (const [i, id] of imageIds.entries()) {
    const row = labels.get(id)!;
    const missing = LABEL_NAMES.filter((_, l) => row[l] === -1);
    if (missing.length > 0) {
      if (incomplete++ === 0) example = `${id} has no row for ${missing.join(', ')}`;
      continue;
    }
    for (let l = 0; l < LABEL_COUNT; l++) y[i * LABEL_COUNT + l] = row[l]!;
  }
  if (incomplete > 0) {
    throw new InputError(
      `labels ${file}: ${incomplete} image${incomplete === 1 ? '' : 's'} without all six labels, first ${example}`,
    );
  }
  return { file, imageIds, y, report };
}

/** Reads a labels CSV for scoring (see `parseRsnaLabels`). */
export async function readRsnaLabels(file: string): Promise<RsnaLabels> {
  return parseRsnaLabels(await readText(file, 'labels'), file);
}

/**
 * Parses a submission strictly.
 *
 * @throws InputError naming the file, the line and the value received, for: a bad header, a row
 *   that is not `id,value`, a bad id, an unknown subtype, a value that is not a number or not in
 *   [0, 1], a duplicate row, an image missing some of its six rows, or no row at all.
 */
export function parseSubmission(text: string, file: string): RsnaSubmission {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').trim();
  if (header !== HEADER) {
    throw new InputError(
      `${file} line 1: expected the header "${HEADER}", received "${header.slice(0, 80)}"`,
    );
  }
  const index = new Map<string, number>();
  const imageIds: string[] = [];
  const firstLine: number[] = [];
  const seen: number[] = [];
  const rowLines: number[] = [];
  let values = new Float64Array(LABEL_COUNT * 1024);
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const at = `${file} line ${i + 1}`;
    const fields = line.split(',');
    if (fields.length !== 2) {
      throw new InputError(
        `${at}: expected "ID_<image>_<subtype>,<probability>" (2 fields), received "${line.slice(0, 120)}"`,
      );
    }
    const rowId = fields[0]!.trim();
    const raw = fields[1]!.trim();
    const m = ROW_ID.exec(rowId);
    if (!m) {
      throw new InputError(
        `${at}: expected an id ID_<image>_<subtype>, received "${rowId.slice(0, 120)}"`,
      );
    }
    const id = m[1]!;
    const subtype = m[2]!;
    const l = LABEL_INDEX.get(subtype);
    if (l === undefined) {
      throw new InputError(
        `${at}: unknown subtype "${subtype}" in ${rowId}, expected one of ${LABEL_NAMES.join(', ')}`,
      );
    }
    if (!DECIMAL.test(raw)) {
      throw new InputError(
        `${at}: ${rowId} has a prediction that is not a number: "${raw.slice(0, 40)}"`,
      );
    }
    const v = Number(raw);
    if (!(v >= 0 && v <= 1)) {
      throw new InputError(`${at}: ${rowId} has a prediction outside [0, 1]: ${raw}`);
    }
    let k = index.get(id);
    if (k === undefined) {
      k = imageIds.length;
      index.set(id, k);
      imageIds.push(id);
      firstLine.push(i + 1);
      seen.push(0);
      for (let j = 0; j < LABEL_COUNT; j++) rowLines.push(0);
      if (values.length < imageIds.length * LABEL_COUNT) {
        const grown = new Float64Array(values.length * 2);
        grown.set(values);
        values = grown;
      }
    }
    const bit = 1 << l;
    if ((seen[k]! & bit) !== 0) {
      throw new InputError(`${at}: ${rowId} repeats line ${rowLines[k * LABEL_COUNT + l]}`);
    }
    seen[k] = seen[k]! | bit;
    rowLines[k * LABEL_COUNT + l] = i + 1;
    values[k * LABEL_COUNT + l] = v;
  }
  if (imageIds.length === 0) throw new InputError(`${file}: no prediction row after the header`);
  let incomplete = 0;
  let example = '';
  for (let k = 0; k < imageIds.length; k++) {
    if (seen[k] === ALL_LABELS) continue;
    if (incomplete++ === 0) {
      const missing = LABEL_NAMES.filter((_, l) => (seen[k]! & (1 << l)) === 0);
      example = `line ${firstLine[k]}: ${imageIds[k]} has no row for ${missing.join(', ')}`;
    }
  }
  if (incomplete > 0) {
    throw new InputError(
      `${file} ${example}${incomplete > 1 ? ` (and ${incomplete - 1} more images missing rows)` : ''}`,
    );
  }
  return {
    file,
    imageIds,
    values: values.slice(0, imageIds.length * LABEL_COUNT),
    lines: Uint32Array.from(firstLine),
  };
}

/** Reads a submission strictly (see `parseSubmission`). */
export async function readSubmission(file: string): Promise<RsnaSubmission> {
  return parseSubmission(await readText(file, 'predictions'), file);
}

/**
 * The predictions of a submission in the order of the labelled images (n × 6).
 *
 * @throws InputError when a labelled image has no prediction (naming the first and the count)
 *   or the submission predicts an image that has no label (naming its line and the count).
 */
export function alignPredictions(
  labels: Pick<RsnaLabels, 'file' | 'imageIds'>,
  preds: RsnaSubmission,
): Float64Array {
  const index = new Map<string, number>(preds.imageIds.map((id, k) => [id, k]));
  let missing = 0;
  let firstMissing = '';
  for (const id of labels.imageIds) {
    if (!index.has(id) && missing++ === 0) firstMissing = id;
  }
  if (missing > 0) {
    throw new InputError(
      `${preds.file}: ${missing} of the ${labels.imageIds.length} images in ${labels.file} have no prediction, first ${firstMissing}`,
    );
  }
  if (preds.imageIds.length > labels.imageIds.length) {
    const labelled = new Set(labels.imageIds);
    const k = preds.imageIds.findIndex((id) => !labelled.has(id));
    const extra = preds.imageIds.length - labels.imageIds.length;
    throw new InputError(
      `${preds.file} line ${preds.lines[k]}: ${preds.imageIds[k]} is not in ${labels.file} ` +
        `(${extra} image${extra === 1 ? '' : 's'} predicted without a label)`,
    );
  }
  const out = new Float64Array(labels.imageIds.length * LABEL_COUNT);
  for (const [i, id] of labels.imageIds.entries()) {
    const k = index.get(id)!;
    out.set(preds.values.subarray(k * LABEL_COUNT, (k + 1) * LABEL_COUNT), i * LABEL_COUNT);
  }
  return out;
}

/**
 * A probability as text: for float32 data the shortest decimal that reads back to the same
 * float32 (so 0.1f is written "0.1", not "0.10000000149011612"); otherwise JavaScript's shortest
 * round-trip form.
 */
export function formatProbability(v: number, float32: boolean): string {
  if (!float32) return String(v);
  // 9 significant digits always read back; if k digits do, k + 1 do too: bisect for the fewest.
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Math.fround(Number(v.toPrecision(mid))) === v) hi = mid;
    else lo = mid + 1;
  }
  return String(Number(v.toPrecision(lo)));
}

/**
 * A submission's text: `ID,Label`, then six rows per image in LABEL_NAMES order.
 *
 * @throws RangeError for a bad or repeated image id, p not n × 6, or a value outside [0, 1].
 */
export function formatSubmission(imageIds: readonly string[], p: ArrayLike<number>): string {
  if (p.length !== imageIds.length * LABEL_COUNT) {
    throw new RangeError(
      `expected ${imageIds.length} × ${LABEL_COUNT} = ${imageIds.length * LABEL_COUNT} predictions, received ${p.length}`,
    );
  }
  const float32 = p instanceof Float32Array;
  const seen = new Set<string>();
  const out: string[] = [HEADER];
  for (const [i, id] of imageIds.entries()) {
    if (!IMAGE_ID.test(id)) {
      throw new RangeError(`image id must be ID_ and one part without _ or ",", received "${id}"`);
    }
    if (seen.has(id)) throw new RangeError(`image id ${id} is listed twice`);
    seen.add(id);
    for (const [l, name] of LABEL_NAMES.entries()) {
      const v = p[i * LABEL_COUNT + l]!;
      if (!(v >= 0 && v <= 1)) {
        throw new RangeError(`prediction for ${id}_${name} must be in [0, 1], received ${v}`);
      }
      out.push(`${id}_${name},${formatProbability(v, float32)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** Writes a submission atomically (see `formatSubmission`). */
export async function writeSubmission(
  file: string,
  imageIds: readonly string[],
  p: ArrayLike<number>,
): Promise<void> {
  await writeFileAtomic(file, formatSubmission(imageIds, p));
}
