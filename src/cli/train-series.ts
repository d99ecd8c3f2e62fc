import type { Command } from 'commander';
import { BACKEND_HELP, BACKENDS, type BackendChoice } from '../backend/choices.js';
import { seriesTable, trainSeries } from '../commands/train-series.js';
import { ConfigError } from '../errors.js';
import { action, cliSignal, number, positiveInt } from './shared.js';

interface TrainSeriesCliOptions {
  features: string;
  out: string;
  epochs?: number;
  batch?: number;
  lr?: number;
  window?: number;
  c1?: number;
  c2?: number;
  gru?: number;
  embeddings?: boolean;
  foldNorm?: boolean;
  seed?: number;
  bootstrap?: number;
  folds?: string;
  backend?: string;
  workers?: number;
  progress?: boolean;
}

export function registerTrainSeries(program: Command): void {
  program
    .command('train-series')
    .description(
      'stage 2: train the sequence model over each series of a features folder (ichdet cv), out of fold; resumable per fold',
    )
    .requiredOption(
      '--features <dir>',
      'the features folder (CV/features: index.csv, probs.npy, …)',
    )
    .requiredOption('--out <srun>', 'the series run folder (config.json, fold<k>/, metrics.json)')
    .option('--epochs <n>', 'epochs per fold (default 40)', positiveInt('--epochs'))
    .option('--batch <n>', 'series windows per step (default 16)', positiveInt('--batch'))
    .option(
      '--lr <rate>',
      'Adam learning rate, halved every third of the epochs (default 3e-4)',
      number('--lr'),
    )
    .option('--window <n>', 'slices per training window (default 24)', positiveInt('--window'))
    .option('--c1 <n>', 'width of the first conv block (default 64)', positiveInt('--c1'))
    .option('--c2 <n>', 'width of the dilated conv blocks (default 32)', positiveInt('--c2'))
    .option('--gru <n>', 'GRU units per direction (default 32)', positiveInt('--gru'))
    .option('--embeddings', 'also feed the stage-1 embeddings through a per-slice MLP')
    .option(
      '--fold-norm',
      "map each stage-1 fold model's out-of-fold logits, per label, onto the pooled mean and spread before the series model sees them (fold models that disagree in calibration)",
    )
    .option('--seed <s>', 'seed (default 0)', number('--seed'))
    .option(
      '--bootstrap <n>',
      'bootstrap resamples of the intervals (default 1000)',
      positiveInt('--bootstrap'),
    )
    .option('--folds <list>', 'comma-separated folds to train (default all)')
    .option('--backend <name>', `${BACKEND_HELP} (default auto)`)
    .option(
      '--workers <n>',
      'folds trained at once, one worker thread each (default: the cores, capped at the folds); 1 trains them in turn on the main thread; results do not depend on it',
      positiveInt('--workers'),
    )
    .option('--no-progress', 'no progress bar')
    .addHelpText(
      'after',
      [
        '',
        'Writes SRUN/fold<k>/ (model and held-out predictions, once the fold is done), SRUN/probs.npy,',
        'SRUN/series.csv and SRUN/metrics.json (stage1, smoothed, stage2 and study blocks). Run it again',
        'with the same options to resume at the first unfinished fold.',
        '',
        'Example:',
        '  ichdet train-series --features cv/features --out runs/series',
      ].join('\n'),
    )
    .action(
      action(program, async (o: TrainSeriesCliOptions) => {
        if (o.backend !== undefined && !(BACKENDS as readonly string[]).includes(o.backend)) {
          throw new ConfigError(
            `--backend must be one of ${BACKENDS.join(', ')}, received "${o.backend}"`,
          );
        }
        const r = await trainSeries({
          features: o.features,
          out: o.out,
          ...(o.epochs !== undefined && { epochs: o.epochs }),
          ...(o.batch !== undefined && { batch: o.batch }),
          ...(o.lr !== undefined && { lr: o.lr }),
          ...(o.window !== undefined && { window: o.window }),
          ...(o.c1 !== undefined && { c1: o.c1 }),
          ...(o.c2 !== undefined && { c2: o.c2 }),
          ...(o.gru !== undefined && { gru: o.gru }),
          ...(o.embeddings !== undefined && { embeddings: o.embeddings }),
          ...(o.foldNorm !== undefined && { foldNorm: o.foldNorm }),
          ...(o.seed !== undefined && { seed: o.seed }),
          ...(o.bootstrap !== undefined && { bootstrap: o.bootstrap }),
          ...(o.folds !== undefined && { folds: o.folds.split(',').map(Number) }),
          ...(o.backend !== undefined && { backend: o.backend as BackendChoice }),
          ...(o.workers !== undefined && { workers: o.workers }),
          progress: o.progress !== false,
          signal: cliSignal(),
        });
        process.stdout.write(seriesTable(r));
        process.stdout.write(`series run in ${r.out} (${r.seconds.toFixed(1)} s)\n`);
        return 0;
      }),
    );
}
