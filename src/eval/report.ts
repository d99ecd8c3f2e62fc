/**
 * The comparative study's report: one self-contained HTML page (inline CSS, figures inlined as
 * SVG drawn by Vega-Lite, the specs embedded as JSON; nothing fetched, so it opens offline), the
 * same tables as GitHub Markdown, and the figures as SVG and PNG files.
 *
 * Tables: the reference study's columns (model, parameters, accuracy, AUC) and what it could
 * not report: confidence intervals, the competition's weighted log loss, the triage operating
 * point, per-label AUC, speed and the best epoch. The best value of each column is in bold.
 */
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { LABEL_NAMES } from '../data/types.js';
import type { CachePointing } from '../infer/pointing.js';
import { writeFileAtomic } from '../util/files.js';
import {
  aucVsParamsSpec,
  prPlotSpec,
  renderSvg,
  rocPlotSpec,
  svgToPng,
  type ValidationRow,
  validationCurvesSpec,
} from './plots.js';

/** One trained and evaluated architecture of a study. */
export interface StudyModel {
  /** Registry name (`mobilenet_v2`). */
  arch: string;
  /** Display name (`MobileNetV2`). */
  title: string;
  /** Parameter count. */
  params: number;
  /** Input height = width in pixels the model was trained at. */
  size: number;
  /** Mean accuracy over the labels at threshold 0.5. */
  accuracy: number | null;
  meanAuc: number | null;
  meanAucCi: [number, number] | null;
  /** ROC AUC per label (LABEL_NAMES); null where the label has one class only. */
  auc: Record<string, number | null>;
  /** The RSNA competition metric (any weighted 2), lower is better. */
  weightedLogLoss: number | null;
  weightedLogLossCi: [number, number] | null;
  /** Operating point of `any` at sensitivity ≥ 0.95. */
  triage: { threshold: number; sensitivity: number; specificity: number } | null;
  trainSeconds: number;
  imagesPerSecond: number;
  /** 1-based epoch of the kept checkpoint. */
  bestEpoch: number | null;
  history: {
    epoch: number;
    trainLoss: number;
    valLoss: number;
    valWeightedLogLoss: number;
    valMeanAuc: number | null;
  }[];
  /** ROC curve per label, ideally thinned already (`downsampleCurve`); null where undefined. */
  roc: Record<string, { fpr: number[]; tpr: number[] } | null>;
  /** Grad-CAM pointing game on the validation images with a label mask (synthetic data). */
  pointing?: CachePointing | null;
}

/** A comparative study: what was compared, on which data, with which options. */
export interface Study {
  title: string;
  /** ISO 8601 time the study was written. */
  createdAt: string;
  dataset: {
    cache: string;
    split: string;
    trainImages: number;
    valImages: number;
    /** Positive images per label (LABEL_NAMES first, in that order). */
    positives: Record<string, number>;
  };
  /** The options every model was trained with (the typed config, as saved). */
  options: Record<string, unknown>;
  models: StudyModel[];
  notes: string[];
}

/** A figure of a report: its file name (without extension), caption and Vega-Lite spec. */
export interface StudyFigure {
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** The metric names of the validation-curve figure, in panel order. */
export const HISTORY_METRICS = ['val weighted log loss', 'val mean AUC', 'train loss'] as const;

/**
 * The study's figures, in report order; a figure with nothing to draw is left out:
 * `roc` (one panel per label, a line per model), `auc_vs_params` (mean AUC with its CI against
 * parameter count) and `validation` (the HISTORY_METRICS per epoch).
 */
export function studyFigures(study: Study): StudyFigure[] {
  const figures: StudyFigure[] = [];
  const curves = LABEL_NAMES.flatMap((label) =>
    study.models.flatMap((m) => {
      const c = m.roc[label];
      return c
        ? [{ model: m.title, label, fpr: c.fpr, tpr: c.tpr, auc: m.auc[label] ?? null }]
        : [];
    }),
  );
  if (curves.length > 0) {
    const title = 'ROC curves per label (validation)';
    figures.push({ name: 'roc', title, spec: rocPlotSpec(curves, title) });
  }
  const points = study.models.flatMap((m) =>
    m.meanAuc === null || !(m.params > 0)
      ? []
      : [
          {
            model: m.title,
            params: m.params,
            auc: m.meanAuc,
            ...(m.meanAucCi ? { lo: m.meanAucCi[0], hi: m.meanAucCi[1] } : {}),
          },
        ],
  );
  if (points.length > 0) {
    const title = 'Mean ROC AUC against parameter count';
    figures.push({ name: 'auc_vs_params', title, spec: aucVsParamsSpec(points, title) });
  }
  const rows: ValidationRow[] = [];
  for (const m of study.models) {
    for (const h of m.history) {
      const [wll, auc, train] = HISTORY_METRICS;
      rows.push({ model: m.title, epoch: h.epoch, metric: wll, value: h.valWeightedLogLoss });
      if (h.valMeanAuc !== null) {
        rows.push({ model: m.title, epoch: h.epoch, metric: auc, value: h.valMeanAuc });
      }
      rows.push({ model: m.title, epoch: h.epoch, metric: train, value: h.trainLoss });
    }
  }
  if (rows.length > 0) {
    const title = 'Training and validation by epoch';
    figures.push({ name: 'validation', title, spec: validationCurvesSpec(rows, title) });
  }
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Table cells

/** Shown for a value that does not exist (a label with one class, no CI, no triage point). */
const NONE = '—';

/** Which way a column is better, for the bold. */
type Better = 'high' | 'low' | null;

interface Cell {
  /** The text, unescaped. */
  text: string;
  /** Part of `text` to set in bold when best (the value before its CI). */
  head: string;
  /** The value compared for "best", as rounded for display; null never best. */
  key: number | null;
}

interface Column {
  title: string;
  numeric: boolean;
  better: Better;
  cell: (m: StudyModel) => Cell;
}

interface Table {
  columns: Column[];
  rows: { cells: Cell[]; best: boolean[]; model: StudyModel }[];
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

function valueCell(v: number | null | undefined, digits: number): Cell {
  if (v === null || v === undefined || !Number.isFinite(v))
    return { text: NONE, head: NONE, key: null };
  const text = v.toFixed(digits);
  return { text, head: text, key: Number(text) };
}

function ciCell(v: number | null, ci: [number, number] | null, digits: number): Cell {
  const c = valueCell(v, digits);
  if (c.key === null || !ci) return c;
  return { ...c, text: `${c.head} (${ci[0].toFixed(digits)}–${ci[1].toFixed(digits)})` };
}

function textCell(text: string): Cell {
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
function mainColumns(models: readonly StudyModel[]): Column[] {
  return models.some((m) => m.pointing) ? [...MAIN_COLUMNS, POINTING_COLUMN] : MAIN_COLUMNS;
}

const AUC_COLUMNS: Column[] = [
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
function buildTable(columns: Column[], models: readonly StudyModel[]): Table {
  const rows = models.map((model) => ({
    model,
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

// ---------------------------------------------------------------------------------------------
// Markdown

/** Text safe in a GitHub Markdown table cell: no HTML, no emphasis, no column break. */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|])/g, '\\$1');
}

function markdownTable(t: Table): string {
  const head = `| ${t.columns.map((c) => escapeMarkdown(c.title)).join(' | ')} |`;
  const rule = `| ${t.columns.map((c) => (c.numeric ? '---:' : '---')).join(' | ')} |`;
  const rows = t.rows.map((r) => {
    const cells = r.cells.map((c, j) => {
      const text = escapeMarkdown(c.text);
      if (!r.best[j]) return text;
      const head = escapeMarkdown(c.head);
      return `**${head}**${text.slice(head.length)}`;
    });
    return `| ${cells.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

/** Keys of the positives: LABEL_NAMES in order, then any others as given. */
function positiveLabels(positives: Record<string, number>): string[] {
  const keys: string[] = LABEL_NAMES.filter((l) => l in positives);
  for (const k of Object.keys(positives)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

function optionText(v: unknown): string {
  if (typeof v === 'string') return v;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

/** The "how to read this" note, one paragraph per entry (`code` spans in backticks). */
export const HOW_TO_READ = [
  'Mean AUC and weighted log loss come with 95% bootstrap confidence intervals ' +
    '(validation images resampled with replacement). Where the intervals of two models ' +
    'overlap, this study has not shown that the two differ: another validation sample could ' +
    'rank them the other way.',
  'Higher is better for accuracy, AUC, sensitivity, specificity and images/s; lower is ' +
    'better for the weighted log loss (the RSNA 2019 competition metric, `any` weighted 2) ' +
    'and training time. Bold marks the best value of a column (ties all bold).',
  'Triage: the highest threshold on the probability of `any` that still flags at least 95% ' +
    'of the slices with haemorrhage; specificity there is the share of slices without ' +
    'haemorrhage that are not flagged. Accuracy is at threshold 0.5, averaged over the labels.',
];

/**
 * The study as GitHub Markdown: the summary table, per-label AUC, how to read them, the figures
 * (as `figures/<name>.svg`, written by `writeStudyFigures`), data, options and notes.
 * Deterministic: the same study gives the same text.
 */
export function renderStudyMarkdown(study: Study): string {
  const out: string[] = [];
  const d = study.dataset;
  out.push(`# ${escapeMarkdown(study.title)}`, '');
  out.push(
    `Created ${escapeMarkdown(study.createdAt)}. Cache ${escapeMarkdown(d.cache)}, ` +
      `split ${escapeMarkdown(d.split)}: ${formatInt(d.trainImages)} training images, ` +
      `${formatInt(d.valImages)} validation images.`,
    '',
  );
  out.push('## Models', '', markdownTable(buildTable(mainColumns(study.models), study.models)), '');
  out.push('## ROC AUC per label', '', markdownTable(buildTable(AUC_COLUMNS, study.models)), '');
  out.push('## How to read this', '');
  for (const p of HOW_TO_READ) out.push(p, '');
  const figures = studyFigures(study);
  if (figures.length > 0) {
    out.push('## Figures', '');
    for (const f of figures) out.push(`![${escapeMarkdown(f.title)}](figures/${f.name}.svg)`, '');
  }
  const labels = positiveLabels(d.positives);
  if (labels.length > 0) {
    out.push('## Positive images per label', '', '| Label | Positives |', '| --- | ---: |');
    for (const l of labels) out.push(`| ${escapeMarkdown(l)} | ${formatInt(d.positives[l]!)} |`);
    out.push('');
  }
  const options = Object.entries(study.options);
  if (options.length > 0) {
    out.push('## Options', '', '| Option | Value |', '| --- | --- |');
    for (const [k, v] of options) {
      out.push(`| ${escapeMarkdown(k)} | ${escapeMarkdown(optionText(v))} |`);
    }
    out.push('');
  }
  if (study.notes.length > 0) {
    out.push('## Notes', '');
    for (const n of study.notes) out.push(`- ${escapeMarkdown(n)}`);
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// HTML

/** Text safe in HTML content and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON safe inside `<script type="application/json">`: no `</script>`, no `<!--`. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inline code spans of the how-to-read text, as HTML. */
function inlineCode(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function htmlTable(t: Table, caption: string): string {
  const head = t.columns
    .map((c) => `<th scope="col"${c.numeric ? ' class="num"' : ''}>${escapeHtml(c.title)}</th>`)
    .join('');
  const rows = t.rows.map((r) => {
    const cells = r.cells.map((c, j) => {
      const col = t.columns[j]!;
      const classes = [col.numeric ? 'num' : '', r.best[j] ? 'best' : ''].filter(Boolean).join(' ');
      const cls = classes ? ` class="${classes}"` : '';
      const body = r.best[j]
        ? `<strong>${escapeHtml(c.head)}</strong>${escapeHtml(c.text.slice(c.head.length))}`
        : escapeHtml(c.text);
      if (j === 0) return `<th scope="row"${cls} title="${escapeHtml(r.model.arch)}">${body}</th>`;
      return `<td${cls}>${body}</td>`;
    });
    return `<tr>${cells.join('')}</tr>`;
  });
  return (
    `<table>\n<caption>${escapeHtml(caption)}</caption>\n<thead><tr>${head}</tr></thead>\n` +
    `<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`
  );
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.5rem 0 1rem;font-size:0.9rem}
caption{text-align:left;font-weight:600;padding:0.25rem 0}
th,td{border:1px solid #ddd;padding:0.3rem 0.55rem;vertical-align:top}
thead th{background:#f4f6f8}.num{text-align:right;font-variant-numeric:tabular-nums}
td.best,th.best{background:#e6f4ea}
.wide{overflow-x:auto}
.note{background:#fff8e1;border-left:4px solid #f2c94c;padding:0.5rem 1rem}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:0.9rem}
code{background:#f4f6f8;padding:0 0.2rem;border-radius:3px}
`.trim();

/**
 * The study as one self-contained HTML page: inline CSS, the figures drawn with Vega-Lite and
 * inlined as SVG, each figure's Vega-Lite spec embedded as JSON in a
 * `<script type="application/json" id="vl-<name>">` for reuse, no script that runs and no
 * external resource. All text from the study is escaped.
 */
export async function renderStudyHtml(study: Study): Promise<string> {
  const d = study.dataset;
  const figures = studyFigures(study);
  const svgs: string[] = [];
  for (const f of figures) svgs.push(await renderSvg(f.spec, { idPrefix: `fig-${f.name}-` }));
  const parts: string[] = [];
  parts.push(
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="ichdet">',
    `<title>${escapeHtml(study.title)}</title>`,
    `<style>\n${CSS}\n</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(study.title)}</h1>`,
    `<p>Created ${escapeHtml(study.createdAt)}. Cache <code>${escapeHtml(d.cache)}</code>, ` +
      `split <code>${escapeHtml(d.split)}</code>: ${formatInt(d.trainImages)} training images, ` +
      `${formatInt(d.valImages)} validation images.</p>`,
    '<h2>Models</h2>',
    `<div class="wide">${htmlTable(buildTable(mainColumns(study.models), study.models), 'Validation results per model')}</div>`,
    `<div class="wide">${htmlTable(buildTable(AUC_COLUMNS, study.models), 'ROC AUC per label')}</div>`,
    '<h2>How to read this</h2>',
    `<div class="note">${HOW_TO_READ.map((p) => `<p>${inlineCode(p)}</p>`).join('\n')}</div>`,
  );
  if (figures.length > 0) {
    parts.push('<h2>Figures</h2>');
    figures.forEach((f, i) => {
      parts.push(
        `<figure id="figure-${f.name}">`,
        svgs[i]!,
        `<figcaption>Figure ${i + 1}. ${escapeHtml(f.title)}</figcaption>`,
        '</figure>',
      );
    });
  }
  const labels = positiveLabels(d.positives);
  if (labels.length > 0) {
    const rows = labels
      .map(
        (l) =>
          `<tr><th scope="row">${escapeHtml(l)}</th><td class="num">${formatInt(d.positives[l]!)}</td></tr>`,
      )
      .join('\n');
    parts.push(
      '<h2>Data</h2>',
      `<table>\n<caption>Positive images per label</caption>\n` +
        `<thead><tr><th scope="col">Label</th><th scope="col" class="num">Positives</th></tr></thead>\n` +
        `<tbody>\n${rows}\n</tbody>\n</table>`,
    );
  }
  const options = Object.entries(study.options);
  if (options.length > 0) {
    const rows = options
      .map(
        ([k, v]) =>
          `<tr><th scope="row">${escapeHtml(k)}</th><td><code>${escapeHtml(optionText(v))}</code></td></tr>`,
      )
      .join('\n');
    parts.push(
      '<h2>Options</h2>',
      `<table>\n<caption>Training options shared by every model</caption>\n<tbody>\n${rows}\n</tbody>\n</table>`,
    );
  }
  if (study.notes.length > 0) {
    parts.push('<h2>Notes</h2>', '<ul>');
    for (const n of study.notes) parts.push(`<li>${escapeHtml(n)}</li>`);
    parts.push('</ul>');
  }
  for (const f of figures) {
    parts.push(
      `<script type="application/json" id="vl-${f.name}" data-title="${escapeHtml(f.title)}">` +
        `${jsonForScript(f.spec)}</script>`,
    );
  }
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Figure files

/** A file name part from a label: letters, digits, `-` and `_` kept, anything else `_`. */
function fileSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}

async function writeFigure(dir: string, name: string, spec: TopLevelSpec, scale: number) {
  const svg = await renderSvg(spec, { idPrefix: `${fileSafe(name)}-` });
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  await writeFileAtomic(svgPath, svg);
  await writeFileAtomic(pngPath, svgToPng(svg, scale));
  return [svgPath, pngPath];
}

/**
 * Writes each of the study's figures (`studyFigures`) into `dir` as `<name>.svg` and
 * `<name>.png` (PNG at `scale` × the SVG's size, default 2); returns the paths written,
 * SVG then PNG per figure.
 */
export async function writeStudyFigures(study: Study, dir: string, scale = 2): Promise<string[]> {
  const paths: string[] = [];
  for (const f of studyFigures(study))
    paths.push(...(await writeFigure(dir, f.name, f.spec, scale)));
  return paths;
}

/** One label's curves and scores from one model's evaluation. */
export interface EvalLabelCurves {
  label: string;
  roc: { fpr: number[]; tpr: number[] } | null;
  pr: { precision: number[]; recall: number[] } | null;
  auc: number | null;
  ap: number | null;
  /** Positive rate of the label, drawn as the PR plot's chance line when given. */
  prevalence?: number;
}

/**
 * Writes one model's evaluation figures into `dir`: `roc_<label>.{svg,png}` and
 * `pr_<label>.{svg,png}` per label (a label whose curve is null, one class only, gets no
 * file). `model` names the line in the legend (default `model`). Returns the paths written.
 */
export async function renderEvalFigures(
  perLabel: readonly EvalLabelCurves[],
  dir: string,
  options: { model?: string; scale?: number } = {},
): Promise<string[]> {
  const model = options.model ?? 'model';
  const scale = options.scale ?? 2;
  const paths: string[] = [];
  for (const l of perLabel) {
    const name = fileSafe(l.label);
    if (l.roc) {
      const spec = rocPlotSpec(
        [{ model, label: l.label, fpr: l.roc.fpr, tpr: l.roc.tpr, auc: l.auc }],
        `ROC curve: ${l.label}`,
      );
      paths.push(...(await writeFigure(dir, `roc_${name}`, spec, scale)));
    }
    if (l.pr) {
      const spec = prPlotSpec(
        [
          {
            model,
            label: l.label,
            precision: l.pr.precision,
            recall: l.pr.recall,
            ap: l.ap,
            ...(l.prevalence !== undefined ? { prevalence: l.prevalence } : {}),
          },
        ],
        `Precision–recall curve: ${l.label}`,
      );
      paths.push(...(await writeFigure(dir, `pr_${name}`, spec, scale)));
    }
  }
  return paths;
}
