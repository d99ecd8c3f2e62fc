import type { Command } from 'commander';
import { formatInspectRecord, inspect } from '../commands/inspect.js';
import { action } from './shared.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'print the DICOM attributes ichdet uses, one record per file (directories are walked); exit 1 if any file fails',
    )
    .argument('<file...>', 'DICOM files or folders')
    .option('--json', 'print a JSON array of records (failed files get {ok: false, error})')
    .option(
      '--no-rsna-fix',
      'do not correct the RSNA 12-bit intercept quirk when computing the HU range',
    )
    .addHelpText('after', '\nExample:\n  ichdet inspect data/stage_2_train/ID_0a1b2c3d4.dcm --json')
    .action(
      action(program, async (files: string[], opts: { json?: boolean; rsnaFix: boolean }) => {
        const records = await inspect(files, { rsnaFix: opts.rsnaFix });
        if (opts.json) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
        else process.stdout.write(`${records.map(formatInspectRecord).join('\n\n')}\n`);
        const failed = records.filter((r) => !r.ok).length;
        if (failed > 0) {
          process.stderr.write(`ichdet: ${failed} of ${records.length} files failed\n`);
          return 1;
        }
        return 0;
      }),
    );
}
