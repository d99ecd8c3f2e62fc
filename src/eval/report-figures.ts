/**
 * The figures of the reports: which figures a study has (Vega-Lite specs, `studyFigures`), and
 * writing them, or one model's evaluation curves, as SVG and PNG files.
 */
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { LABEL_NAMES } from '../data/types.js';
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
import { evalSampleName } from './report-tables.js';
import { stagesFigure } from './stages.js';
import type { Study } from './study.js';

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
    const title = `ROC curves per label (${evalSampleName(study)})`;
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
  if (study.series !== undefined && study.series.length > 0) {
    const title = 'Series stage: stage 1, smoothed and stage 2, ROC AUC out of fold (95% CI)';
    figures.push({ name: 'stages', title, spec: stagesFigure(study.series, title) });
  }
  return figures;
}

/** A file name part from a label: letters, digits, `-` and `_` kept, anything else `_`. */
function fileSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}

export async function writeFigure(dir: string, name: string, spec: TopLevelSpec, scale: number) {
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
