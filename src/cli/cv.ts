import type { Command } from 'commander';
import { cv } from '../commands/cv.js';
import { ARCH_NAMES } from '../models/registry.js';
import { submitCv } from '../queue/submit.js';
import { action, cliSignal, nonNegInt, submittedText } from './shared.js';
import { addTrainingOptions, type TrainingCliOptions, trainingInput } from './train.js';

interface CvCliOptions extends TrainingCliOptions {
  cache?: string;
  split?: string;
  arch?: string;
  out: string;
  resume?: boolean;
  bootstrap?: number;
  progress?: boolean;
  queue?: string;
  detach?: boolean;
}

export function registerCv(program: Command): void {
  const cmd = program
    .command('cv')
    .description(
      'k-fold cross-validation for the series stage: one model per fold of a --folds split (resumable), then every image’s out-of-fold probabilities and embedding in CV/features/ and the out-of-fold metrics in CV/metrics.json',
    )
    .option('--cache <dir>', 'the cache folder (ichdet prepare --out)')
    .option(
      '--split <folds.csv>',
      'a split with fold0 … fold{K-1} and optionally test (ichdet split --folds K)',
    )
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`)
    .requiredOption('--out <cv>', 'the cv folder (runs/fold{k}/, features/, metrics.json, cv.json)')
    .option('--resume', 'continue the cv in --out with the options of its cv.json');
  addTrainingOptions(cmd)
    .option(
      '--bootstrap <n>',
      'bootstrap resamples for the out-of-fold intervals, 0 for none (default 1000)',
      nonNegInt('--bootstrap'),
    )
    .option('--no-progress', 'no progress bars')
    .option(
      '--queue <redis-url>',
      'submit one training job per fold (and the out-of-fold predictions after them) to ichdet workers instead of running here',
    )
    .option('--detach', 'with --queue: return once submitted instead of following the jobs')
    .addHelpText(
      'after',
      [
        '',
        'Fold k trains on every other fold and validates on fold k; a test split is predicted by every',
        'fold model (the mean). CV/features/ holds index.csv, probs.npy [n, 6], embeddings.npy [n, D]',
        'and features.json (see the README). Finished folds are not trained again; an interrupted one',
        'resumes from its checkpoint (ichdet cv --resume --out CV).',
        '',
        'Examples:',
        '  ichdet split --cache data/cache --out data/folds.csv --folds 5',
        '  ichdet cv --cache data/cache --split data/folds.csv --arch mobilenet_v2 --size 128 --out cv-mnv2',
        '  ichdet cv --resume --out cv-mnv2',
      ].join('\n'),
    )
    .action(
      action(program, async (o: CvCliOptions) => {
        if (o.queue !== undefined) {
          const q = await submitCv({
            ...(o.cache !== undefined && { cache: o.cache }),
            ...(o.split !== undefined && { split: o.split }),
            ...(o.arch !== undefined && { arch: o.arch }),
            out: o.out,
            ...trainingInput(o),
            ...(o.bootstrap !== undefined && { bootstrap: o.bootstrap }),
            redis: o.queue,
            detach: o.detach === true,
            signal: cliSignal(),
          });
          process.stdout.write(submittedText(q));
          return 0;
        }
        const r = await cv({
          ...(o.cache !== undefined && { cache: o.cache }),
          ...(o.split !== undefined && { split: o.split }),
          ...(o.arch !== undefined && { arch: o.arch }),
          out: o.out,
          ...trainingInput(o),
          ...(o.bootstrap !== undefined && { bootstrap: o.bootstrap }),
          resume: o.resume === true,
          progress: o.progress !== false,
          signal: cliSignal(),
        });
        if (!r.complete) {
          process.stdout.write(
            `stopped before every fold finished; continue with ichdet cv --resume --out ${r.out}\n`,
          );
          return 0;
        }
        process.stdout.write(
          `${r.text}\n${r.oofImages} out-of-fold and ${r.testImages} test images; features in ${r.features}\n`,
        );
        return 0;
      }),
    );
}
