/**
 * `ichdet train-series`: the stage-2 sequence model over each series of a features folder
 * (`ichdet cv` output), trained out of fold; see series/train.ts. A thin command over
 * `trainSeries` that also formats the comparison the CLI prints.
 */
import { LABEL_NAMES } from '../labels.js';
import { type TrainSeriesOptions, type TrainSeriesResult, trainSeries } from '../series/train.js';

export type { TrainSeriesOptions, TrainSeriesResult };

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined ? 'n/a' : v.toFixed(digits);
}

/** The table the CLI prints: weighted log loss and mean AUC per block, then the study AUCs. */
export function seriesTable(r: Pick<TrainSeriesResult, 'metrics'>): string {
  const m = r.metrics;
  const rows = [
    `out-of-fold images: ${m.stage2.images} (folds ${m.folds.join(', ')})`,
    `${'block'.padEnd(10)} ${'wLogLoss'.padStart(9)} ${'meanAUC'.padStart(8)} ${'AUC any'.padStart(8)}`,
  ];
  for (const name of ['stage1', 'smoothed', 'stage2'] as const) {
    const b = m[name];
    rows.push(
      `${name.padEnd(10)} ${fmt(b.weighted_log_loss).padStart(9)} ${fmt(b.mean_auc).padStart(8)} ${fmt(b.auc[LABEL_NAMES[5]].value).padStart(8)}`,
    );
  }
  const s = m.study;
  for (const name of ['stage1', 'stage2'] as const) {
    const o = s[name];
    rows.push(
      `study ${name}: any AUC ${fmt(o.auc)} [${fmt(o.ci?.[0], 3)}, ${fmt(o.ci?.[1], 3)}], ` +
        `specificity at sensitivity ≥ 0.95: ${fmt(o.triage?.specificity ?? null, 3)} (${s.studies} studies, ${s.positives} positive)`,
    );
  }
  return `${rows.join('\n')}\n`;
}

export { trainSeries };
