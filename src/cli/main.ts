/**
 * The `ichdet` command line: a thin shell over the typed functions in src/commands. Every
 * command has --help; an error prints one line (the stack only with --verbose) and exits 1.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';

type Register = (program: Command) => void;

/**
 * Every command, in help order, with the module that registers it. Only the module of the
 * command being run is loaded (a command's module pulls in its whole stack: loading them all,
 * tfjs and the report renderers included, cost ~2 s of CPU before `prepare` read a file); help
 * and unknown commands load them all.
 */
const COMMANDS: [name: string, load: () => Promise<Register>][] = [
  ['inspect', async () => (await import('./inspect.js')).registerInspect],
  ['export', async () => (await import('./export.js')).registerExport],
  ['synth', async () => (await import('./synth.js')).registerSynth],
  ['stats', async () => (await import('./stats.js')).registerStats],
  ['index', async () => (await import('./index-meta.js')).registerIndex],
  ['prepare', async () => (await import('./prepare.js')).registerPrepare],
  ['info', async () => (await import('./info.js')).registerInfo],
  ['merge', async () => (await import('./merge.js')).registerMerge],
  ['split', async () => (await import('./split.js')).registerSplit],
  ['models', async () => (await import('./models.js')).registerModels],
  ['weights', async () => (await import('./weights.js')).registerWeights],
  ['train', async () => (await import('./train.js')).registerTrain],
  ['train-series', async () => (await import('./train-series.js')).registerTrainSeries],
  ['score', async () => (await import('./score.js')).registerScore],
  ['evaluate', async () => (await import('./evaluate.js')).registerEvaluate],
  ['export-onnx', async () => (await import('./export-onnx.js')).registerExportOnnx],
  ['predict', async () => (await import('./predict.js')).registerPredict],
  ['compare', async () => (await import('./compare.js')).registerCompare],
  ['cv', async () => (await import('./cv.js')).registerCv],
  ['demo', async () => (await import('./compare.js')).registerDemo],
  ['worker', async () => (await import('./worker.js')).registerWorker],
  ['jobs', async () => (await import('./worker.js')).registerJobs],
  ['watch', async () => (await import('./watch.js')).registerWatch],
  ['view', async () => (await import('./view.js')).registerView],
];

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * The program with the command named in `argv` registered, or every command when `argv` names
 * none of them (help, a typo that commander then answers with a suggestion); none for `--version`.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('ichdet')
    .description(
      'Intracranial haemorrhage detection on head-CT DICOM: read, window, curate, train and compare CNNs.',
    )
    .version(pkg.version, '-V, --version')
    .option('--verbose', 'print stack traces on errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });
  const named = argv.slice(2).find((a) => !a.startsWith('-'));
  const one = COMMANDS.filter(([name]) => name === named);
  // `ichdet --version` needs no command (loading them all took ~1.2 s of CPU).
  const version = named === undefined && argv.some((a) => a === '-V' || a === '--version');
  for (const [, load] of one.length > 0 || version ? one : COMMANDS) (await load())(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = await buildProgram(argv);
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
