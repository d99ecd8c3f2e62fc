import type { Command } from 'commander';
import { formatStats, STATS_DEFAULT_MAX_FILES, stats } from '../commands/stats.js';
import { action, positiveInt } from './shared.js';

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description(
      'HU statistics of a head-CT DICOM folder (brain, skull, noise, noise texture, skull edge, dense pixels) beside real RSNA 2019 values',
    )
    .argument('<folder>', 'folder of DICOM slices (*.dcm at any depth, else every file)')
    .option('--json', 'print the result as JSON')
    .option(
      '--max-files <n>',
      `read at most n files, in sorted path order (default ${STATS_DEFAULT_MAX_FILES})`,
      positiveInt('--max-files'),
    )
    .addHelpText(
      'after',
      '\nExample:\n  ichdet stats data/synth/stage_2_train\n  ichdet stats /data/rsna/stage_2_train --max-files 1000 --json > real.json',
    )
    .action(
      action(program, async (folder: string, o: { json?: boolean; maxFiles?: number }) => {
        const r = await stats(folder, { maxFiles: o.maxFiles });
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else process.stdout.write(`${formatStats(r)}\n`);
        return r.slices > 0 ? 0 : 1;
      }),
    );
}
