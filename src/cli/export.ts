import { type Command, Option } from 'commander';
import { exportSlice } from '../commands/export.js';
import type { ResizeMethod } from '../dicom/resize.js';
import { action, positiveInt } from './shared.js';

interface ExportCliOptions {
  out: string;
  hu?: boolean;
  windows?: string;
  size?: number;
  resize: ResizeMethod;
  rsnaFix: boolean;
  crop?: string;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write one slice as NumPy .npy (float32: H×W HU, or H×W×C windows in [0,1]) or an 8-bit PNG',
    )
    .argument('<file>', 'a DICOM file')
    .requiredOption('--out <path>', 'output path ending in .npy or .png')
    .option(
      '--hu',
      "export Hounsfield units instead of windows (PNG: shown with the file's own window)",
    )
    .option(
      '--windows <list>',
      'windows as presets brain, subdural, soft, bone, stroke or center/width (default brain,subdural,soft)',
    )
    .option('--size <n>', 'resize to n × n', positiveInt('--size'))
    .addOption(
      new Option('--resize <method>', 'resize method')
        .choices(['auto', 'bilinear', 'area'])
        .default('auto'),
    )
    .option('--no-rsna-fix', 'do not correct the RSNA 12-bit intercept quirk')
    .addOption(
      new Option(
        '--crop <mode>',
        'head: crop to the square around the head first, as prepare --crop head',
      )
        .choices(['none', 'head'])
        .default('none'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  ichdet export ID_0a1b2c3d4.dcm --out slice.npy --hu\n  ichdet export ID_0a1b2c3d4.dcm --out slice.png --windows brain,subdural,soft --size 256',
    )
    .action(
      action(program, async (file: string, o: ExportCliOptions) => {
        const r = await exportSlice({
          file,
          out: o.out,
          hu: o.hu,
          windows: o.windows,
          size: o.size,
          resizeMethod: o.resize,
          rsnaFix: o.rsnaFix,
          crop: o.crop,
        });
        const what = `Modality ${r.read.modality || 'absent'}, SOPClassUID ${r.read.sopClassUid || 'absent'}`;
        process.stderr.write(
          r.read.ct
            ? `read a CT slice (${what})\n`
            : `read a greyscale image that is not a CT slice (${what}): its values are not Hounsfield units; prepare and predict would reject it\n`,
        );
        process.stdout.write(
          `wrote ${r.out}: ${r.format}, ${r.dtype} ${r.shape.join('×')}${r.rsnaFixApplied ? ', RSNA fix applied' : ''}${r.cropBox ? `, cropped to rows ${r.cropBox.top}+${r.cropBox.side}, cols ${r.cropBox.left}+${r.cropBox.side}` : r.cropBox === null ? ', no head found: not cropped' : ''}\n`,
        );
        return 0;
      }),
    );
}
