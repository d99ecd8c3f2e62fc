/**
 * `ichdet score` end to end, run as a user runs it: the 12-image fixture of eval-data.ts as
 * RSNA CSVs; the printed numbers are the scikit-learn 1.2.1 values of eval-metrics.test.ts and
 * eval-bootstrap.test.ts, rounded to 4 decimals.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { score } from '../src/commands/score.js';
import { formatSubmission } from '../src/eval/rsna.js';
import { EVAL_IDS, EVAL_P, EVAL_Y } from './eval-data.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** Runs the CLI from sources; resolves with exit code, stdout and stderr (never rejects). */
async function ichdet(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/run.ts'), ...args],
      { cwd: root, env: { ...process.env, CI: 'true' } },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
let labels: string;
let preds: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-score-'));
  labels = join(dir, 'labels.csv');
  preds = join(dir, 'preds.csv');
  writeFileSync(labels, formatSubmission(EVAL_IDS, EVAL_Y));
  writeFileSync(preds, formatSubmission(EVAL_IDS, EVAL_P));
});

const TABLE = [
  'label             pos  neg     AUC      AP  log loss     acc    sens    spec  triage thr  triage spec',
  'epidural            0   12     n/a     n/a    0.1971  1.0000     n/a  1.0000         n/a          n/a',
  'intraparenchymal    3    9  0.8333  0.6806    0.4618  0.6667  0.6667  0.6667      0.4000       0.4444',
  'intraventricular    2   10  0.8750  0.7000    0.3375  0.8333  0.5000  0.9000      0.3000       0.7000',
  'subarachnoid        4    8  0.9688  0.9000    0.3341  0.8333  0.5000  1.0000      0.4000       0.8750',
  'subdural            3    9  1.0000  1.0000    0.2571  0.9167  1.0000  0.8889      0.7000       1.0000',
  'any                 8    4  1.0000  1.0000    0.2990  1.0000  1.0000  1.0000      0.5000       1.0000',
  'mean                        0.9354  0.8561    0.3144  0.8750  0.7333  0.9093                   0.8039',
  'means over the labels where the value is defined: AUC 5 of 6, AP 5 of 6, sens 5 of 6, triage spec 5 of 6',
  '',
  'mean AUC (5 labels): 0.9354',
  'weighted log loss (RSNA metric: any ×2, subtypes ×1, p clipped to [1e-7, 1 − 1e-7]): 0.3122',
  '12 images; acc, sens, spec: p ≥ 0.5 called positive; triage: the highest threshold with sensitivity ≥ 0.95',
];

describe.concurrent('ichdet score', () => {
  it('prints the metrics table with the reference numbers', async () => {
    const r = await ichdet('score', '--labels', labels, '--preds', preds);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`scored ${preds} against ${labels}\n\n${TABLE.join('\n')}\n`);
  });

  it('prints JSON with bootstrap intervals and null where a value is undefined', async () => {
    const r = await ichdet(
      'score',
      '--labels',
      labels,
      '--preds',
      preds,
      '--json',
      '--bootstrap',
      '200',
      '--seed',
      '1',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      command: 'ichdet score',
      labels,
      preds,
      images: 12,
      threshold: 0.5,
      bootstrap: 200,
      seed: 1,
      level: 0.95,
    });
    expect(j.metrics.labels.epidural.auc).toBeNull();
    expect(j.metrics.labels.subarachnoid.auc).toBe(0.96875);
    expect(j.metrics.mean.auc.labels).toBe(5);
    expect(j.metrics.mean.auc.value).toBeCloseTo(0.9354166666666666, 14);
    expect(j.metrics.weightedLogLoss).toBeCloseTo(0.3122289175174559, 14);
    expect(j.ci.auc.epidural).toBeNull();
    expect(j.ci.auc.mean[0]).toBeCloseTo(0.8498950892857143, 13);
    expect(j.ci.weightedLogLoss[0]).toBeCloseTo(0.2513658432035474, 13);
    expect(j.ci.weightedLogLoss[1]).toBeCloseTo(0.3707990041637221, 13);
    expect(j.ci.aucSkipped.mean).toBe(30);
    expect(j.text).toBeUndefined();
    expect(r.stdout).not.toContain('NaN');
  });

  it('rejects an incomplete submission with one line naming the file and the row', async () => {
    const short = join(dir, 'short.csv');
    writeFileSync(
      short,
      formatSubmission(EVAL_IDS, EVAL_P).replace('ID_e0000003_subdural,0\n', ''),
    );
    const r = await ichdet('score', '--labels', labels, '--preds', short);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ichdet: ${short} line 20: ID_e0000003 has no row for subdural\n`);
  });

  it('rejects a bad option before reading any file', async () => {
    const r = await ichdet(
      'score',
      '--labels',
      'nope.csv',
      '--preds',
      'nope.csv',
      '--bootstrap',
      '0',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ichdet: --bootstrap must be a positive integer, received 0\n');
  });

  it('as a library function returns the same table and the intervals', async () => {
    const r = await score({ labels, preds, bootstrap: 50, seed: 3, threshold: '0.3' });
    expect(r.metrics.threshold).toBe(0.3);
    expect(r.ci?.samples).toBe(50);
    expect(r.text).toContain('mean AUC (5 labels): 0.9354  95% CI [');
    expect(r.text).toContain(
      'bootstrap: 50 resamples of the images (seed 3), percentile intervals',
    );
    expect(r.notes).toEqual([]);
  });
});
