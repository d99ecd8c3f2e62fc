/**
 * The sandboxed processor: BullMQ runs this file in a child process of `ichdet worker`, so a long
 * CPU-bound job (a prepare shard, an epoch of training) never blocks the worker's event loop and
 * its lock is renewed on time. It runs the job's function from runners.ts; a bad option or a
 * missing input (ConfigError, InputError) fails the job at once with the command's own message
 * (an UnrecoverableError: retrying cannot help), anything else is retried. The child exits when
 * its worker dies, so a killed worker leaves no orphan writing to the store. Each kind of job's
 * modules are loaded on its first job (a prepare queue's job processes, started with the worker,
 * load prepare's at once): a child that runs prepare jobs never loads the models'.
 */
import { type SandboxedJob, UnrecoverableError } from 'bullmq';
import { ConfigError, InputError } from '../errors.js';
import { createProgress, type Progress } from '../util/progress.js';
import type { Reporter } from '../util/reporter.js';
import { type JobName, STORE_ENV, WARM_ENV } from './jobs.js';
import type { JobContext } from './prepare-jobs.js';

process.on('disconnect', () => process.exit(1));

// A job process of a prepare queue, started by its worker before any job: BullMQ counts it
// ready once this module has loaded, so it loads prepare's modules and its decoding thread now.
if (process.env[WARM_ENV] === 'prepare') await (await import('./prepare-jobs.js')).warmPrepare();

/** Progress and log lines of the job, into BullMQ (`ichdet jobs`, the submitter's follow). */
function jobReporter(job: SandboxedJob): Reporter {
  const quiet = (p: unknown) => {
    if (p instanceof Promise) p.catch(() => {});
  };
  return {
    log(message) {
      quiet(job.log(message));
    },
    task(o): Progress {
      const inner = createProgress({ ...o, enabled: false });
      let last = 0;
      const send = () => {
        last = performance.now();
        const done = inner.summary().count;
        quiet(job.updateProgress({ task: o.label, done, total: o.total, unit: o.unit }));
      };
      send();
      return {
        tick(n = 1) {
          inner.tick(n);
          if (performance.now() - last > 500) send();
        },
        setInfo: (text) => inner.setInfo(text),
        stop() {
          send();
          inner.stop();
        },
        summary: () => inner.summary(),
      };
    },
  };
}

export default async function process_(job: SandboxedJob): Promise<unknown> {
  const store = process.env[STORE_ENV];
  if (store === undefined) throw new UnrecoverableError(`${STORE_ENV} is not set`);
  const c: JobContext = { store, id: job.id ?? '', reporter: jobReporter(job) };
  await job.log(
    `started on pid ${process.ppid}, job process ${process.pid} (attempt ${job.attemptsMade + 1})`,
  );
  try {
    const name = job.name as JobName;
    switch (name) {
      case 'prepare-shard':
        return await (await import('./prepare-jobs.js')).runPrepareShard(job.data, c);
      case 'prepare-merge':
        return await (await import('./prepare-jobs.js')).runPrepareMerge(job.data, c);
      case 'train-arch':
        return await (await import('./runners.js')).runTrainArch(job.data, c);
      case 'compare-report':
        return await (await import('./runners.js')).runCompareReport(job.data, c);
      case 'cv-fold':
        return await (await import('./runners.js')).runCvFold(job.data, c);
      case 'cv-report':
        return await (await import('./runners.js')).runCvReport(job.data, c);
      case 'predict-study':
        return await (await import('./predict.js')).runPredictStudy(job.data, c);
      case 'predict-merge':
        return await (await import('./predict.js')).runPredictMerge(job.data, c);
      default:
        throw new UnrecoverableError(`unknown job name "${job.name}"`);
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InputError) {
      throw new UnrecoverableError(err.message);
    }
    throw err;
  }
}
