/**
 * A progress bar for long batch work (reading, caching, training epochs), on cli-progress.
 *
 * On a terminal it draws, on stderr:
 *   `cache [=========---------] 1200/5000 24% | 812.3 slices/s | ETA 5s`
 * When stderr is not a TTY or the CI environment variable is set, it draws nothing and
 * `stop()` writes one summary line instead, `cache: 5000 slices in 6.2 s (806.5 slices/s)`,
 * so logs stay readable. With `enabled: false` it writes nothing at all.
 * Always call `stop()` (in a `finally`): a live bar holds a timer that keeps Node running.
 */
import cliProgress from 'cli-progress';
import { ConfigError } from '../errors.js';

export interface ProgressOptions {
  /** How many units the work has; 0 is allowed. */
  total: number;
  /** What is being done, first on the line: `read`, `cache`, `epoch 3`. */
  label: string;
  /** Plural name of one unit: `slices`, `batches`. */
  unit: string;
  /** false: write nothing. Otherwise the bar is drawn only on a TTY outside CI. */
  enabled?: boolean;
  /** Where to write; process.stderr by default. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Clock in milliseconds; performance.now by default (tests pass a fake one). */
  now?: () => number;
}

export interface ProgressSummary {
  /** Units ticked so far. */
  count: number;
  /** Seconds from creation to now, or to `stop()` once stopped. */
  seconds: number;
  /** count / seconds, or 0 before any time has passed. */
  rate: number;
}

export interface Progress {
  /** Records n more units done (default 1). */
  tick(n?: number): void;
  /** Text shown after the ETA (`loss 0.213`), and in the summary line; '' for none. */
  setInfo(text: string): void;
  /** Ends the bar (or writes the summary line); later calls and ticks do nothing. */
  stop(): void;
  summary(): ProgressSummary;
}

/** How often the bar's numbers are refreshed, in ms; ticks in between only count. */
const REFRESH_MS = 100;

/** True when a bar should be drawn: a TTY, not CI, and not switched off. */
export function shouldDrawProgress(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
  enabled?: boolean,
): boolean {
  const ci = env.CI;
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
  return enabled !== false && stream.isTTY === true && !inCi;
}

/** `42s`, `3m05s`, `2h07m`; `--` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Creates a progress display for `total` units of work.
 *
 * @throws ConfigError when `total` is not a non-negative integer, or a tick is not ≥ 0.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const { total, label, unit } = opts;
  if (!Number.isInteger(total) || total < 0) {
    throw new ConfigError(`progress total must be a non-negative integer, received ${total}`);
  }
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? (() => performance.now());
  const start = now();
  let count = 0;
  let stoppedAt: number | undefined;
  let lastRefresh = start;
  let info = '';

  const summary = (): ProgressSummary => {
    const seconds = ((stoppedAt ?? now()) - start) / 1000;
    return { count, seconds, rate: seconds > 0 ? count / seconds : 0 };
  };
  const payload = (): { rate: string; etaText: string; info: string } => {
    const { rate } = summary();
    return {
      rate: rate.toFixed(1),
      etaText: formatDuration(rate > 0 ? (total - count) / rate : Number.NaN),
      info: info === '' ? '' : ` | ${info}`,
    };
  };

  const bar = shouldDrawProgress(stream, process.env, opts.enabled)
    ? new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} {percentage}% | {rate} ${unit}/s | ETA {etaText}{info}`,
          stream,
          hideCursor: true,
          barsize: 30,
          fps: 10,
        },
        cliProgress.Presets.legacy,
      )
    : undefined;
  bar?.start(total, 0, payload());

  return {
    tick(n = 1): void {
      if (!(n >= 0)) throw new ConfigError(`progress tick must be >= 0, received ${n}`);
      if (stoppedAt !== undefined) return;
      count += n;
      if (bar === undefined) return;
      const t = now();
      if (t - lastRefresh >= REFRESH_MS || count >= total) {
        lastRefresh = t;
        bar.update(count, payload());
      }
    },
    setInfo(text: string): void {
      info = text;
    },
    stop(): void {
      if (stoppedAt !== undefined) return;
      const final = payload();
      stoppedAt = now();
      if (bar !== undefined) {
        bar.update(count, final);
        bar.stop();
      } else if (opts.enabled !== false) {
        const s = summary();
        stream.write(
          `${label}: ${s.count} ${unit} in ${s.seconds.toFixed(1)} s ` +
            `(${s.rate.toFixed(1)} ${unit}/s)${info === '' ? '' : `, ${info}`}\n`,
        );
      }
    },
    summary,
  };
}
