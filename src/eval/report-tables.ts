/**
 * The content the Markdown and HTML reports share: the tables (columns, formatted cells, and
 * which cell is best in its column), number formats, and the "how to read this" note.
 * The best value of each column is in bold.
 */
import { LABEL_NAMES } from '../data/types.js';
import type { Study, StudyModel } from './study.js';

/** Shown for a value that does not exist (a label with one class, no CI, no triage point). */
export const NONE = '—';

/** Which way a column is better, for the bold. */
type Better = 'high' | 'low' | null;

export interface Cell {
  /** The text, unescaped. */
  text: string;
  /** Part of `text` to set in bold when best (the value before its CI). */
  head: string;
  /** The value compared for "best", as rounded for display; null never best. */
  key: number | null;
}

/** A column of a report table over rows of type R (a model, a stage of the series model…). */
export interface Column<R = StudyModel> {
  title: string;
  numeric: boolean;
  better: Better;
  cell: (row: R) => Cell;
}

export interface Table<R = StudyModel> {
  columns: Column<R>[];
  /** `key`: the row's identifier, shown as the HTML title of its first cell. */
  rows: { cells: Cell[]; best: boolean[]; key: string; model: R }[];
}

/** Thousands separated by commas, independent of the locale. */
export function formatInt(n: number): string {
  const s = Math.round(Math.abs(n)).toString();
  return (n < 0 ? '-' : '') + s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A duration: `42 s`, `12 min 05 s`, `2 h 03 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return NONE;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function valueCell(v: number | null | undefined, digits: number): Cell {
  if (v === null || v === undefined || !Number.isFinite(v))
    return { text: NONE, head: NONE, key: null };
  const text = v.toFixed(digits);
  return { text, head: text, key: Number(text) };
}

export function ciCell(v: number | null, ci: [number, number] | null, digits: number): Cell {
  const c = valueCell(v, digits);
  if (c.key === null || !ci) return c;
  return { ...c, text: `${c.head} (${ci[0].toFixed(digits)}–${ci[1].toFixed(digits)})` };
}

export function textCell(text: string): Cell {
  return { text, head: text, key: null };
}

const MAIN_COLUMNS: Column[] = [
  { title: 'Model', numeric: false, better: null, cell: (m) => textCell(m.title) },
  { title: 'Input (px)', numeric: true, better: null, cell: (m) => textCell(String(m.size)) },
  { title: 'Parameters', numeric: true, better: null, cell: (m) => textCell(formatInt(m.params)) },
  { title: 'Accuracy', numeric: true, better: 'high', cell: (m) => valueCell(m.accuracy, 3) },
  {
    title: 'Mean AUC (95% CI)',
    numeric: true,
    better: 'high',
    cell: (m) => ciCell(m.meanAuc, m.meanAucCi, 3),
  },
  {
    title: 'Weighted log loss (95% CI)',
    numeric: true,
    better: 'low',
    cell: (m) => ciCell(m.weightedLogLoss, m.weightedLogLossCi, 4),
  },
  {
    title: 'Sensitivity (triage)',
    numeric: true,
    better: 'high',
    cell: (m) => valueCell(m.triage?.sensitivity, 3),
  },
  {
    title: 'Specificity (triage)',
    numeric: true,
    better: 'high',
    cell: (m) => valueCell(m.triage?.specificity, 3),
  },
  {
    title: 'Threshold (triage)',
    numeric: true,
    better: null,
    cell: (m) =>
      m.triage && Number.isFinite(m.triage.threshold)
        ? textCell(String(Number(m.triage.threshold.toPrecision(3))))
        : textCell(NONE),
  },
  {
    title: 'Training time',
    numeric: true,
    better: 'low',
    cell: (m) => {
      const text = formatDuration(m.trainSeconds);
      return { text, head: text, key: text === NONE ? null : Math.round(m.trainSeconds) };
    },
  },
  {
    title: 'Images/s',
    numeric: true,
    better: 'high',
    cell: (m) => valueCell(m.imagesPerSecond, 1),
  },
  {
    title: 'Best epoch',
    numeric: true,
    better: null,
    cell: (m) => textCell(m.bestEpoch === null ? NONE : String(m.bestEpoch)),
  },
];

/** The pointing game of `any`: "rate% (hits/slices; chance%)", ranked by the rate shown. */
const POINTING_COLUMN: Column = {
  title: 'Grad-CAM pointing game, any',
  numeric: true,
  better: 'high',
  cell: (m) => {
    const r = m.pointing?.rows.find((x) => x.label === 'any');
    if (!r || r.rate === null || r.chance === null) return textCell(NONE);
    const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
    const head = pct(r.rate);
    const text = `${head} (${r.hits}/${r.slices}; chance ${pct(r.chance)})`;
    return { text, head, key: Number((100 * r.rate).toFixed(1)) };
  },
};

/** The main table's columns: the pointing game only when some model has it. */
export function mainColumns(models: readonly StudyModel[]): Column[] {
  return models.some((m) => m.pointing) ? [...MAIN_COLUMNS, POINTING_COLUMN] : MAIN_COLUMNS;
}

export const AUC_COLUMNS: Column[] = [
  { title: 'Model', numeric: false, better: null, cell: (m) => textCell(m.title) },
  ...LABEL_NAMES.map(
    (label): Column => ({
      title: label,
      numeric: true,
      better: 'high',
      cell: (m) => valueCell(m.auc[label], 3),
    }),
  ),
];

/**
 * Cells of every model, and which are best in their column: the highest (or lowest) value as
 * displayed, every tie included; none where fewer than two models have a value or all are equal.
 */
export function buildTable<R extends { arch: string }>(
  columns: Column<R>[],
  models: readonly R[],
): Table<R>;
export function buildTable<R>(
  columns: Column<R>[],
  models: readonly R[],
  keyOf: (row: R) => string,
): Table<R>;
export function buildTable<R>(
  columns: Column<R>[],
  models: readonly R[],
  keyOf: (row: R) => string = (row) => (row as { arch: string }).arch,
): Table<R> {
  const rows = models.map((model) => ({
    model,
    key: keyOf(model),
    cells: columns.map((c) => c.cell(model)),
    best: columns.map(() => false),
  }));
  columns.forEach((col, j) => {
    if (col.better === null) return;
    const keys = rows.map((r) => r.cells[j]!.key).filter((k): k is number => k !== null);
    if (keys.length < 2) return;
    const best = col.better === 'high' ? Math.max(...keys) : Math.min(...keys);
    if (keys.every((k) => k === best)) return;
    for (const r of rows) r.best[j] = r.cells[j]!.key === best;
  });
  return { columns, rows };
}

/** Keys of the positives: LABEL_NAMES in order, then any others as given. */
export function positiveLabels(positives: Record<string, number>): string[] {
  const keys: string[] = LABEL_NAMES.filter((l) => l in positives);
  for (const k of Object.keys(positives)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** An option's value as text: strings as they are, anything else as JSON. */
export function optionText(v: unknown): string {
  if (typeof v === 'string') return v;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

/**
 * What the study's numbers were measured on, as a word for captions and notes: `test` for a
 * held-out split, `validation` for the split that selected the checkpoints (or an older study
 * that does not say), else the split's name in quotes.
 */
export function evalSampleName(study: Study): string {
  const d = study.dataset;
  if (d.evalSplit === undefined || d.evalSplit === (d.valSplit ?? 'val')) return 'validation';
  return d.evalSplit === 'test' ? 'test' : `"${d.evalSplit}"`;
}

/**
 * The sentence that says which split each number comes from, or null for an older study that
 * does not record it. No Markdown or HTML in it.
 */
export function evaluationText(study: Study): string | null {
  const d = study.dataset;
  if (d.evalSplit === undefined) return null;
  const val = d.valSplit ?? 'val';
  const selected = `checkpoints were selected on the validation split ${val} (${formatInt(d.valImages)} images)`;
  const splits = [...new Set(study.models.map((m) => m.split ?? d.evalSplit))];
  if (splits.length > 1) {
    const each = study.models.map((m) => `${m.title} on ${m.split ?? d.evalSplit}`).join(', ');
    return `Numbers come from different splits: ${each}; ${selected}.`;
  }
  const n = d.evalImages === undefined ? '' : ` (${formatInt(d.evalImages)} images)`;
  if (d.evalSplit === val) {
    return (
      `Numbers are on the validation split ${val}${n}, the split that also selected each ` +
      "model's checkpoint, so they are optimistic; hold out a test split (ichdet split --test) " +
      'for numbers on images that played no part in training.'
    );
  }
  const name =
    d.evalSplit === 'test' ? 'the held-out test split' : `the held-out split ${d.evalSplit}`;
  return `Numbers are on ${name}${n}; ${selected}.`;
}

/** The paragraphs of the "how to read this" note after the first, which names the sample. */
const HOW_TO_READ_REST = [
  'Higher is better for accuracy, AUC, sensitivity, specificity and images/s; lower is ' +
    'better for the weighted log loss (the RSNA 2019 competition metric, `any` weighted 2) ' +
    'and training time. Bold marks the best value of a column (ties all bold).',
  'Triage: the highest threshold on the probability of `any` that still flags at least 95% ' +
    'of the slices with haemorrhage; specificity there is the share of slices without ' +
    'haemorrhage that are not flagged. Accuracy is at threshold 0.5, averaged over the labels.',
];

/**
 * The "how to read this" note, one paragraph per entry (`code` spans in backticks); `sample`
 * names the images the numbers come from (`validation`, `test`).
 */
export function howToRead(sample = 'validation'): string[] {
  return [
    'Mean AUC and weighted log loss come with 95% bootstrap confidence intervals ' +
      `(${sample} images resampled with replacement). Where the intervals of two models ` +
      `overlap, this study has not shown that the two differ: another ${sample} sample could ` +
      'rank them the other way.',
    ...HOW_TO_READ_REST,
  ];
}

/** The "how to read this" note of a study measured on the validation split. */
export const HOW_TO_READ: readonly string[] = howToRead();
