/**
 * Stage 1 against the smoothed baseline against stage 2, side by side: the table rows and
 * columns both reports share, the figure (AUC per label and of the study, with intervals), the
 * CSV, and the sentence that says what stage 2 gained.
 */
import type { TopLevelSpec } from 'vega-lite';
import { LABEL_NAMES } from '../labels.js';
import { type StagePlotPoint, stagesPlotSpec } from './plots.js';
import { type Column, ciCell, NONE, textCell, valueCell } from './report-tables.js';
import {
  type MetricBlock,
  type SeriesStage,
  type SeriesStageMetrics,
  STAGE_TITLES,
  STAGES,
  type StageName,
  type StudyOutput,
} from './stages-types.js';

/** One row of the side-by-side table: one stage of one series run. */
export interface StageRow {
  /** The series run's name. */
  series: string;
  stage: StageName;
  title: string;
  block: MetricBlock;
  /** The study-level `any` score; null for the smoothed baseline (its study score is stage 1's). */
  study: StudyOutput | null;
}

/** The three rows of one series run, in STAGES order. */
export function stageRows(s: SeriesStage): StageRow[] {
  return STAGES.map((stage) => ({
    series: s.name,
    stage,
    title: STAGE_TITLES[stage],
    block: s.metrics[stage],
    study: stage === 'smoothed' ? null : s.metrics.study[stage],
  }));
}

/** Stage, weighted log loss, mean AUC, AUC per label, then the study's `any` AUC and triage. */
export const STAGE_COLUMNS: Column<StageRow>[] = [
  { title: 'Stage', numeric: false, better: null, cell: (r) => textCell(r.title) },
  {
    title: 'Weighted log loss (95% CI)',
    numeric: true,
    better: 'low',
    cell: (r) => ciCell(r.block.weighted_log_loss, r.block.weighted_log_loss_ci, 4),
  },
  {
    title: 'Mean AUC (95% CI)',
    numeric: true,
    better: 'high',
    cell: (r) => ciCell(r.block.mean_auc, r.block.mean_auc_ci, 3),
  },
  ...LABEL_NAMES.map(
    (label): Column<StageRow> => ({
      title: label,
      numeric: true,
      better: 'high',
      cell: (r) => valueCell(r.block.auc[label].value, 3),
    }),
  ),
  {
    title: 'Study AUC, any (95% CI)',
    numeric: true,
    better: 'high',
    cell: (r) => (r.study === null ? textCell(NONE) : ciCell(r.study.auc, r.study.ci, 3)),
  },
  {
    title: 'Study specificity at sensitivity ≥ 0.95',
    numeric: true,
    better: 'high',
    cell: (r) => valueCell(r.study?.triage?.specificity, 3),
  },
];

/** Relative change from a to b in percent, signed (−8.0 = b is 8% lower). */
function change(a: number, b: number): number {
  return (100 * (b - a)) / a;
}

function pct(v: number): string {
  return `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(v).toFixed(1)}%`;
}

/**
 * What stage 2 did, in one sentence: its weighted log loss against stage 1's and the smoothed
 * baseline's (relative change), and the study AUCs. No Markdown or HTML in it.
 */
export function stageGainText(m: SeriesStageMetrics): string {
  const s1 = m.stage1.weighted_log_loss;
  const sm = m.smoothed.weighted_log_loss;
  const s2 = m.stage2.weighted_log_loss;
  const study = (o: StudyOutput) => (o.auc === null ? 'n/a' : o.auc.toFixed(3));
  return (
    `On ${m.stage2.images} out-of-fold images (folds ${m.folds.join(', ')}), stage 2's weighted ` +
    `log loss is ${s2.toFixed(4)}: ${pct(change(s1, s2))} against stage 1 (${s1.toFixed(4)}) and ` +
    `${pct(change(sm, s2))} against the smoothed baseline (${sm.toFixed(4)}). Study AUC (any, ` +
    `${m.study.studies} studies, ${m.study.positives} positive): stage 1 ${study(m.study.stage1)}, ` +
    `stage 2 ${study(m.study.stage2)}.`
  );
}

/** The points of the side-by-side figure: AUC per label, the mean, and the study's `any`. */
export function stagePlotPoints(stages: readonly SeriesStage[]): StagePlotPoint[] {
  const out: StagePlotPoint[] = [];
  for (const s of stages) {
    for (const r of stageRows(s)) {
      const push = (metric: string, v: number | null, ci: [number, number] | null) => {
        if (v === null || !Number.isFinite(v)) return;
        out.push({
          series: s.name,
          stage: r.title,
          metric,
          value: v,
          lo: ci ? ci[0] : null,
          hi: ci ? ci[1] : null,
        });
      };
      for (const label of LABEL_NAMES) push(label, r.block.auc[label].value, r.block.auc[label].ci);
      push('mean', r.block.mean_auc, r.block.mean_auc_ci);
      if (r.study !== null) push('study any', r.study.auc, r.study.ci);
    }
  }
  return out;
}

/** The side-by-side figure of one or more series runs (a panel each). */
export function stagesFigure(
  stages: readonly SeriesStage[],
  title = 'Stage 1, smoothed and stage 2: ROC AUC (95% CI)',
): TopLevelSpec {
  return stagesPlotSpec(stagePlotPoints(stages), {
    title,
    stages: STAGES.map((s) => STAGE_TITLES[s]),
  });
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Every number of the table as CSV, one metric per line:
 * `series,stage,metric,value,ci_lo,ci_hi` with metric `weighted_log_loss`, `mean_auc`,
 * `auc_<label>`, `study_auc_any` and `study_specificity_at_sens95`; empty where undefined.
 */
export function stagesCsv(stages: readonly SeriesStage[]): string {
  const lines = ['series,stage,metric,value,ci_lo,ci_hi'];
  const num = (v: number | null | undefined) =>
    v === null || v === undefined || !Number.isFinite(v) ? '' : String(v);
  for (const s of stages) {
    for (const r of stageRows(s)) {
      const add = (metric: string, v: number | null | undefined, ci?: [number, number] | null) =>
        lines.push(
          [csvField(s.name), r.stage, metric, num(v), num(ci?.[0]), num(ci?.[1])].join(','),
        );
      add('weighted_log_loss', r.block.weighted_log_loss, r.block.weighted_log_loss_ci);
      add('mean_auc', r.block.mean_auc, r.block.mean_auc_ci);
      for (const l of LABEL_NAMES) add(`auc_${l}`, r.block.auc[l].value, r.block.auc[l].ci);
      if (r.study !== null) {
        add('study_auc_any', r.study.auc, r.study.ci);
        add('study_specificity_at_sens95', r.study.triage?.specificity);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
