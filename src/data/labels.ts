/**
 * The RSNA label CSV: header `ID,Label`, then rows `ID_<image>_<subtype>,<0|1>`, six per image
 * (`epidural, intraparenchymal, intraventricular, subarachnoid, subdural, any`).
 *
 * The image id is `ID_` followed by one part with no underscore; the subtype is the last
 * `_`-separated part. Curation rules, each reported with an exact count and a few examples:
 * - a wrong header is fatal (InputError): the file is not a label CSV;
 * - a malformed row (bad id, unknown subtype, label other than 0/1, missing comma) is skipped;
 * - an exact duplicate row (same id, subtype and label) is removed;
 * - a conflicting duplicate (same id and subtype, different labels) keeps the positive label,
 *   1: a finding any reader marked is kept (the safe side for a triage model);
 * - an image missing some of the six subtypes keeps the ones it has (the others are unknown);
 * - an image whose `any` differs from the OR of its five subtypes is kept as given.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InputError } from '../errors.js';
import { LABEL_NAMES, type LabelName, type Labels } from './types.js';

/** How many examples each report keeps. */
export const REPORT_EXAMPLES = 5;

/** A counted problem with its first few examples. */
export interface Finding {
  count: number;
  examples: string[];
}

export interface LabelsReport {
  /** The CSV as given. */
  file: string;
  /** Data rows read (header and blank lines not counted). */
  rows: number;
  /** Distinct images with at least one valid row. */
  images: number;
  malformed: Finding;
  exactDuplicates: Finding;
  conflicts: Finding;
  missingSubtypes: Finding;
  anyDisagrees: Finding;
}

export interface LabelTable {
  /** Image id → labels in LABEL_NAMES order; -1 where the CSV has no row for that label. */
  labels: Map<string, Labels>;
  report: LabelsReport;
}

const ROW = /^(ID_[^_,]+)_([^_,]+),(.*)$/;
const LABEL_INDEX = new Map<string, number>(LABEL_NAMES.map((n, i) => [n, i]));

function finding(): Finding {
  return { count: 0, examples: [] };
}

function note(f: Finding, example: string): void {
  f.count++;
  if (f.examples.length < REPORT_EXAMPLES) f.examples.push(example);
}

/**
 * Parses the text of a label CSV (`file` names it in messages).
 *
 * @throws InputError when the header is not `ID,Label`.
 */
export function parseLabels(text: string, file: string): LabelTable {
  const name = basename(file);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').trim();
  if (header !== 'ID,Label') {
    throw new InputError(
      `${name} line 1: expected the header "ID,Label", received "${header.slice(0, 80)}"`,
    );
  }
  const report: LabelsReport = {
    file,
    rows: 0,
    images: 0,
    malformed: finding(),
    exactDuplicates: finding(),
    conflicts: finding(),
    missingSubtypes: finding(),
    anyDisagrees: finding(),
  };
  const labels = new Map<string, Labels>();
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    report.rows++;
    const m = ROW.exec(line);
    const subtype = m?.[2];
    const k = subtype === undefined ? undefined : LABEL_INDEX.get(subtype);
    const value = m?.[3];
    if (!m || k === undefined || (value !== '0' && value !== '1')) {
      note(
        report.malformed,
        `${name} line ${i + 1}: expected ID_<image>_<subtype>,<0 or 1> with subtype one of ` +
          `${LABEL_NAMES.join('|')}, received "${line.slice(0, 120)}"`,
      );
      continue;
    }
    const id = m[1]!;
    const v = value === '1' ? 1 : 0;
    let row = labels.get(id);
    if (!row) {
      row = [-1, -1, -1, -1, -1, -1];
      labels.set(id, row);
    }
    const old = row[k]!;
    if (old === -1) row[k] = v;
    else if (old === v) {
      note(report.exactDuplicates, `${name} line ${i + 1}: ${line} repeats an earlier row`);
    } else {
      note(
        report.conflicts,
        `${name} line ${i + 1}: ${id} ${subtype} is ${v} here and ${old} on an earlier row; kept 1`,
      );
      row[k] = 1;
    }
  }
  report.images = labels.size;
  for (const [id, row] of labels) {
    const missing = LABEL_NAMES.filter((_, k) => row[k] === -1);
    if (missing.length > 0) {
      note(report.missingSubtypes, `${id} has no row for ${missing.join(', ')}`);
    }
    const anyK = LABEL_NAMES.indexOf('any');
    const any = row[anyK]!;
    const subtypes = row.slice(0, anyK);
    if (any !== -1 && !subtypes.includes(-1)) {
      const or = subtypes.some((x) => x === 1) ? 1 : 0;
      if (or !== any) {
        note(
          report.anyDisagrees,
          `${id}: any is ${any} but the OR of its subtypes is ${or}; kept as given`,
        );
      }
    }
  }
  return { labels, report };
}

/**
 * Reads and parses a label CSV.
 *
 * @throws InputError when the file cannot be read or its header is not `ID,Label`.
 */
export async function readLabels(file: string): Promise<LabelTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read labels ${file}: ${(err as Error).message}`);
  }
  return parseLabels(text, file);
}

/** Labels with no image file, and image files with no labels (after the walk). */
export interface CoverageReport {
  labelsWithoutFile: Finding;
  filesWithoutLabels: Finding;
}

/** Compares the labelled ids with the ids of the images found. */
export function labelCoverage(
  labelled: Iterable<string>,
  imageIds: ReadonlySet<string>,
  labels: ReadonlyMap<string, Labels>,
): CoverageReport {
  const out: CoverageReport = { labelsWithoutFile: finding(), filesWithoutLabels: finding() };
  for (const id of labelled) if (!imageIds.has(id)) note(out.labelsWithoutFile, id);
  for (const id of [...imageIds].sort()) if (!labels.has(id)) note(out.filesWithoutLabels, id);
  return out;
}

/** One line per finding, for summaries and `labels-report.txt`. */
export function formatLabelsReport(r: LabelsReport, c?: CoverageReport): string {
  const parts: [string, Finding][] = [
    ['malformed rows (skipped)', r.malformed],
    ['exact duplicate rows (removed)', r.exactDuplicates],
    ['conflicting duplicates (kept 1)', r.conflicts],
    ['images missing some subtypes', r.missingSubtypes],
    ['images whose any disagrees with their subtypes (kept as given)', r.anyDisagrees],
  ];
  if (c) {
    parts.push([
      'labelled images not cached (no file, or its file was rejected: see rejects.csv)',
      c.labelsWithoutFile,
    ]);
    parts.push(['image files with no labels', c.filesWithoutLabels]);
  }
  const lines = [`labels ${r.file}: ${r.rows} rows, ${r.images} images`];
  for (const [title, f] of parts) {
    lines.push(`  ${title}: ${f.count}`);
    for (const e of f.examples) lines.push(`    ${e}`);
    if (f.count > f.examples.length) lines.push(`    … and ${f.count - f.examples.length} more`);
  }
  return `${lines.join('\n')}\n`;
}

/** The label name of a column index (for messages). */
export function labelName(k: number): LabelName {
  const n = LABEL_NAMES[k];
  if (n === undefined) throw new RangeError(`label index out of range: ${k}`);
  return n;
}
