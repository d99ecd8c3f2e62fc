import type { Command } from 'commander';
import { BACKEND_HELP, type BackendChoice } from '../backend/choices.js';
import { PREDICT_FORMATS, predict } from '../commands/predict.js';
import { NATIVE_INSTALL_LINE, ONNX_BACKENDS } from '../infer/onnx-runtime.js';
import { formatPointing } from '../infer/pointing.js';
import { TTA_MODES } from '../infer/runtime.js';
import { submitPredict } from '../queue/submit.js';
import { action, cliSignal, positiveInt, submittedText } from './shared.js';

interface PredictCliOptions {
  model: string;
  input: string[];
  out: string;
  format?: string;
  tta?: string;
  runtime?: string;
  onnxBackend?: string;
  threshold?: string;
  seriesModel?: string;
  cam?: string;
  camLayer?: string;
  masks?: string;
  top?: number;
  workers?: number;
  backend?: string;
  progress?: boolean;
  queue?: string;
  detach?: boolean;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description(
      'predict new DICOM studies with a trained model: six probabilities per slice, any per series and study with a triage flag, optional Grad-CAM heatmaps',
    )
    .requiredOption('--model <dir>', 'a training run (its best/ model) or a model folder')
    .requiredOption(
      '--input <path>',
      'DICOM file or folder, walked recursively (repeatable)',
      collect,
    )
    .requiredOption('--out <dir>', 'output folder')
    .option(
      '--format <f>',
      `${PREDICT_FORMATS.join(', ')}: slices.csv + summary.csv, predictions.json, or an RSNA submission.csv (default csv)`,
    )
    .option('--tta <mode>', `test-time augmentation: ${TTA_MODES.join(', ')} (default none)`)
    .option(
      '--runtime <name>',
      'tfjs (default: model workers on every core) or onnx (ONNX Runtime; DIR/model.onnx, else exported on the fly)',
    )
    .option(
      '--onnx-backend <name>',
      `ONNX Runtime build for --runtime onnx: ${ONNX_BACKENDS.join(', ')} (default auto: native onnxruntime-node when installed, else wasm onnxruntime-web)`,
    )
    .option(
      '--series-model <srun>',
      'a train-series run: stage 2 per series (per-slice probabilities, series and study flags from the sequence model)',
    )
    .option(
      '--threshold <t>',
      "flag threshold on any (default: the run's triage threshold from eval/metrics.json, else 0.5)",
    )
    .option(
      '--cam <dir>',
      'Grad-CAM heatmaps (PNG over the brain window + .npy) of every flagged slice, per label',
    )
    .option(
      '--cam-layer <layer>',
      "Grad-CAM layer: a layer name, or 1/8, 1/16, 1/32 for the last layer at that fraction of the input's size (default: the architecture's last convolutional block, or its stride-16 block when that map is under 7 px)",
    )
    .option(
      '--masks <dir>',
      'label masks <image id>.png (bit k = subtype k, as ichdet synth writes): score the heatmaps with the pointing game (OUT/pointing.csv)',
    )
    .option('--top <k>', 'top slices listed per series and study (default 3)', positiveInt('--top'))
    .option('--workers <n>', 'model workers (default: all cores)', positiveInt('--workers'))
    .option('--backend <name>', `${BACKEND_HELP} (default auto)`)
    .option('--no-progress', 'no progress bar')
    .option(
      '--queue <redis-url>',
      'submit one job per study (and their merge into --out) to ichdet workers instead of running here',
    )
    .option('--detach', 'with --queue: return once submitted instead of following the jobs')
    .addHelpText(
      'after',
      [
        '',
        'Bad or non-CT files are listed in OUT/rejects.csv with the reason and skipped.',
        '',
        `--runtime onnx runs on ONNX Runtime's wasm build unless the native one is installed: ${NATIVE_INSTALL_LINE}`,
        '',
        'Examples:',
        '  ichdet predict --model runs/mnv2 --input study/ --out pred',
        '  ichdet predict --model runs/mnv2/best --input a.dcm --input b.dcm --out pred --format rsna --tta hflip',
        '  ichdet predict --model runs/mnv2 --input study/ --out pred --runtime onnx --onnx-backend wasm',
        '  ichdet predict --model runs/mnv2 --input study/ --out pred --cam pred/cam',
        '  ichdet predict --model runs/mnv2 --series-model sruns/mnv2 --input study/ --out pred',
        '  ichdet predict --model runs/b0 --input synth/stage_2_train --out pred --threshold 0 --cam pred/cam --cam-layer 1/16 --masks synth/masks',
        '  ichdet predict --model /shared/runs/mnv2 --input /shared/archive --out /shared/pred --queue redis://queue-host:6379',
      ].join('\n'),
    )
    .action(
      action(program, async (o: PredictCliOptions) => {
        const threshold = o.threshold === undefined ? undefined : Number(o.threshold);
        // The options predict and its queue share; the queue adds its Redis and --detach.
        const common = {
          model: o.model,
          inputs: o.input,
          out: o.out,
          format: o.format,
          tta: o.tta,
          runtime: o.runtime,
          onnxBackend: o.onnxBackend,
          seriesModel: o.seriesModel,
          threshold,
          cam: o.cam,
          camLayer: o.camLayer,
          masks: o.masks,
          topK: o.top,
          workers: o.workers,
          backend: o.backend as BackendChoice | undefined,
          signal: cliSignal(),
        };
        if (o.queue !== undefined) {
          const q = await submitPredict({ ...common, redis: o.queue, detach: o.detach === true });
          process.stdout.write(submittedText(q));
          return 0;
        }
        const r = await predict({ ...common, progress: o.progress !== false });
        for (const s of r.studies) {
          process.stdout.write(
            `study ${s.studyUid}: any ${s.any.toFixed(4)} over ${s.slices} slices${s.flag ? '  FLAGGED' : ''} (top ${s.top.map((t) => t.imageId).join(', ')})\n`,
          );
        }
        process.stdout.write(
          `${r.slices.length} slices in ${r.series.length} series, ${r.studies.length} studies` +
            ` (${r.studies.filter((s) => s.flag).length} flagged at ${r.threshold.value}, ${r.threshold.source});` +
            ` ${r.rejects.length} files rejected; wrote ${r.written.join(', ')}` +
            `${r.cams.length ? `; ${r.cams.length} heatmaps in ${o.cam}` : ''}\n`,
        );
        if (r.pointing) process.stdout.write(formatPointing(r.pointing));
        return 0;
      }),
    );
}
