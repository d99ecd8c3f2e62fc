import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { view } from '../commands/view.js';
import { action, cliSignal, nonNegInt } from './shared.js';

interface ViewCliOptions {
  model?: string;
  predictions?: string;
  cam?: string;
  masks?: string;
  port?: number;
  host?: string;
  token?: string;
  seriesModel?: string;
  cors?: string;
  open?: boolean;
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description(
      'a web viewer for a folder of studies: worklist, windowed stack, per-slice probability strip, heatmap and mask overlays, in-browser inference; also a read-only DICOMweb server',
    )
    .argument('<folder>', 'the folder of DICOM files to serve (walked recursively)')
    .option(
      '--model <run|model.onnx>',
      'a model the page can run itself ("Analyse in browser"); a run is exported with its CAM output',
    )
    .option(
      '--series-model <srun>',
      'a train-series run (after ichdet export-onnx SRUN): stage 2 of the predictions and of in-browser analysis',
    )
    .option('--predictions <pred>', 'the output folder (or slices.csv) of ichdet predict')
    .option('--cam <dir>', 'heatmaps <image>_<label>.npy of predict --cam (default PRED/cam)')
    .option('--masks <dir>', 'label masks <image>.png, as ichdet synth writes them')
    .option('--port <n>', 'port (default 8080; 0 picks a free one)', nonNegInt('--port'))
    .option('--host <addr>', 'address to bind (default 127.0.0.1; any other needs --token)')
    .option('--token <secret>', 'required on every request (Bearer header, or ?token= once)')
    .option(
      '--cors <origin>',
      'let this origin (e.g. http://localhost:3000, an OHIF) read the DICOMweb routes; default off',
    )
    .option('--open', 'open the page in the default browser')
    .addHelpText(
      'after',
      [
        '',
        'Research use only, not for diagnosis. DICOMweb at /dicomweb (QIDO-RS, WADO-RS).',
        '',
        'Examples:',
        '  ichdet view synth/stage_2_train --predictions pred --masks synth/masks',
        '  ichdet view study/ --model runs/b0 --port 0',
        '  ichdet view study/ --predictions pred --series-model sruns/b0 --model runs/b0',
        '  ichdet view study/ --cors http://localhost:3000   # OHIF on another origin',
        '  ichdet view study/ --host 0.0.0.0 --token "$(openssl rand -hex 16)"',
      ].join('\n'),
    )
    .action(
      action(program, async (folder: string, o: ViewCliOptions) => {
        const signal = cliSignal();
        const v = await view({
          folder,
          ...(o.model !== undefined && { model: o.model }),
          ...(o.predictions !== undefined && { predictions: o.predictions }),
          ...(o.cam !== undefined && { cam: o.cam }),
          ...(o.masks !== undefined && { masks: o.masks }),
          ...(o.port !== undefined && { port: o.port }),
          ...(o.host !== undefined && { host: o.host }),
          ...(o.token !== undefined && { token: o.token }),
          ...(o.seriesModel !== undefined && { seriesModel: o.seriesModel }),
          ...(o.cors !== undefined && { cors: o.cors }),
        });
        const n = v.index.studies.length;
        process.stdout.write(
          `ichdet view: ${n} stud${n === 1 ? 'y' : 'ies'}, ${v.index.unreadable.length} unreadable file(s); open ${v.url}\n`,
        );
        process.stdout.write(
          `${JSON.stringify({ event: 'listening', url: v.url, studies: n, unreadable: v.index.unreadable.length })}\n`,
        );
        if (o.open) {
          const cmd = process.platform === 'darwin' ? 'open' : 'xdg-open';
          spawn(cmd, [v.url], { detached: true, stdio: 'ignore' })
            .on('error', () => {})
            .unref();
        }
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await v.close();
        return 0;
      }),
    );
}
