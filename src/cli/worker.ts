import type { Command } from 'commander';
import { formatJobs, listJobs } from '../queue/status.js';
import { runWorker } from '../queue/worker.js';
import { action, cliSignal, positiveInt } from './shared.js';

interface WorkerCliOptions {
  redis: string;
  store: string;
  queues?: string;
  concurrency?: number;
  lockMs?: number;
  stalledMs?: number;
  maxStalled?: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      "take jobs submitted with --queue (prepare, compare) from Redis and run them with the commands' own code",
    )
    .requiredOption(
      '--redis <url>',
      'the Redis server, redis://host:port (maxmemory-policy noeviction)',
    )
    .requiredOption('--store <dir>', 'the shared folder every worker sees (job outputs)')
    .option('--queues <list>', 'queues to serve: prepare, train, predict (default all)')
    .option('--concurrency <n>', 'jobs at once per queue (default 1)', positiveInt('--concurrency'))
    .option(
      '--lock-ms <ms>',
      "how long a lost worker's job waits before another worker runs it (default 30000)",
      positiveInt('--lock-ms'),
    )
    .option(
      '--stalled-ms <ms>',
      'how often lost jobs are looked for (default --lock-ms)',
      positiveInt('--stalled-ms'),
    )
    .option(
      '--max-stalled <n>',
      'times a job may be recovered from a lost worker before it fails (default 5)',
      positiveInt('--max-stalled'),
    )
    .addHelpText(
      'after',
      '\nStructured events (one JSON object a line) go to stdout, human lines to stderr.\n' +
        'SIGTERM: running jobs finish, no new ones are taken.\n\nExample:\n' +
        '  ichdet worker --redis redis://10.0.0.5:6379 --store /shared/ichdet --queues prepare,train',
    )
    .action(
      action(program, async (o: WorkerCliOptions) => {
        await runWorker({
          redis: o.redis,
          store: o.store,
          ...(o.queues !== undefined && { queues: o.queues }),
          ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
          ...(o.lockMs !== undefined && { lockMs: o.lockMs }),
          ...(o.stalledMs !== undefined && { stalledMs: o.stalledMs }),
          ...(o.maxStalled !== undefined && { maxStalled: o.maxStalled }),
          signal: cliSignal(),
          event: (e) =>
            process.stdout.write(`${JSON.stringify({ ...e, time: new Date().toISOString() })}\n`),
        });
        return 0;
      }),
    );
}

export function registerJobs(program: Command): void {
  program
    .command('jobs')
    .description("list the ichdet queues' job counts by state and their failed jobs")
    .requiredOption('--redis <url>', 'the Redis server, redis://host:port')
    .option('--json', 'print JSON instead of a table')
    .action(
      action(program, async (o: { redis: string; json?: boolean }) => {
        const s = await listJobs({ redis: o.redis });
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : formatJobs(s));
        return 0;
      }),
    );
}
