import type { Command } from 'commander';
import { type ScoreResult, score } from '../commands/score.js';
import { action } from './shared.js';

interface ScoreCliOptions {
  labels: string;
  preds: string;
  json?: boolean;
  threshold?: string;
  sensitivity?: string;
  bootstrap?: string;
  seed?: string;
}

/** What `--json` prints: the checked options and every number, without the table text. */
export function scoreJson(r: ScoreResult): string {
  const { text: _text, ...rest } = r;
  return `${JSON.stringify({ command: 'ichdet score', ...rest }, null, 2)}\n`;
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description(
      'score a submission against labels, both RSNA CSVs (ID_<image>_<subtype>,Label): AUC, AP, log loss, accuracy, sensitivity/specificity, triage point and the RSNA weighted log loss',
    )
    .requiredOption('--labels <labels.csv>', 'the labels (stage_2_train.csv style, 0/1)')
    .requiredOption('--preds <preds.csv>', 'the submission (probabilities in [0, 1])')
    .option('--json', 'print the report as JSON instead of a table', false)
    .option('--threshold <t>', 'p ≥ t is called positive for acc, sens and spec (default 0.5)')
    .option(
      '--sensitivity <s>',
      'sensitivity of the triage operating point: the highest threshold reaching it (default 0.95)',
    )
    .option('--bootstrap <n>', 'n bootstrap resamples of the images for 95% confidence intervals')
    .option('--seed <s>', 'seed of the bootstrap (default 0)')
    .addHelpText(
      'after',
      [
        '',
        'The submission must predict every labelled image, each with its six rows, and nothing else;',
        'the first bad row is reported with its line number. Undefined values (an AUC where a label',
        'has one class only) print as n/a and are null in --json. The weighted log loss is the',
        "competition's metric (any ×2, subtypes ×1) with predictions clipped to [1e-7, 1 − 1e-7].",
        '',
        'Examples:',
        '  ichdet score --labels stage_2_train.csv --preds submission.csv',
        '  ichdet score --labels val-labels.csv --preds run/eval/predictions.csv --bootstrap 1000 --json',
      ].join('\n'),
    )
    .action(
      action(program, async (o: ScoreCliOptions) => {
        const r = await score({
          labels: o.labels,
          preds: o.preds,
          threshold: o.threshold,
          sensitivity: o.sensitivity,
          bootstrap: o.bootstrap,
          seed: o.seed,
        });
        if (o.json) {
          process.stdout.write(scoreJson(r));
          return 0;
        }
        for (const note of r.notes) process.stdout.write(`note: ${note}\n`);
        process.stdout.write(`scored ${r.preds} against ${r.labels}\n\n${r.text}`);
        return 0;
      }),
    );
}
