/**
 * The comparative study as one self-contained HTML page: inline CSS, figures inlined as SVG
 * drawn by Vega-Lite, the specs embedded as JSON; nothing fetched, so it opens offline.
 */
import { renderSvg } from './plots.js';
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
import type { Study } from './study.js';

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

export function htmlTable<R>(t: Table<R>, caption: string): string {
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
      if (j === 0) return `<th scope="row"${cls} title="${escapeHtml(r.key)}">${body}</th>`;
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
  const sample = evalSampleName(study);
  const evaluation = evaluationText(study);
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
    ...(evaluation === null
      ? []
      : [`<p id="evaluated-on"><strong>${escapeHtml(evaluation)}</strong></p>`]),
    '<h2>Models</h2>',
    `<div class="wide">${htmlTable(buildTable(mainColumns(study.models), study.models), `${sample === 'validation' ? 'Validation' : sample === 'test' ? 'Test' : `Split ${sample}`} results per model`)}</div>`,
    `<div class="wide">${htmlTable(buildTable(AUC_COLUMNS, study.models), 'ROC AUC per label')}</div>`,
    ...(study.series !== undefined && study.series.length > 0
      ? [
          '<h2>Series stage</h2>',
          ...study.series.flatMap((s) => [
            ...(study.series!.length > 1 ? [`<h3>${escapeHtml(s.name)}</h3>`] : []),
            `<p>${escapeHtml(stageGainText(s.metrics))}</p>`,
            `<div class="wide">${htmlTable(
              buildTable(STAGE_COLUMNS, stageRows(s), (r) => r.stage),
              `${s.name}: stage 1, smoothed and stage 2 out of fold`,
            )}</div>`,
          ]),
        ]
      : []),
    '<h2>How to read this</h2>',
    `<div class="note">${howToRead(sample)
      .map((p) => `<p>${inlineCode(p)}</p>`)
      .join('\n')}</div>`,
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
