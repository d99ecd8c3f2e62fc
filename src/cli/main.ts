/**
 * The `ichdet` command line: a thin shell over the typed functions in src/commands. Every
 * command has --help; an error prints one line (the stack only with --verbose) and exits 1.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCompare, registerDemo } from './compare.js';
import { registerCv } from './cv.js';
import { registerEvaluate } from './evaluate.js';
import { registerExport } from './export.js';
import { registerExportOnnx } from './export-onnx.js';
import { registerIndex } from './index-meta.js';
import { registerInfo } from './info.js';
import { registerInspect } from './inspect.js';
import { registerMerge } from './merge.js';
import { registerModels } from './models.js';
import { registerPredict } from './predict.js';
import { registerPrepare } from './prepare.js';
import { registerScore } from './score.js';
import { registerSplit } from './split.js';
import { registerStats } from './stats.js';
import { registerSynth } from './synth.js';
import { registerTrain } from './train.js';
import { registerTrainSeries } from './train-series.js';
import { registerView } from './view.js';
import { registerWatch } from './watch.js';
import { registerWeights } from './weights.js';
import { registerJobs, registerWorker } from './worker.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command('ichdet')
    .description(
      'Intracranial haemorrhage detection on head-CT DICOM: read, window, curate, train and compare CNNs.',
    )
    .version(pkg.version, '-V, --version')
    .option('--verbose', 'print stack traces on errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });
  registerInspect(program);
  registerExport(program);
  registerSynth(program);
  registerStats(program);
  registerIndex(program);
  registerPrepare(program);
  registerInfo(program);
  registerMerge(program);
  registerSplit(program);
  registerModels(program);
  registerWeights(program);
  registerTrain(program);
  registerTrainSeries(program);
  registerScore(program);
  registerEvaluate(program);
  registerExportOnnx(program);
  registerPredict(program);
  registerCompare(program);
  registerCv(program);
  registerDemo(program);
  registerWorker(program);
  registerJobs(program);
  registerWatch(program);
  registerView(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
