/**
 * Issue 16: `prepare --queue` on 1, 2 and 3 local `ichdet worker` processes against one Redis,
 * beside the local `ichdet prepare --workers 1` on the same files (each queued shard job runs a
 * one-thread prepare, so one worker does the same work as the local command). Reports slices/s
 * per worker count with the default `--shards` (2 × the workers' concurrency), the same with 24
 * fixed shards on one worker, and the queue's overhead per job with one worker: (queued − local)
 * / jobs, and as a share of the local time (target < 5%). Wall clock from submission to the
 * merged cache being published; worker start-up is not timed (workers are started before
 * submitting).
 *
 *   npx tsx bench/queue.ts [--quick]     (npm run bench builds dist/ first, which it uses)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { redisCommand, startRedis } from '../test/redis-server.js';
import type { BenchRow } from './bench.js';
import { writeDataset } from './prepare.js';

const SIZE = '256';

/** The built CLI when there is one (as users run it), else the sources through tsx. */
function cliArgs(): string[] {
  const built = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url));
  if (existsSync(built)) return [built];
  return ['--import', 'tsx', fileURLToPath(new URL('../src/cli/run.ts', import.meta.url))];
}

function timed(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, [...cliArgs(), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CI: 'true' },
  });
  return (performance.now() - t0) / 1000;
}

async function startWorkers(n: number, redis: string, store: string): Promise<ChildProcess[]> {
  const out: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(
      process.execPath,
      [...cliArgs(), 'worker', '--redis', redis, '--store', store, '--queues', 'prepare'],
      { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, CI: 'true' } },
    );
    await new Promise<void>((resolve, reject) => {
      let s = '';
      child.stdout!.on('data', (b: Buffer) => {
        s += b.toString();
        if (s.includes('"event":"ready"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    out.push(child);
  }
  return out;
}

export async function benchQueue(quick = process.argv.includes('--quick')): Promise<BenchRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'ichdet-bench-queue-'));
  const redis = await startRedis();
  try {
    const files = quick ? 300 : 3000;
    const shards = quick ? 6 : 24;
    const images = join(root, 'images');
    writeDataset(images, files, 40);
    execFileSync('sync');
    const local = timed([
      'prepare',
      '--images',
      images,
      '--out',
      join(root, 'local'),
      '--size',
      SIZE,
      '--workers',
      '1',
      '--no-progress',
    ]);
    const rows: BenchRow[] = [
      {
        name: `queue: local ichdet prepare --workers 1 (${files} slices 512² → 256²)`,
        value: files / local,
        unit: 'slices/s',
        target: '—',
      },
    ];
    let one = 0;
    let oneJobs = 0;
    // n workers with the default shards (2n); then one worker with `shards` fixed shards.
    const runs: [number, number | undefined][] = [
      [1, undefined],
      [2, undefined],
      [3, undefined],
      [1, shards],
    ];
    for (const [n, fixed] of runs) {
      await redisCommand(redis.port, 'FLUSHALL');
      const store = join(root, `store-${n}-${fixed ?? 'default'}`);
      const workers = await startWorkers(n, redis.url, store);
      try {
        const seconds = timed(
          [
            'prepare',
            '--queue',
            redis.url,
            '--images',
            images,
            '--out',
            join(store, 'cache'),
            '--size',
            SIZE,
          ].concat(fixed === undefined ? [] : ['--shards', String(fixed)]),
        );
        const jobs = (fixed ?? 2 * n) + 1;
        if (n === 1 && fixed === undefined) {
          one = seconds;
          oneJobs = jobs;
        }
        rows.push({
          name: `queue: prepare --queue, ${jobs - 1} shard jobs${fixed === undefined ? ' (default)' : ''} + merge, ${n} local worker${n > 1 ? 's' : ''}`,
          value: files / seconds,
          unit: 'slices/s',
          target: '—',
        });
      } finally {
        for (const w of workers) w.kill('SIGTERM');
        await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
      }
    }
    rows.push(
      {
        name: `queue: overhead per job with 1 worker vs the local command ((queued − local) / ${oneJobs} jobs)`,
        value: ((one - local) / oneJobs) * 1000,
        unit: 'ms/job',
        target: '—',
      },
      {
        name: 'queue: overhead with 1 worker, share of the local time',
        value: ((one - local) / local) * 100,
        unit: '%',
        target: '< 5',
      },
    );
    return rows;
  } finally {
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchQueue()) {
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (target ${r.target})`);
  }
}
