import type { Command } from 'commander';
import { isSeriesRun } from '../commands/evaluate-series.js';
import { exportOnnxCommand } from '../commands/export-onnx.js';
import { exportSeriesOnnxCommand } from '../commands/export-series-onnx.js';
import { ConfigError } from '../errors.js';
import { ONNX_BACKENDS } from '../infer/onnx-runtime.js';
import { action, positiveInt } from './shared.js';

interface ExportOnnxCliOptions {
  out?: string;
  checkpoint?: string;
  opset?: number;
  verify?: boolean;
  cam?: boolean;
  onnxBackend?: string;
}

export function registerExportOnnx(program: Command): void {
  program
    .command('export-onnx')
    .description(
      "convert a trained run's model to ONNX (preprocessing config in its metadata) for ONNX Runtime in Node, Python, C++ or the browser",
    )
    .argument(
      '<run>',
      'the run folder (ichdet train --out), a model folder with model.json, or a series run (ichdet train-series --out)',
    )
    .option(
      '--out <model.onnx>',
      'the ONNX file to write (required for a CNN; a series run writes SRUN/fold<k>/model.onnx)',
    )
    .option('--checkpoint <which>', 'best or last (default best)')
    .option('--opset <n>', 'ONNX opset, 13 to 21 (default 17)', positiveInt('--opset'))
    .option(
      '--cam',
      'add a second output "cam": class activation maps [N, h, w, 6] (ichdet view draws them)',
    )
    .option('--no-verify', 'skip the ONNX Runtime vs tfjs check on a random batch')
    .option(
      '--onnx-backend <name>',
      `ONNX Runtime build for the check: ${ONNX_BACKENDS.join(', ')} (default auto: native onnxruntime-node when installed, else wasm onnxruntime-web)`,
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  ichdet export-onnx runs/mnv2 --out mnv2.onnx',
        '  ichdet export-onnx runs/mnv2 --checkpoint last --out mnv2-last.onnx',
        '  ichdet export-onnx runs/series   # each fold of a series run: runs/series/fold<k>/model.onnx',
      ].join('\n'),
    )
    .action(
      action(program, async (run: string, o: ExportOnnxCliOptions) => {
        if (isSeriesRun(run)) {
          for (const [k, v] of [
            ['--out', o.out],
            ['--checkpoint', o.checkpoint],
            ['--opset', o.opset],
          ] as const) {
            if (v !== undefined) {
              throw new ConfigError(
                `${run} is a series run: ${k} applies to a CNN run only (the series run writes fold<k>/model.onnx)`,
              );
            }
          }
          const r = await exportSeriesOnnxCommand({
            run,
            verify: o.verify !== false,
            ...(o.onnxBackend !== undefined && { onnxBackend: o.onnxBackend }),
          });
          const check =
            r.maxAbsDiff === null
              ? 'not verified'
              : `max |onnx − tfjs| = ${r.maxAbsDiff.toExponential(1)} on random series of 1, 7 and 40 slices (ONNX Runtime ${r.onnxBackend})`;
          process.stdout.write(`wrote ${r.files.join(', ')} (${check})\n`);
          return 0;
        }
        if (o.out === undefined) {
          throw new ConfigError('--out <model.onnx> is required for a CNN run');
        }
        if (o.checkpoint !== undefined && o.checkpoint !== 'best' && o.checkpoint !== 'last') {
          throw new ConfigError(`--checkpoint must be best or last, received "${o.checkpoint}"`);
        }
        const r = await exportOnnxCommand({
          run,
          out: o.out,
          ...(o.checkpoint !== undefined && { checkpoint: o.checkpoint as 'best' | 'last' }),
          ...(o.opset !== undefined && { opset: o.opset }),
          verify: o.verify !== false,
          cam: o.cam === true,
          ...(o.onnxBackend !== undefined && { onnxBackend: o.onnxBackend }),
        });
        const mb = (r.bytes / 1048576).toFixed(1);
        const check =
          r.maxAbsDiff === null
            ? 'not verified'
            : `max |onnx − tfjs| = ${r.maxAbsDiff.toExponential(1)} on a random batch (ONNX Runtime ${r.onnxBackend})`;
        process.stdout.write(
          `wrote ${r.out} (${r.arch ?? 'model'} from ${r.model}, ${r.nodes} nodes, ${mb} MB; ${check})\n`,
        );
        return 0;
      }),
    );
}
