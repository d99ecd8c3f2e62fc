import type { Command } from 'commander';
import { BACKEND_HELP, type BackendChoice } from '../backend/choices.js';
import { evaluate } from '../commands/evaluate.js';
import { evaluateSeries, isSeriesRun } from '../commands/evaluate-series.js';
import { ConfigError } from '../errors.js';
import { formatPointing } from '../infer/pointing.js';
import { action, cliSignal, nonNegInt, positiveInt } from './shared.js';

interface EvaluateCliOptions {
  run: string;
  cache?: string;
  split?: string;
  splitName?: string;
  checkpoint?: string;
  tta?: string;
  threshold?: number;
  bootstrap?: number;
  seed?: number;
  workers?: number;
  backend?: string;
  out?: string;
  figures?: boolean;
  masks?: string;
  camLayer?: string;
  json?: boolean;
  progress?: boolean;
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      "predict a split with a run's best (or last) model: predictions.csv (RSNA format), metrics.json with bootstrap CIs, ROC and PR curves per label",
    )
    .requiredOption(
      '--run <run>',
      'the run folder (ichdet train --out), or a series run (ichdet train-series --out): then stage 1, smoothed and stage 2 side by side',
    )
    .option('--cache <dir>', "cache to predict (default: the run's)")
    .option('--split <split.csv>', "split file (default: the run's)")
    .option(
      '--split-name <name>',
      "split to predict (default: test when the split file has one, else the run's validation split)",
    )
    .option('--checkpoint <which>', 'best or last (default best)')
    .option('--tta <mode>', 'test-time augmentation: none or hflip (default none)')
    .option(
      '--threshold <t>',
      'threshold for accuracy, sensitivity, specificity (default 0.5)',
      Number,
    )
    .option(
      '--bootstrap <n>',
      'bootstrap resamples for 95% intervals, 0 for none (default 1000)',
      nonNegInt('--bootstrap'),
    )
    .option('--seed <s>', 'bootstrap seed (default 0)', nonNegInt('--seed'))
    .option(
      '--workers <n>',
      'model worker threads (default: the number of cores)',
      positiveInt('--workers'),
    )
    .option('--backend <name>', `${BACKEND_HELP} (default: the run's)`)
    .option('--out <dir>', 'output folder (default RUN/eval)')
    .option('--no-figures', 'skip the ROC/PR figures')
    .option(
      '--masks <dir>',
      'label masks <image id>.png (bit k = subtype k, as ichdet synth writes): Grad-CAM pointing game of the images that have one (OUT/pointing.csv)',
    )
    .option(
      '--cam-layer <layer>',
      "Grad-CAM layer for --masks: a layer name, or 1/8, 1/16, 1/32 (default: the architecture's last convolutional block, or its stride-16 block when that map is under 7 px)",
    )
    .option('--json', 'print metrics.json instead of the table')
    .option('--no-progress', 'no progress bar')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  ichdet evaluate --run runs/mnv2',
        '  ichdet evaluate --run runs/mnv2 --checkpoint last --tta hflip --bootstrap 2000',
        '  ichdet evaluate --run runs/b0 --masks data/synth/masks --cam-layer 1/16',
        '  ichdet evaluate --run runs/series   # a train-series run: SRUN/eval/report.md, stages.csv',
      ].join('\n'),
    )
    .action(
      action(program, async (o: EvaluateCliOptions) => {
        if (isSeriesRun(o.run)) {
          const cnnOnly = (
            [
              ['--cache', o.cache],
              ['--split', o.split],
              ['--split-name', o.splitName],
              ['--checkpoint', o.checkpoint],
              ['--tta', o.tta],
              ['--threshold', o.threshold],
              ['--workers', o.workers],
              ['--backend', o.backend],
              ['--masks', o.masks],
              ['--cam-layer', o.camLayer],
            ] as const
          ).filter(([, v]) => v !== undefined);
          if (cnnOnly.length > 0) {
            throw new ConfigError(
              `${o.run} is a series run: ${cnnOnly.map(([k]) => k).join(', ')} apply only to a CNN run (the series run is scored on its out-of-fold images)`,
            );
          }
          const r = await evaluateSeries({
            run: o.run,
            ...(o.bootstrap !== undefined && { bootstrap: o.bootstrap }),
            ...(o.seed !== undefined && { seed: o.seed }),
            ...(o.out !== undefined && { out: o.out }),
            figures: o.figures !== false,
          });
          if (o.json) {
            process.stdout.write(`${JSON.stringify(r.stage.metrics, null, 2)}\n`);
            return 0;
          }
          process.stdout.write(
            `evaluated series run ${r.stage.run} (${r.stage.name})\n\n${r.text}wrote ${r.out}\n`,
          );
          return 0;
        }
        if (o.checkpoint !== undefined && o.checkpoint !== 'best' && o.checkpoint !== 'last') {
          throw new ConfigError(`--checkpoint must be best or last, received "${o.checkpoint}"`);
        }
        const r = await evaluate({
          run: o.run,
          ...(o.cache !== undefined && { cache: o.cache }),
          ...(o.split !== undefined && { split: o.split }),
          ...(o.splitName !== undefined && { splitName: o.splitName }),
          ...(o.checkpoint !== undefined && { checkpoint: o.checkpoint as 'best' | 'last' }),
          ...(o.tta !== undefined && { tta: o.tta }),
          ...(o.threshold !== undefined && { threshold: o.threshold }),
          ...(o.bootstrap !== undefined && { bootstrap: o.bootstrap }),
          ...(o.seed !== undefined && { seed: o.seed }),
          ...(o.workers !== undefined && { workers: o.workers }),
          ...(o.backend !== undefined && { backend: o.backend as BackendChoice }),
          ...(o.out !== undefined && { out: o.out }),
          ...(o.masks !== undefined && { masks: o.masks }),
          ...(o.camLayer !== undefined && { camLayer: o.camLayer }),
          figures: o.figures !== false,
          progress: o.progress !== false,
          signal: cliSignal(),
        });
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ model: r.model, split: r.split, selectedOn: r.selectedOn, images: r.images, metrics: r.metrics, bootstrap: r.ci, pointing: r.pointing }, null, 2)}\n`,
          );
          return 0;
        }
        process.stdout.write(
          `evaluated ${r.model} on split "${r.split}" (${r.images} images; checkpoint selected on "${r.selectedOn}")\n\n${r.text}\n`,
        );
        if (r.pointing) {
          process.stdout.write(
            `Grad-CAM at ${r.pointing.layer}:\n${formatPointing(r.pointing.rows)}`,
          );
        }
        process.stdout.write(`wrote ${r.out}\n`);
        return 0;
      }),
    );
}
