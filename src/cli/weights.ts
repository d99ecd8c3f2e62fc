import type { Command } from 'commander';
import { formatDownloads, weightsDownload } from '../commands/weights.js';
import { action } from './shared.js';

export function registerWeights(program: Command): void {
  const weights = program.command('weights').description('manage the ImageNet weight files');
  weights
    .command('download')
    .description(
      'fetch the Keras ImageNet notop .h5 weights of an architecture (or all) into the cache and verify their md5',
    )
    .argument(
      '<arch>',
      'an architecture (see `ichdet models`; Keras names such as ResNet50 too) or all',
    )
    .option('--dir <dir>', 'cache folder (default $ICHDET_WEIGHTS_DIR or ~/.cache/ichdet/weights)')
    .option('--no-progress', 'no progress bar')
    .action(
      action(program, async (arch: string, o: { dir?: string; progress: boolean }) => {
        const results = await weightsDownload({
          arch,
          progress: o.progress,
          ...(o.dir !== undefined ? { dir: o.dir } : {}),
        });
        process.stdout.write(formatDownloads(results));
        return 0;
      }),
    );
}
