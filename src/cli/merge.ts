import type { Command } from 'commander';
import { merge, mergeSummary } from '../commands/merge.js';
import { action } from './shared.js';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description(
      'join caches with the same preprocessing config (e.g. the --shard K/N partitions of one prepare) into one',
    )
    .argument('<caches...>', 'input cache folders')
    .requiredOption('--out <dir>', 'new or empty output folder')
    .option('--no-progress', 'do not draw a progress bar')
    .addHelpText('after', '\nExample:\n  ichdet merge --out cache cache-1 cache-2 cache-3 cache-4')
    .action(
      action(program, async (inputs: string[], o: { out: string; progress: boolean }) => {
        const r = await merge({ out: o.out, inputs, progress: o.progress });
        process.stdout.write(`${mergeSummary(r)}\n`);
        return 0;
      }),
    );
}
