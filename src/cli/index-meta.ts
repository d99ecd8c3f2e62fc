import type { Command } from 'commander';
import { indexImages, indexSummary } from '../commands/index-meta.js';
import { formatLabelsReport } from '../data/labels.js';
import { action, cliSignal } from './shared.js';

interface IndexCliOptions {
  images: string;
  labels?: string;
  out: string;
  workers?: string;
  rsnaFix: boolean;
  progress: boolean;
}

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description(
      'read every DICOM header (no pixels) into a metadata index: what prepare records per file, rejects included (resumable)',
    )
    .requiredOption('--images <dir>', 'folder of DICOM files, walked recursively')
    .option('--labels <csv>', 'RSNA label CSV (ID,Label); omit for unlabelled data')
    .requiredOption('--out <file>', 'the index file (SQLite): new, or an interrupted one to resume')
    .option('--workers <n>', 'worker threads (default: number of cores)')
    .option('--no-rsna-fix', 'record the RSNA 12-bit fix as off (as prepare --no-rsna-fix)')
    .option('--no-progress', 'do not draw a progress bar')
    .addHelpText(
      'after',
      '\nExamples:\n  ichdet index --images data/stage_2_train --labels data/stage_2_train.csv --out meta.sqlite\n' +
        '  ichdet split --index meta.sqlite --out split.csv --subset 0.1 --val 0.1\n' +
        '  ichdet prepare --images data/stage_2_train --index meta.sqlite --split split.csv --context 1 --out cache\n' +
        '\nKilled or interrupted? Run the same command again: finished files are kept, the rest is done.',
    )
    .action(
      action(program, async (o: IndexCliOptions) => {
        const r = await indexImages({
          images: o.images,
          labels: o.labels,
          out: o.out,
          workers: o.workers,
          rsnaFix: o.rsnaFix,
          progress: o.progress,
          signal: cliSignal(),
        });
        if (r.labelsReport) process.stdout.write(formatLabelsReport(r.labelsReport, r.coverage));
        process.stdout.write(`${indexSummary(r)}\n`);
        return 0;
      }),
    );
}
