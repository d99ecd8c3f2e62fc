import type { Command } from 'commander';
import { BACKEND_HELP } from '../backend/choices.js';
import { compare } from '../commands/compare.js';
import { demo } from '../commands/demo.js';
import { evaluationText, type Study, stageGainText } from '../eval/report.js';
import { ARCH_NAMES } from '../models/registry.js';
import { submitCompare } from '../queue/submit.js';
import { action, cliSignal, positiveInt, submittedText } from './shared.js';

interface CompareCliOptions {
  cache: string;
  split: string;
  archs: string;
  out: string;
  parallel?: number;
  bootstrap?: number;
  size?: number;
  epochs?: number;
  batch?: number;
  lr?: string;
  loss?: string;
  weights?: string;
  augment?: string;
  context?: string;
  seed?: string;
  workers?: number;
  backend?: string;
  fitMinSize?: boolean;
  masks?: string;
  camLayer?: string;
  series?: string[];
  progress?: boolean;
  queue?: string;
  detach?: boolean;
}

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description(
      'train and evaluate several architectures with identical data and options, then write STUDY/report.html and report.md (resumable)',
    )
    .requiredOption('--cache <dir>', 'the cache folder')
    .requiredOption('--split <split.csv>', 'the split file')
    .requiredOption(
      '--archs <list>',
      `all, or a comma-separated list of ${ARCH_NAMES.join(', ')} or their Keras names (MobileNetV2, EfficientNetB0…)`,
    )
    .requiredOption(
      '--out <study>',
      'the study folder (runs/<arch>/, report.html, report.md, figures/)',
    )
    .option(
      '--parallel <n>',
      'models trained at the same time, sharing the cores (default 1)',
      positiveInt('--parallel'),
    )
    .option(
      '--bootstrap <n>',
      'bootstrap resamples for the intervals (default 1000)',
      positiveInt('--bootstrap'),
    )
    .option('--size <px>', 'input size (default 224)', positiveInt('--size'))
    .option(
      '--fit-min-size',
      "raise the size to each architecture's minimum (InceptionV3 75, Xception 71)",
    )
    .option('--epochs <n>', 'epochs (default 10)', positiveInt('--epochs'))
    .option('--batch <n>', 'batch size (default 32)', positiveInt('--batch'))
    .option('--lr <rate>', 'learning rate (default 1e-4)')
    .option('--loss <name>', 'bce, weighted-bce or focal (default bce)')
    .option('--weights <w>', 'imagenet, none or a .h5 file (default imagenet)')
    .option('--augment <spec>', 'augmentation (default hflip=0.25,vflip=0.10,crop=0.25)')
    .option('--context <k>', '2.5D context slices each side (default 0)')
    .option('--seed <s>', 'seed (default 0)')
    .option(
      '--workers <n>',
      'worker threads per model (default: cores / parallel)',
      positiveInt('--workers'),
    )
    .option('--backend <name>', `${BACKEND_HELP} (default auto)`)
    .option(
      '--masks <dir>',
      "label masks <image id>.png (as ichdet synth writes): each model's Grad-CAM pointing game on the evaluated images (test, or validation), in the report",
    )
    .option('--cam-layer <layer>', 'Grad-CAM layer for --masks: a name, or 1/8, 1/16, 1/32')
    .option(
      '--series <srun...>',
      'series runs (ichdet train-series --out) to show stage 1, smoothed and stage 2 side by side in the report',
    )
    .option('--no-progress', 'no progress bars')
    .option(
      '--queue <redis-url>',
      'submit one training job per architecture (and the report after them) to ichdet workers instead of running here',
    )
    .option('--detach', 'with --queue: return once submitted instead of following the jobs')
    .addHelpText(
      'after',
      [
        '',
        'Finished runs are not trained again; an interrupted one resumes from its checkpoint.',
        'Checkpoints are selected on the validation split; the numbers are on the test split when',
        'the split file has one (ichdet split --test), else on validation. The report says which.',
        '',
        'Examples:',
        '  ichdet compare --cache data/cache --split data/split.csv --archs all --out study',
        '  ichdet compare --cache data/cache --split data/split.csv --archs mobilenet_v2,efficientnet_b0 --size 128 --epochs 3 --out study-small',
      ].join('\n'),
    )
    .action(
      action(program, async (o: CompareCliOptions) => {
        const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
        const opts = Object.fromEntries(
          Object.entries({
            cache: o.cache,
            split: o.split,
            archs: o.archs,
            out: o.out,
            parallel: o.parallel,
            bootstrap: o.bootstrap,
            size: o.size,
            fitMinSize: o.fitMinSize,
            epochs: o.epochs,
            batch: o.batch,
            lr: num(o.lr),
            loss: o.loss,
            weights: o.weights,
            augment: o.augment,
            context: num(o.context),
            seed: num(o.seed),
            workers: o.workers,
            backend: o.backend,
            masks: o.masks,
            camLayer: o.camLayer,
            series: o.series,
            progress: o.progress !== false,
          }).filter(([, v]) => v !== undefined),
        ) as unknown as Parameters<typeof compare>[0];
        if (o.queue !== undefined) {
          const { progress: _p, ...rest } = opts;
          const q = await submitCompare({
            ...rest,
            redis: o.queue,
            detach: o.detach === true,
            signal: cliSignal(),
          });
          process.stdout.write(submittedText(q));
          return 0;
        }
        const r = await compare(opts);
        process.stdout.write(`${summary(r.study)}\nreport: ${r.report}\n`);
        return 0;
      }),
    );
}

function summary(study: Study): string {
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  const evaluation = evaluationText(study);
  const lines = study.models.map((m) => {
    const any = m.pointing?.rows.find((r) => r.label === 'any');
    const pointing = any && any.rate !== null ? `  pointing game ${any.hits}/${any.slices}` : '';
    return `${m.arch.padEnd(16)} mean AUC ${f(m.meanAuc)}  weighted log loss ${f(m.weightedLogLoss)}${pointing}`;
  });
  const series = (study.series ?? []).map(
    (s) => `series stage, ${s.name}: ${stageGainText(s.metrics)}`,
  );
  return [...(evaluation === null ? [] : [evaluation]), ...lines, ...series].join('\n');
}

interface DemoCliOptions {
  out?: string;
  quick?: boolean;
  patients?: number;
  workers?: number;
  seed?: string;
  series?: boolean;
  progress?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole study on synthetic data: synth → prepare → split → compare all eight CNNs, then the series stage (cv → train-series) on the best (--quick: two CNNs)',
    )
    .option('--out <dir>', 'output folder (default ichdet-demo)')
    .option('--quick', 'two small architectures and fewer images')
    .option(
      '--patients <n>',
      'synthetic patients (default 120; --quick 60): fewer for a faster, noisier study',
      positiveInt('--patients'),
    )
    .option(
      '--workers <n>',
      'worker threads (default: the number of cores)',
      positiveInt('--workers'),
    )
    .option('--seed <s>', 'seed of the data, split and training (default 0)')
    .option('--no-series', 'skip the series stage (cv and train-series on the best architecture)')
    .option('--no-progress', 'no progress bars')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  ichdet demo',
        '  ichdet demo --quick --out /tmp/demo',
        '  ichdet demo --quick --patients 30 --out /tmp/small',
      ].join('\n'),
    )
    .action(
      action(program, async (o: DemoCliOptions) => {
        const r = await demo({
          ...(o.out !== undefined && { out: o.out }),
          quick: o.quick === true,
          ...(o.patients !== undefined && { patients: o.patients }),
          ...(o.workers !== undefined && { workers: o.workers }),
          ...(o.seed !== undefined && { seed: Number(o.seed) }),
          series: o.series !== false,
          progress: o.progress !== false,
        });
        process.stdout.write(
          `${summary(r.study)}\ndemo finished in ${(r.seconds / 60).toFixed(1)} min\nreport: ${r.report}\n`,
        );
        return 0;
      }),
    );
}
