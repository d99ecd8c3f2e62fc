import type { Command } from 'commander';
import { split } from '../commands/split.js';
import { LABEL_NAMES } from '../data/types.js';
import { action } from './shared.js';

interface SplitCliOptions {
  cache?: string;
  index?: string;
  out: string;
  subset?: string;
  val?: string;
  folds?: string;
  test?: string;
  group?: string;
  seed?: string;
  upsample?: string[];
  negRatio?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerSplit(program: Command): void {
  program
    .command('split')
    .description(
      'split a cache (or a metadata index) into train/val or k folds (and a held-out test split) by grouped multi-label iterative stratification, with rebalancing of the training part',
    )
    .option('--cache <dir>', 'the cache folder (ichdet prepare --out)')
    .option(
      '--index <file>',
      'the metadata index (ichdet index --out) instead of a cache: split before caching',
    )
    .requiredOption(
      '--out <split.csv>',
      'split file (image_id,split,repeat); SPLIT.json with the options and table goes beside it',
    )
    .option('--subset <f>', 'keep this fraction of the images, drawn by stratification (default 1)')
    .option('--val <f>', 'validation fraction in (0, 1) (default 0.1)')
    .option('--folds <k>', 'k stratified folds fold0…fold{k-1} instead of train/val')
    .option(
      '--test <f>',
      'hold out this fraction in (0, 1) as a test split, drawn first; --val is then a fraction of the whole (val + test < 1)',
    )
    .option(
      '--group <by>',
      'indivisible unit: patient, study or none (= by image) (default patient)',
    )
    .option('--seed <s>', 'seed of every random choice (default 0)')
    .option(
      '--upsample <label=N>',
      `repeat training images positive for label N times; label one of ${LABEL_NAMES.join(', ')} (repeatable)`,
      collect,
    )
    .option(
      '--neg-ratio <r>',
      'keep r training negatives per training positive example (repeats counted); the rest get repeat 0',
    )
    .addHelpText(
      'after',
      [
        '',
        'Images outside the subset are not written. Validation and test images have repeat 1; with',
        '--folds the repeat column applies whenever the fold is used for training (rebalancing is done',
        'per fold). With --test, evaluate and compare report on test; checkpoints are chosen on val.',
        '',
        'Examples:',
        '  ichdet split --cache data/cache --out data/split.csv --subset 0.1 --val 0.1 --upsample epidural=8 --neg-ratio 2',
        '  ichdet split --cache data/cache --out data/folds.csv --folds 5 --group study --seed 1',
        '  ichdet split --cache data/cache --out data/split.csv --val 0.1 --test 0.2',
        '  ichdet split --index meta.sqlite --out data/split.csv --subset 0.1 --val 0.1',
      ].join('\n'),
    )
    .action(
      action(program, async (o: SplitCliOptions) => {
        const r = await split({
          cache: o.cache,
          index: o.index,
          out: o.out,
          subset: o.subset,
          val: o.val,
          folds: o.folds,
          test: o.test,
          group: o.group,
          seed: o.seed,
          upsample: o.upsample,
          negRatio: o.negRatio,
        });
        process.stdout.write(r.text);
        const parts = Object.entries(r.counts)
          .map(([name, n]) => `${name} ${n}`)
          .join(', ');
        const left = [
          r.unused ? `${r.unused} outside the subset` : '',
          r.unlabelled ? `${r.unlabelled} unlabelled` : '',
        ].filter((s) => s !== '');
        process.stdout.write(
          `\nwrote ${r.out} (${r.images} images: ${parts}${left.length ? `; not listed: ${left.join(', ')}` : ''}) and ${r.json}\n`,
        );
        return 0;
      }),
    );
}
