/** Helpers every command shares: option parsers and the error-to-exit-code wrapper. */
import { type Command, InvalidArgumentError } from 'commander';
import { IchdetError, Interrupted } from '../errors.js';
import type { Submitted } from '../queue/flow.js';

/** Parses a positive integer option, naming the option in the error. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, received "${value}"`);
    }
    return n;
  };
}

/** Parses a finite number option, naming the option in the error. */
export function number(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`${name} must be a number, received "${value}"`);
    }
    return n;
  };
}

/** Parses an integer option ≥ 0, naming the option in the error. */
export function nonNegInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ 0, received "${value}"`);
    }
    return n;
  };
}

let controller = new AbortController();
let received: NodeJS.Signals | undefined;

/**
 * The signal the running command stops on: aborted by the first SIGTERM or SIGINT (Ctrl-C), so
 * training writes its checkpoint, prepare commits what it has, predict and evaluate stop between
 * batches; a second signal ends the process at once.
 */
export function cliSignal(): AbortSignal {
  return controller.signal;
}

function onSignal(sig: NodeJS.Signals): void {
  if (received !== undefined) {
    process.stderr.write(`ichdet: second ${sig}, exiting now\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  }
  received = sig;
  process.stderr.write(
    `ichdet: ${sig} received, stopping cleanly (send it again to exit at once)\n`,
  );
  controller.abort(sig);
}

/**
 * Runs an action with SIGTERM/SIGINT handlers installed; turns ichdet errors into one line on
 * stderr and exit code 1 (130 after SIGINT, 143 after SIGTERM when the command stopped for it).
 */
export function action<A extends unknown[]>(
  program: Command,
  fn: (...args: A) => Promise<number | undefined>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    controller = new AbortController();
    received = undefined;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      const code = await fn(...args);
      if (code) process.exitCode = code;
    } catch (err) {
      const verbose = Boolean(program.opts().verbose);
      if (err instanceof Interrupted) {
        process.stderr.write(`ichdet: ${err.message}\n`);
        process.exitCode = received === 'SIGINT' ? 130 : 143;
        return;
      }
      if (err instanceof IchdetError) {
        process.stderr.write(`ichdet: ${err.message}\n`);
        if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      } else {
        const e = err instanceof Error ? err : new Error(String(err));
        process.stderr.write(
          `ichdet: internal error: ${e.message}${verbose ? '' : ' (run with --verbose for the stack trace)'}\n`,
        );
        if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
      }
      process.exitCode = 1;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  };
}

/** What `--queue` prints on stdout: the flow's parent job id, then each child's, one a line. */
export function submittedText(q: Submitted): string {
  return `${[`job ${q.parent}`, ...q.children.map((c) => `job ${c}`)].join('\n')}\n`;
}
