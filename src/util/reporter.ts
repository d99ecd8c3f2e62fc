/**
 * How long work tells the world how it is going. Library functions take a `Reporter` and never
 * draw anything themselves: the CLI passes the terminal reporter (cli-progress bars with rate and
 * ETA on a TTY, one summary line per task elsewhere, human log lines on stderr); a service passes
 * the JSON-lines reporter (one JSON object per event, for log collectors); tests
 * and embedders pass `silentReporter` or their own.
 */
import { createProgress, type Progress, type ProgressSummary } from './progress.js';

/** One event, as the JSON-lines reporter writes it. */
export type ReportEvent =
  | { event: 'start'; task: string; total: number; unit: string; time: string }
  | {
      event: 'progress';
      task: string;
      done: number;
      total: number;
      unit: string;
      rate: number;
      info?: string;
      time: string;
    }
  | { event: 'end'; task: string; done: number; seconds: number; rate: number; time: string }
  | { event: 'log'; message: string; time: string; [field: string]: unknown };

export interface TaskOptions {
  total: number;
  /** What is being done: `cache`, `epoch 3/10`, `predict mobilenet_v2`. */
  label: string;
  /** Plural name of one unit: `images`, `slices`. */
  unit: string;
}

export interface Reporter {
  /** A counted task; always `stop()` it (in a `finally`). */
  task(o: TaskOptions): Progress;
  /** One line of news (`resuming RUN at epoch 3`), with optional structured fields. */
  log(message: string, fields?: Record<string, unknown>): void;
}

/** Bars on stderr when it is a TTY outside CI (else one summary line per task); logs on stderr. */
export function terminalReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
): Reporter {
  return {
    task: (o) => createProgress({ ...o, stream }),
    log: (message) => {
      stream.write(`${message}\n`);
    },
  };
}

/** Nothing at all. */
export const silentReporter: Reporter = {
  task: (o) => createProgress({ ...o, enabled: false }),
  log: () => {},
};

/**
 * One JSON object per line: `start`, `progress` (at most every `everyMs`, default 1000), `end`
 * and `log` events, each with an ISO time.
 */
export function jsonReporter(
  write: (line: string) => void = (l) => process.stdout.write(l),
  o: { everyMs?: number; now?: () => number } = {},
): Reporter {
  const now = o.now ?? (() => performance.now());
  const every = o.everyMs ?? 1000;
  const emit = (e: ReportEvent) => write(`${JSON.stringify(e)}\n`);
  const time = () => new Date().toISOString();
  return {
    task(t) {
      const inner = createProgress({ ...t, enabled: false, now });
      let last = now();
      let info = '';
      let stopped = false;
      emit({ event: 'start', task: t.label, total: t.total, unit: t.unit, time: time() });
      return {
        tick(n = 1) {
          inner.tick(n);
          if (stopped || now() - last < every) return;
          last = now();
          const s = inner.summary();
          emit({
            event: 'progress',
            task: t.label,
            done: s.count,
            total: t.total,
            unit: t.unit,
            rate: s.rate,
            ...(info !== '' && { info }),
            time: time(),
          });
        },
        setInfo(text) {
          info = text;
          inner.setInfo(text);
        },
        stop() {
          if (stopped) return;
          stopped = true;
          inner.stop();
          const s: ProgressSummary = inner.summary();
          emit({
            event: 'end',
            task: t.label,
            done: s.count,
            seconds: s.seconds,
            rate: s.rate,
            time: time(),
          });
        },
        summary: () => inner.summary(),
      };
    },
    log(message, fields = {}) {
      emit({ ...fields, event: 'log', message, time: time() });
    },
  };
}

/**
 * The reporter of a call's options: `reporter` when given, else the terminal one, with no bars
 * or summaries for `progress: false`; `log` overrides where log lines go.
 */
export function reporterOf(o: {
  reporter?: Reporter | undefined;
  progress?: boolean | undefined;
  log?: ((line: string) => void) | undefined;
}): Reporter {
  const terminal = terminalReporter();
  const base =
    o.reporter ??
    (o.progress === false ? { task: silentReporter.task, log: terminal.log } : terminal);
  if (o.log === undefined) return base;
  const log = o.log;
  return { task: (t) => base.task(t), log: (m) => log(m) };
}
