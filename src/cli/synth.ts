import type { Command } from 'commander';
import { synth } from '../commands/synth.js';
import { SYNTH_DEFAULTS } from '../synth/options.js';
import { LABELS } from '../synth/subtypes.js';
import { action } from './shared.js';

interface SynthCliOptions {
  out: string;
  patients?: string;
  seed?: string;
  size?: string;
  slicesPerSeries?: string;
  prevalence?: string;
  difficulty?: string;
  duplicates?: string;
  faults?: string | boolean;
  preview?: string;
  workers?: string;
  progress: boolean;
  overwrite?: boolean;
}

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description(
      'generate a synthetic head-CT dataset in the RSNA layout (DICOM slices, labels CSV, masks)',
    )
    .requiredOption('--out <dir>', 'output folder (empty or absent unless --overwrite)')
    .option('--patients <n>', `patients, one series each (default ${SYNTH_DEFAULTS.patients})`)
    .option('--seed <s>', `seed of every random choice (default ${SYNTH_DEFAULTS.seed})`)
    .option(
      '--size <n>',
      `nominal matrix size; a few series get others (default ${SYNTH_DEFAULTS.size})`,
    )
    .option(
      '--slices-per-series <min:max>',
      `slices per series (default ${SYNTH_DEFAULTS.slicesPerSeries.join(':')})`,
    )
    .option(
      '--prevalence <p>',
      'rsna (the RSNA 2019 per-image rates), balanced, or a JSON object of rates (default rsna)',
    )
    .option('--difficulty <d>', 'easy, realistic or hard (default realistic)')
    .option('--duplicates <k>', 'repeat the CSV rows of k images, as the real CSV does (default 0)')
    .option(
      '--faults [n]',
      'add n broken files (truncated pixel data, non-DICOM, empty), listed in faults.csv (flag alone: 3)',
    )
    .option(
      '--preview <png>',
      'write a montage of example slices per subtype and mimics (brain window)',
    )
    .option('--workers <n>', 'worker threads (default: all cores)')
    .option('--no-progress', 'no progress bar')
    .option('--overwrite', 'write into a non-empty folder')
    .addHelpText(
      'after',
      '\nExample:\n  ichdet synth --out data/synth --patients 40 --seed 1 --faults --preview data/synth/preview.png',
    )
    .action(
      action(program, async (o: SynthCliOptions) => {
        const r = await synth({
          out: o.out,
          patients: o.patients,
          seed: o.seed,
          size: o.size,
          slicesPerSeries: o.slicesPerSeries,
          prevalence: o.prevalence,
          difficulty: o.difficulty,
          duplicates: o.duplicates,
          faults: o.faults,
          preview: o.preview,
          workers: o.workers,
          progress: o.progress,
          overwrite: o.overwrite,
        });
        const rates = LABELS.map((l) => `${l} ${(100 * r.rates[l]).toFixed(2)}%`).join(', ');
        process.stdout.write(
          `wrote ${r.images} slices of ${r.patients} patients to ${r.out} in ${r.seconds.toFixed(1)} s (${r.slicesPerSecond.toFixed(1)} slices/s)\n` +
            `positive rates: ${rates}\n` +
            (r.faults.length
              ? `faults: ${r.faults.length} broken files listed in faults.csv\n`
              : '') +
            (r.preview ? `preview: ${r.preview.path}\n` : ''),
        );
        return 0;
      }),
    );
}
