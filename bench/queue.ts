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
 * Also prints, for the one-worker run with the default shards, each job's start and end (from
 * Redis, in ms after submission) and the CPU time of the local command and of the queued path
 * (the submitting CLI, the workers and their job processes, start-up included), so a run on a
 * busy machine still says where the time went.
 *
 *   npx tsx bench/queue.ts [--quick] [--one] [--pairs N]
 *
 * --one: only the local command and one worker. --pairs N: on a shared machine, N pairs of the
 * local command and the queued prepare on one warm worker, run alternately, reported as the
 * fastest of each and the median of the pairs' differences (load that comes and goes then
 * weighs on both sides alike); `--files F` (default 3000) sets the slices, so `--files 8` shows
 * the fixed costs alone. `npm run bench` builds dist/ first, which it uses.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { QUEUE_PREFIX } from '../src/queue/jobs.js';
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

/** CPU seconds (user + system) of this process's reaped children, from /proc/self/stat. */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 (cutime, cstime) of proc(5); f starts at field 3.
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Each job of the prepare queue: start and end in ms after `t0` (epoch ms), by start. */
async function jobPhases(redis: string, t0: number): Promise<string[]> {
  const q = new Queue('prepare', { connection: { url: redis }, prefix: QUEUE_PREFIX });
  try {
    const jobs = await q.getJobs(['completed']);
    jobs.sort((a, b) => (a.processedOn ?? 0) - (b.processedOn ?? 0));
    const out: string[] = [];
    for (const j of jobs) {
      out.push(
        `  ${j.name} ${String(j.data.shard ?? '')}: ${(j.processedOn ?? 0) - t0}–${(j.finishedOn ?? 0) - t0} ms`,
      );
      for (const l of (await q.getJobLogs(j.id!)).logs) out.push(`    ${l}`);
    }
    return out;
  } finally {
    await q.close();
  }
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

/** `--pairs N`: N alternating (local, queued on one warm worker) pairs; see the header. */
async function pairs(n: number, files = 3000): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'ichdet-bench-queue-'));
  const redis = await startRedis();
  try {
    const images = join(root, 'images');
    writeDataset(images, files, 40);
    execFileSync('sync');
    const store = join(root, 'store');
    const [worker] = await startWorkers(1, redis.url, store);
    const common = ['--images', images, '--size', SIZE];
    const local: number[] = [];
    const queued: number[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const out = join(root, `local-${i}`);
        local.push(timed(['prepare', ...common, '--out', out, '--workers', '1', '--no-progress']));
        rmSync(out, { recursive: true, force: true });
        const cache = join(store, `cache-${i}`);
        queued.push(timed(['prepare', '--queue', redis.url, ...common, '--out', cache]));
        rmSync(cache, { recursive: true, force: true });
        rmSync(join(store, 'work'), { recursive: true, force: true });
        console.error(
          `pair ${i + 1}: local ${local[i]!.toFixed(3)} s, queued ${queued[i]!.toFixed(3)} s`,
        );
      }
    } finally {
      worker!.kill('SIGTERM');
      await new Promise((r) => worker!.once('exit', r));
    }
    const d = local.map((l, i) => queued[i]! - l).sort((a, b) => a - b);
    const median = d[Math.floor(d.length / 2)]!;
    const best = Math.min(...local);
    console.log(
      `queue pairs (${n}): fastest local ${best.toFixed(3)} s, fastest queued ${Math.min(...queued).toFixed(3)} s (${(((Math.min(...queued) - best) / best) * 100).toFixed(1)}%); median difference ${(median * 1000).toFixed(0)} ms (${((median / best) * 100).toFixed(1)}% of the fastest local)`,
    );
  } finally {
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
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
    const cpu0 = childrenCpu();
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
    const localCpu = childrenCpu() - cpu0;
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
    const runs: [number, number | undefined][] = process.argv.includes('--one')
      ? [[1, undefined]]
      : [
          [1, undefined],
          [2, undefined],
          [3, undefined],
          [1, shards],
        ];
    const notes: string[] = [];
    // The CPU of starting and stopping an idle worker, to take out of the queued run's.
    const idle0 = childrenCpu();
    for (const w of await startWorkers(1, redis.url, join(root, 'store-idle'))) {
      w.kill('SIGTERM');
      await new Promise((r) => w.once('exit', r));
    }
    const idleCpu = childrenCpu() - idle0;
    for (const [n, fixed] of runs) {
      await redisCommand(redis.port, 'FLUSHALL');
      const store = join(root, `store-${n}-${fixed ?? 'default'}`);
      const runCpu0 = childrenCpu();
      const workers = await startWorkers(n, redis.url, store);
      const t0 = Date.now();
      const oneDefault = n === 1 && fixed === undefined;
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
        if (oneDefault) {
          one = seconds;
          oneJobs = jobs;
          notes.push(
            `queue: 1 worker, jobs (ms after submission; done at ${Math.round(seconds * 1000)}):`,
            ...(await jobPhases(redis.url, t0)),
          );
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
        if (oneDefault) {
          notes.push(
            `queue: CPU s, local command ${localCpu.toFixed(2)}; queued with 1 worker (submitter, worker and its job process, worker start-up included) ${(childrenCpu() - runCpu0).toFixed(2)}; an idle worker's start-up and stop ${idleCpu.toFixed(2)}`,
          );
        }
      }
    }
    for (const line of notes) console.error(line);
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

const pairsAt = process.argv.indexOf('--pairs');
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && pairsAt > 0) {
  const filesAt = process.argv.indexOf('--files');
  await pairs(
    Number(process.argv[pairsAt + 1] ?? 5),
    filesAt > 0 ? Number(process.argv[filesAt + 1]) : 3000,
  );
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchQueue()) {
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (target ${r.target})`);
  }
}
