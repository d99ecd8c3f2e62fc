import type { Command } from 'commander';
import { formatModels, listModels } from '../commands/models.js';
import { action } from './shared.js';

export function registerModels(program: Command): void {
  program
    .command('models')
    .description(
      'list the architectures: parameters with and without the ImageNet top, input size, FLOPs per image, weight file',
    )
    .option('--json', 'print JSON instead of a table')
    .action(
      action(program, async (o: { json?: boolean }) => {
        const rows = listModels();
        process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : formatModels(rows));
        return 0;
      }),
    );
}
