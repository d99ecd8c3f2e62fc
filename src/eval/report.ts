/**
 * The comparative study's report: one self-contained HTML page (inline CSS, figures inlined as
 * SVG drawn by Vega-Lite, the specs embedded as JSON; nothing fetched, so it opens offline), the
 * same tables as GitHub Markdown, and the figures as SVG and PNG files.
 *
 * Tables: the reference study's columns (model, parameters, accuracy, AUC) and what it could
 * not report: confidence intervals, the competition's weighted log loss, the triage operating
 * point, per-label AUC, speed and the best epoch. The best value of each column is in bold.
 *
 * This module is the public entry; each part lives in a file of its own: the study's data
 * (`study.ts`), its figures (`report-figures.ts`), the tables both formats share
 * (`report-tables.ts`), Markdown (`report-markdown.ts`) and HTML (`report-html.ts`).
 */
export {
  type EvalLabelCurves,
  HISTORY_METRICS,
  renderEvalFigures,
  type StudyFigure,
  studyFigures,
  writeStudyFigures,
} from './report-figures.js';
export { escapeHtml, jsonForScript, renderStudyHtml } from './report-html.js';
export { escapeMarkdown, renderStudyMarkdown } from './report-markdown.js';
export {
  evalSampleName,
  evaluationText,
  formatDuration,
  formatInt,
  HOW_TO_READ,
  howToRead,
} from './report-tables.js';
export { STAGE_COLUMNS, stageGainText, stageRows, stagesCsv, stagesFigure } from './stages.js';
export type { SeriesStage, SeriesStageMetrics } from './stages-types.js';
export type { Study, StudyModel } from './study.js';
