import type { Command } from 'commander';
import { cacheInfo, formatCacheInfo } from '../commands/info.js';
import { action } from './shared.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print what a slice cache holds: counts, label table and preprocessing config')
    .argument('<cache>', 'a folder written by ichdet prepare or ichdet merge')
    .option('--json', 'print JSON instead of a table')
    .action(
      action(program, async (dir: string, o: { json?: boolean }) => {
        const info = cacheInfo(dir);
        process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : formatCacheInfo(info));
        return 0;
      }),
    );
}
