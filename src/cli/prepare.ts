import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { action, cliSignal, submittedText } from './shared.js';

interface PrepareCliOptions {
  images: string;
  labels?: string;
  out: string;
  size?: string;
  windows?: string;
  workers?: string;
  shard?: string;
  rsnaFix: boolean;
  crop?: string;
  recordsPerShard?: string;
  progress: boolean;
  queue?: string;
  shards?: string;
  detach?: boolean;
  index?: string;
  split?: string;
  splits?: string;
  context?: string;
  force?: boolean;
}

export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description(
      'turn a DICOM folder and its labels into an indexed, random-access cache of windowed slices (resumable)',
    )
    .requiredOption('--images <dir>', 'folder of DICOM files, walked recursively')
    .option('--labels <csv>', 'RSNA label CSV (ID,Label); omit for unlabelled data')
    .requiredOption(
      '--out <dir>',
      'cache folder: new or empty, or an interrupted cache to resume with the same options',
    )
    .option('--size <n>', 'output size n × n (default 256)')
    .option(
      '--windows <list>',
      'windows as presets brain, subdural, soft, bone, stroke or center/width (default brain,subdural,soft)',
    )
    .option('--workers <n>', 'worker threads (default: number of cores)')
    .option(
      '--shard <K/N>',
      'process only the K-th (1-based) of N partitions: files whose index in the sorted list mod N is K-1',
    )
    .option('--records-per-shard <n>', 'records per shard file (default 4096)')
    .option('--no-rsna-fix', 'do not correct the RSNA 12-bit intercept quirk')
    .option(
      '--crop <mode>',
      'head: crop each slice to the square around the head before resizing (more brain pixels per input pixel); none (default)',
    )
    .option('--no-progress', 'do not draw a progress bar')
    .option(
      '--queue <redis-url>',
      'submit one job per partition (and their merge into --out) to ichdet workers instead of running here',
    )
    .option(
      '--shards <n>',
      'with --queue: partitions, one job each (default: 2 × the concurrency of the workers serving prepare at the first submission, 8 without any; kept for resubmissions)',
    )
    .option('--detach', 'with --queue: return once submitted instead of following the jobs')
    .option('--index <file>', 'the metadata index of --images (ichdet index), for --split')
    .option(
      '--split <csv>',
      'cache only the images of this split file (ichdet split --index), plus --context neighbours',
    )
    .option('--splits <names>', 'split names to cache, e.g. train,val (default: all in the file)')
    .option(
      '--context <k>',
      'with --split: also cache k slices on each side of every selected one, flagged as context rows (0, 1 or 2; default 0)',
    )
    .option('--force', 'start even when the file system lacks the planned space')
    .addHelpText(
      'after',
      '\nExamples:\n  ichdet prepare --images data/stage_2_train --labels data/stage_2_train.csv --out cache\n' +
        '  ichdet prepare --images data/stage_2_train --labels data/stage_2_train.csv --out cache-2 --shard 2/8\n' +
        '  ichdet prepare --images data/stage_2_train --labels data/stage_2_train.csv --index meta.sqlite --split split.csv --splits train,val --context 1 --out cache-10pct\n' +
        '\nKilled or interrupted? Run the same command again: finished slices are kept, the rest is done.',
    )
    .action(
      action(program, async (o: PrepareCliOptions) => {
        if (o.queue !== undefined) {
          for (const [flag, v] of Object.entries({
            shard: o.shard,
            split: o.split,
            index: o.index,
          })) {
            if (v !== undefined) throw new ConfigError(`--queue does not take --${flag}`);
          }
          // Loaded only here: the local command needs none of the queue's modules (BullMQ).
          const { submitPrepare } = await import('../queue/submit-prepare.js');
          const q = await submitPrepare({
            redis: o.queue,
            images: o.images,
            ...(o.labels !== undefined && { labels: o.labels }),
            out: o.out,
            ...(o.shards !== undefined && { shards: o.shards }),
            ...(o.size !== undefined && { size: o.size }),
            ...(o.windows !== undefined && { windows: o.windows }),
            ...(o.recordsPerShard !== undefined && { recordsPerShard: o.recordsPerShard }),
            ...(o.workers !== undefined && { workers: o.workers }),
            rsnaFix: o.rsnaFix,
            ...(o.crop !== undefined && { crop: o.crop }),
            detach: o.detach === true,
            signal: cliSignal(),
          });
          process.stdout.write(submittedText(q));
          return 0;
        }
        // Loaded here: a submitting `--queue` needs none of the local prepare's modules.
        const { prepare, prepareSummary } = await import('../commands/prepare.js');
        const { formatLabelsReport } = await import('../data/labels.js');
        const r = await prepare({
          images: o.images,
          labels: o.labels,
          out: o.out,
          size: o.size,
          windows: o.windows,
          workers: o.workers,
          shard: o.shard,
          rsnaFix: o.rsnaFix,
          crop: o.crop,
          recordsPerShard: o.recordsPerShard,
          progress: o.progress,
          index: o.index,
          split: o.split,
          splits: o.splits,
          context: o.context,
          force: o.force,
          signal: cliSignal(),
        });
        if (r.labelsReport) process.stdout.write(formatLabelsReport(r.labelsReport, r.coverage));
        process.stdout.write(`${prepareSummary(r)}\n`);
        return 0;
      }),
    );
}
