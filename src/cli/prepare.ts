import type { Command } from 'commander';
import { prepare, prepareSummary } from '../commands/prepare.js';
import { formatLabelsReport } from '../data/labels.js';
import { ConfigError } from '../errors.js';
import { submitPrepare } from '../queue/submit.js';
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
  recordsPerShard?: string;
  progress: boolean;
  queue?: string;
  shards?: string;
  detach?: boolean;
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
    .option('--no-progress', 'do not draw a progress bar')
    .option(
      '--queue <redis-url>',
      'submit one job per partition (and their merge into --out) to ichdet workers instead of running here',
    )
    .option('--shards <n>', 'with --queue: partitions, one job each (default 8)')
    .option('--detach', 'with --queue: return once submitted instead of following the jobs')
    .addHelpText(
      'after',
      '\nExamples:\n  ichdet prepare --images data/stage_2_train --labels data/stage_2_train.csv --out cache\n' +
        '  ichdet prepare --images data/stage_2_train --labels data/stage_2_train.csv --out cache-2 --shard 2/8\n' +
        '\nKilled or interrupted? Run the same command again: finished slices are kept, the rest is done.',
    )
    .action(
      action(program, async (o: PrepareCliOptions) => {
        if (o.queue !== undefined) {
          if (o.shard !== undefined)
            throw new ConfigError('--shard and --queue exclude each other');
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
            detach: o.detach === true,
            signal: cliSignal(),
          });
          process.stdout.write(submittedText(q));
          return 0;
        }
        const r = await prepare({
          images: o.images,
          labels: o.labels,
          out: o.out,
          size: o.size,
          windows: o.windows,
          workers: o.workers,
          shard: o.shard,
          rsnaFix: o.rsnaFix,
          recordsPerShard: o.recordsPerShard,
          progress: o.progress,
          signal: cliSignal(),
        });
        if (r.labelsReport) process.stdout.write(formatLabelsReport(r.labelsReport, r.coverage));
        process.stdout.write(`${prepareSummary(r)}\n`);
        return 0;
      }),
    );
}
