/**
 * Runs `index` with the JSON options in argv[2], as its own process, so test/index.test.ts can
 * SIGKILL it part-way through. Each committed batch is followed by a 40 ms pause (in the
 * progress callback, on the committing thread), so that the kill lands between commits of a
 * run that would otherwise finish in milliseconds.
 */
import { indexImages } from '../src/commands/index-meta.js';
import { type Reporter, silentReporter } from '../src/util/reporter.js';

const pause = new Int32Array(new SharedArrayBuffer(4));
const slow: Reporter = {
  task: (o) => {
    const quiet = silentReporter.task(o);
    return {
      ...quiet,
      tick: (n) => {
        quiet.tick(n);
        Atomics.wait(pause, 0, 0, 40);
      },
    };
  },
  log: () => {},
};
const opts = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof indexImages>[0];
await indexImages({ ...opts, reporter: slow });
