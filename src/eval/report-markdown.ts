/**
 * The comparative study as GitHub Markdown: the same tables as the HTML page, the figures
 * linked as `figures/<name>.svg`.
 */
import { studyFigures } from './report-figures.js';
import {
  AUC_COLUMNS,
  buildTable,
  evalSampleName,
  evaluationText,
  formatInt,
  howToRead,
  mainColumns,
  optionText,
  positiveLabels,
  type Table,
} from './report-tables.js';
import { STAGE_COLUMNS, stageGainText, stageRows } from './stages.js';
import type { SeriesStage } from './stages-types.js';
import type { Study } from './study.js';

/** Text safe in a GitHub Markdown table cell: no HTML, no emphasis, no column break. */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|])/g, '\\$1');
}

export function markdownTable<R>(t: Table<R>): string {
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
  const evaluation = evaluationText(study);
  if (evaluation !== null) out.push(`**${escapeMarkdown(evaluation)}**`, '');
  out.push('## Models', '', markdownTable(buildTable(mainColumns(study.models), study.models)), '');
  out.push('## ROC AUC per label', '', markdownTable(buildTable(AUC_COLUMNS, study.models)), '');
  if (study.series !== undefined && study.series.length > 0) {
    out.push('## Series stage', '', ...seriesStageMarkdown(study.series));
  }
  out.push('## How to read this', '');
  for (const p of howToRead(evalSampleName(study))) out.push(p, '');
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

/**
 * The series stage as Markdown lines: per series run, what stage 2 gained (one sentence) and the
 * side-by-side table of stage 1, the smoothed baseline and stage 2.
 */
export function seriesStageMarkdown(stages: readonly SeriesStage[]): string[] {
  const out: string[] = [];
  for (const s of stages) {
    if (stages.length > 1) out.push(`### ${escapeMarkdown(s.name)}`, '');
    out.push(escapeMarkdown(stageGainText(s.metrics)), '');
    out.push(markdownTable(buildTable(STAGE_COLUMNS, stageRows(s), (r) => r.stage)), '');
  }
  out.push(
    escapeMarkdown(
      'Every number is out of fold: each image is scored by a stage-1 model and a series model ' +
        'that did not train on its patient. The study AUC takes the maximum over slices for ' +
        "stage 1 and the series model's learned study output for stage 2.",
    ),
    '',
  );
  return out;
}
