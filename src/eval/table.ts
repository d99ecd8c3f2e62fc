/**
 * The metrics report as a plain-text table (what `ichdet score` prints): one row per label, a
 * mean row, then the RSNA weighted log loss and, with a bootstrap, the confidence intervals.
 * Undefined values print as "n/a".
 */
import { LABEL_NAMES } from '../data/types.js';
import type { BootstrapCi, Interval } from './bootstrap.js';
import type { MeanValue, MetricsReport } from './metrics.js';

/** A metric with 4 decimals; null as "n/a". */
export function fmt(v: number | null | undefined): string {
  return v === null || v === undefined ? 'n/a' : v.toFixed(4);
}

/** A threshold: 4 decimals, or 3 significant digits below 0.001 (triage thresholds can be tiny). */
export function fmtThreshold(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'n/a';
  return v === 0 || v >= 0.001 ? v.toFixed(4) : v.toExponential(2);
}

/** An interval as "[lo, hi]"; null as "n/a". */
export function fmtInterval(ci: Interval | null | undefined): string {
  return ci ? `[${fmt(ci[0])}, ${fmt(ci[1])}]` : 'n/a';
}

function table(rows: string[][], leftColumns = 1): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c < leftColumns ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Renders the report (and its bootstrap intervals, when given) as lines of text. */
export function formatMetricsTable(m: MetricsReport, ci?: BootstrapCi | null): string {
  const pct = ci ? `${Math.round(ci.level * 100)}% CI` : '';
  const head = [
    'label',
    'pos',
    'neg',
    'AUC',
    ...(ci ? [`AUC ${pct}`] : []),
    'AP',
    'log loss',
    'acc',
    'sens',
    'spec',
    'triage thr',
    'triage spec',
  ];
  const rows: string[][] = [head];
  for (const name of LABEL_NAMES) {
    const r = m.labels[name];
    rows.push([
      name,
      String(r.positives),
      String(r.negatives),
      fmt(r.auc),
      ...(ci ? [fmtInterval(ci.auc[name])] : []),
      fmt(r.ap),
      fmt(r.logLoss),
      fmt(r.accuracy),
      fmt(r.sensitivity),
      fmt(r.specificity),
      fmtThreshold(r.triage?.threshold),
      fmt(r.triage?.specificity),
    ]);
  }
  const mean = m.mean;
  rows.push([
    'mean',
    '',
    '',
    fmt(mean.auc.value),
    ...(ci ? [fmtInterval(ci.auc.mean)] : []),
    fmt(mean.ap.value),
    fmt(mean.logLoss.value),
    fmt(mean.accuracy.value),
    fmt(mean.sensitivity.value),
    fmt(mean.specificity.value),
    '',
    fmt(mean.triageSpecificity.value),
  ]);
  const lines = table(rows);
  const partial = (
    [
      ['AUC', mean.auc],
      ['AP', mean.ap],
      ['sens', mean.sensitivity],
      ['spec', mean.specificity],
      ['triage spec', mean.triageSpecificity],
    ] as [string, MeanValue][]
  ).filter(([, v]) => v.labels < LABEL_NAMES.length);
  if (partial.length > 0) {
    lines.push(
      `means over the labels where the value is defined: ${partial
        .map(([k, v]) => `${k} ${v.labels} of ${LABEL_NAMES.length}`)
        .join(', ')}`,
    );
  }
  lines.push(
    '',
    `mean AUC (${mean.auc.labels} labels): ${fmt(mean.auc.value)}` +
      (ci ? `  ${pct} ${fmtInterval(ci.auc.mean)}` : ''),
    `weighted log loss (RSNA metric: any ×2, subtypes ×1, p clipped to [${m.clip}, 1 − ${m.clip}]): ` +
      `${fmt(m.weightedLogLoss)}` +
      (ci ? `  ${pct} ${fmtInterval(ci.weightedLogLoss)}` : ''),
    `${m.images} images; acc, sens, spec: p ≥ ${m.threshold} called positive; ` +
      `triage: the highest threshold with sensitivity ≥ ${m.triageSensitivity}`,
  );
  if (ci) {
    const skipped = ([...LABEL_NAMES, 'mean'] as const)
      .filter((k) => ci.aucSkipped[k] > 0)
      .map((k) => `${k} ${ci.aucSkipped[k]}`);
    lines.push(
      `bootstrap: ${ci.samples} resamples of the images (seed ${ci.seed}), percentile intervals` +
        (skipped.length > 0
          ? `; resamples without both classes, left out of the AUC interval: ${skipped.join(', ')}`
          : ''),
    );
  }
  return `${lines.join('\n')}\n`;
}
