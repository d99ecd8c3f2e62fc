/** Helpers every command shares: option parsers and the error-to-exit-code wrapper. */
import { type Command, InvalidArgumentError } from 'commander';
import { IchdetError } from '../errors.js';

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

/** Runs an action; turns ichdet errors into one line on stderr and exit code 1. */
export function action<A extends unknown[]>(
  program: Command,
  fn: (...args: A) => Promise<number | undefined>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (code) process.exitCode = code;
    } catch (err) {
      const verbose = Boolean(program.opts().verbose);
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
    }
  };
}
