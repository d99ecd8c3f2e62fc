import type { Command } from 'commander';
import { watch } from '../commands/watch.js';
import { ONNX_BACKENDS } from '../infer/onnx-runtime.js';
import { jsonReporter } from '../util/reporter.js';
import { action, cliSignal, number, positiveInt } from './shared.js';

interface WatchCliOptions {
  orthanc: string;
  model: string;
  seriesModel?: string;
  rules?: string;
  state?: string;
  threshold?: number;
  once?: boolean;
  stableSeries?: boolean;
  stow?: string;
  heatmap?: boolean;
  poll?: number;
  runtime?: string;
  onnxBackend?: string;
  workers?: number;
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description(
      'triage service beside an Orthanc PACS: each new stable head CT is read and a DICOM SR and a key image (UNVERIFIED, not for diagnostic use) are stored back into its study',
    )
    .requiredOption('--orthanc <url>', "Orthanc's REST root, e.g. http://127.0.0.1:8042")
    .requiredOption(
      '--model <path>',
      'a training run, a model folder, its model.onnx, or an ONNX-only model (a folder with only model.onnx, or an .onnx from export-onnx)',
    )
    .option('--series-model <srun>', 'a train-series run: stage 2 per series')
    .option('--rules <file>', 'series selection rules (JSON; default: head CT, see README)')
    .option('--state <dir>', 'state folder: watch.sqlite (default .ichdet-watch)')
    .option(
      '--threshold <t>',
      "flag threshold on any (default: the run's triage threshold)",
      number('--threshold'),
    )
    .option('--once', 'handle what is pending and exit (cron, tests)')
    .option('--stable-series', 'also act on StableSeries changes')
    .option(
      '--stow <url>',
      'store the results with DICOMweb STOW-RS at this URL instead of Orthanc',
    )
    .option('--no-heatmap', 'no Grad-CAM heatmap on the key image')
    .option(
      '--poll <s>',
      'seconds between polls of an idle change feed (default 1)',
      number('--poll'),
    )
    .option('--runtime <name>', 'onnx (default) or tfjs')
    .option(
      '--onnx-backend <name>',
      `ONNX Runtime build: ${ONNX_BACKENDS.join(', ')} (default auto)`,
    )
    .option('--workers <n>', 'inference threads (default: all cores)', positiveInt('--workers'))
    .addHelpText(
      'after',
      [
        '',
        'One JSON object per line on stdout: watch-start, one "study" event per study (state, reason,',
        'any, flag, received/started/stored times, seconds), pacs-down / pacs-up.',
        '',
        'Examples:',
        '  ichdet watch --orthanc http://127.0.0.1:8042 --model runs/mnv2 --state /var/lib/ichdet',
        '  ichdet watch --orthanc http://127.0.0.1:8042 --model runs/mnv2/best/model.onnx --once',
        '  ichdet watch --orthanc http://127.0.0.1:8042 --model deploy/model.onnx   # export-onnx --cam: heatmap from its cam output',
        '  ichdet watch --orthanc http://127.0.0.1:8042 --model runs/mnv2 --series-model sruns/mnv2 --rules rules.json',
        '  ichdet watch --orthanc http://127.0.0.1:8042 --model runs/mnv2 --stow http://pacs/dicom-web/studies',
      ].join('\n'),
    )
    .action(
      action(program, async (o: WatchCliOptions) => {
        const r = await watch({
          orthanc: o.orthanc,
          model: o.model,
          seriesModel: o.seriesModel,
          rules: o.rules,
          state: o.state,
          threshold: o.threshold,
          once: o.once === true,
          stableSeries: o.stableSeries === true,
          stow: o.stow,
          heatmap: o.heatmap !== false,
          pollSeconds: o.poll,
          runtime: o.runtime,
          onnxBackend: o.onnxBackend,
          workers: o.workers,
          reporter: jsonReporter(),
          signal: cliSignal(),
        });
        const done = r.studies.filter((s) => s.row.state === 'done').length;
        process.stderr.write(
          `${r.studies.length} studies handled (${done} with results stored); last change ${r.lastSeq ?? 'none'}\n`,
        );
        return 0;
      }),
    );
}
