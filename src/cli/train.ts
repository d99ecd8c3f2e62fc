import type { Command } from 'commander';
import { BACKEND_HELP } from '../backend/choices.js';
import { ARCH_NAMES } from '../models/registry.js';
import { DEFAULT_AUGMENT, LOSSES, LR_SCHEDULES, MONITORS, OPTIMIZERS } from '../train/config.js';
import { type TrainOptions, train } from '../train/train.js';
import { action, cliSignal, nonNegInt, number, positiveInt } from './shared.js';

/** The training options `train` and `cv` share, as commander parses them. */
export interface TrainingCliOptions {
  size?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: string;
  loss?: string;
  focalGamma?: number;
  weights?: string;
  augment?: string;
  context?: number;
  freezeBackbone?: boolean;
  dropout?: number;
  seed?: number;
  monitor?: string;
  workers?: number;
  microBatch?: number;
  backend?: string;
  checkpointMinutes?: number;
  maxSteps?: number;
  bnMomentum?: number;
  lrSchedule?: string;
}

interface TrainCliOptions extends TrainingCliOptions {
  trainSplits?: string;
  valSplit?: string;
  cache?: string;
  split?: string;
  arch?: string;
  out: string;
  resume?: boolean;
  progress?: boolean;
}

/**
 * Adds the training options (size, epochs, batch, lr, …, bn-momentum; not cache, split, arch,
 * out, resume or the split names) to a command: `train` and `cv` share them.
 */
export function addTrainingOptions(cmd: Command): Command {
  return cmd
    .option('--size <px>', 'input height = width (default 224)', positiveInt('--size'))
    .option('--epochs <n>', 'epochs (default 10)', positiveInt('--epochs'))
    .option(
      '--batch <n>',
      'batch size, exact whatever fits in memory (default 32)',
      positiveInt('--batch'),
    )
    .option('--lr <rate>', 'learning rate (default 1e-4)', number('--lr'))
    .option(
      '--lr-schedule <name>',
      `${LR_SCHEDULES.join(', ')}: cosine warms up over 5% of the steps, then decays to 0 (default constant)`,
    )
    .option('--optimizer <name>', `${OPTIMIZERS.join(', ')} (default adam)`)
    .option('--loss <name>', `${LOSSES.join(', ')} (default bce)`)
    .option('--focal-gamma <g>', 'focal loss γ (default 2)', number('--focal-gamma'))
    .option('--weights <w>', 'imagenet, none or a Keras .h5 file (default imagenet)')
    .option('--augment <spec>', `on-the-fly augmentation, or none (default ${DEFAULT_AUGMENT})`)
    .option(
      '--context <k>',
      '2.5D: k neighbouring slices each side as extra channels, 0–2 (default 0)',
      nonNegInt('--context'),
    )
    .option('--freeze-backbone', 'train the head only (backbone in inference mode)')
    .option(
      '--dropout <rate>',
      'dropout before the head dense layer (default 0)',
      number('--dropout'),
    )
    .option(
      '--seed <s>',
      'seed of the weights, data order, augmentation and dropout (default 0)',
      nonNegInt('--seed'),
    )
    .option(
      '--monitor <metric>',
      `validation metric for best/: ${MONITORS.join(', ')} (default weighted_log_loss)`,
    )
    .option(
      '--workers <n>',
      'model worker threads (default: the number of cores)',
      positiveInt('--workers'),
    )
    .option(
      '--micro-batch <n>',
      'examples per forward/backward pass; 0 = automatic (default 0)',
      nonNegInt('--micro-batch'),
    )
    .option('--backend <name>', `${BACKEND_HELP} (default auto)`)
    .option(
      '--checkpoint-minutes <m>',
      'also save last/ within an epoch this often (default 10; 0 = epoch ends only)',
      number('--checkpoint-minutes'),
    )
    .option(
      '--max-steps <n>',
      'stop after this many optimiser steps (resume later)',
      positiveInt('--max-steps'),
    )
    .option(
      '--bn-momentum <m>',
      "batch-norm moving-average momentum for all layers (default: 0.9 with --weights none, else Keras' per model)",
      number('--bn-momentum'),
    );
}

/** The training options as `TrainOptionsInput` fields (only those given). */
export function trainingInput(o: TrainingCliOptions): Partial<TrainOptions> {
  return {
    ...(o.size !== undefined && { size: o.size }),
    ...(o.epochs !== undefined && { epochs: o.epochs }),
    ...(o.batch !== undefined && { batch: o.batch }),
    ...(o.lr !== undefined && { lr: o.lr }),
    ...(o.lrSchedule !== undefined && { lrSchedule: o.lrSchedule }),
    ...(o.optimizer !== undefined && { optimizer: o.optimizer }),
    ...(o.loss !== undefined && { loss: o.loss }),
    ...(o.focalGamma !== undefined && { focalGamma: o.focalGamma }),
    ...(o.weights !== undefined && { weights: o.weights }),
    ...(o.augment !== undefined && { augment: o.augment }),
    ...(o.context !== undefined && { context: o.context }),
    ...(o.freezeBackbone !== undefined && { freezeBackbone: o.freezeBackbone }),
    ...(o.dropout !== undefined && { dropout: o.dropout }),
    ...(o.seed !== undefined && { seed: o.seed }),
    ...(o.monitor !== undefined && { monitor: o.monitor }),
    ...(o.workers !== undefined && { workers: o.workers }),
    ...(o.microBatch !== undefined && { microBatch: o.microBatch }),
    ...(o.backend !== undefined && { backend: o.backend }),
    ...(o.checkpointMinutes !== undefined && { checkpointMinutes: o.checkpointMinutes }),
    ...(o.maxSteps !== undefined && { maxSteps: o.maxSteps }),
    ...(o.bnMomentum !== undefined && { bnMomentum: o.bnMomentum }),
  };
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      'train one CNN on a prepared cache and split: data-parallel on every core, validation each epoch, RUN/last and RUN/best checkpoints, resumable',
    )
    .option('--cache <dir>', 'the cache folder (ichdet prepare --out)')
    .option('--split <split.csv>', 'the split file (ichdet split --out)')
    .option(
      '--arch <name>',
      `architecture: ${ARCH_NAMES.join(', ')}, or its Keras name (MobileNetV2, EfficientNetB0…; any case, underscores optional)`,
    )
    .requiredOption('--out <run>', 'the run folder (config.json, metrics.jsonl, last/, best/)')
    .option(
      '--resume',
      'continue the run in --out from its last checkpoint (other options ignored)',
    );
  addTrainingOptions(cmd)
    .option('--train-splits <names>', 'comma-separated split names to train on (default train)')
    .option('--val-split <name>', 'split name to validate on (default val)')
    .option('--no-progress', 'no progress bar')
    .addHelpText(
      'after',
      [
        '',
        'Writes RUN/config.json (the full config), RUN/metrics.jsonl (one line per epoch: losses, AUC per',
        'label, weighted log loss, images/s), RUN/last/ (every epoch, with the optimiser state) and RUN/best/',
        '(when the monitored validation metric improves), models in the TensorFlow.js layers format.',
        '',
        'Examples:',
        '  ichdet train --cache data/cache --split data/split.csv --arch mobilenet_v2 --out runs/mnv2',
        '  ichdet train --cache data/cache --split data/split.csv --arch efficientnet_b0 --size 128 --epochs 3 --weights none --context 1 --out runs/b0',
        '  ichdet train --resume --out runs/mnv2',
      ].join('\n'),
    )
    .action(
      action(program, async (o: TrainCliOptions) => {
        const input: TrainOptions = {
          ...(o.cache !== undefined && { cache: o.cache }),
          ...(o.split !== undefined && { split: o.split }),
          ...(o.arch !== undefined && { arch: o.arch }),
          out: o.out,
          ...trainingInput(o),
          ...(o.trainSplits !== undefined && { trainSplits: o.trainSplits.split(',') }),
          ...(o.valSplit !== undefined && { valSplit: o.valSplit }),
        };
        const r = await train({
          ...input,
          resume: o.resume === true,
          progress: o.progress !== false,
          signal: cliSignal(),
        });
        const best = r.best
          ? `best epoch ${r.best.epoch} (${r.config.monitor} ${r.best.value.toFixed(4)})`
          : 'no best yet';
        process.stdout.write(
          `${r.complete ? 'finished' : 'stopped'} ${r.config.arch} after ${r.steps} steps: ${best}; ` +
            `${r.imagesPerSecond.toFixed(1)} images/s; run in ${r.out}\n`,
        );
        return 0;
      }),
    );
}
