/**
 * ichdet's jobs on BullMQ + Redis workers, with a real redis-server and real `ichdet worker`
 * processes standing in for machines. The chaos test SIGKILLs a worker (its whole process group:
 * the worker and its sandboxed job process, as a lost machine) twice while it holds a job — once a
 * prepare shard, once a training run after its first epoch's checkpoint — and checks that every
 * job completes, no output is lost or duplicated, the merged cache is identical to a single-machine
 * prepare, and the killed run resumed from its checkpoint to the same weights as a local run.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainOptionsFor } from '../src/commands/compare.js';
import { prepare } from '../src/commands/prepare.js';
import { split } from '../src/commands/split.js';
import { synth } from '../src/commands/synth.js';
import { cacheContent } from '../src/data/cache.js';
import { redisOptions } from '../src/queue/connection.js';
import { jobId, QUEUE_PREFIX } from '../src/queue/jobs.js';
import { readManifest, verifyPublished } from '../src/queue/publish.js';
import { formatJobs, listJobs } from '../src/queue/status.js';
import {
  type CompareQueueOptions,
  compareFlow,
  submitCompare,
  submitCv,
} from '../src/queue/submit.js';
import { prepareFlow, submitPrepare } from '../src/queue/submit-prepare.js';
import { runWorker } from '../src/queue/worker.js';
import { train } from '../src/train/train.js';
import { type RedisServer, redisCommand, startRedis } from './redis-server.js';

const repo = join(import.meta.dirname, '..');
const cli = join(repo, 'src/cli/run.ts');
const exec = promisify(execFile);

let redis: RedisServer;
let dir: string;
let store: string;
let images: string;
let labels: string;
let reference: string;
let splitCsv: string;
let files = 0;
const SHARDS = 24;
const prepOptions = () => ({ images, labels, size: 32, recordsPerShard: 16 });
const compareOptions = (): Omit<CompareQueueOptions, 'redis'> => ({
  cache: reference,
  split: splitCsv,
  archs: 'mobilenet_v2,efficientnet_b0',
  out: join(store, 'study'),
  size: 32,
  epochs: 3,
  batch: 8,
  lr: 1e-3,
  weights: 'none',
  workers: 1,
  backend: 'wasm',
  checkpointMinutes: 0,
  bootstrap: 20,
});

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  stderr: string[];
  /** The prepare job processes it started before it was ready (its `ready` event). */
  jobProcesses: number[];
}
const workers: WorkerProcess[] = [];

/** `ichdet worker` as its own process group (so a kill takes its job process too). */
async function startWorker(): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cli, 'worker', '--redis', redis.url, '--store', store].concat([
      '--lock-ms',
      '2000',
      '--stalled-ms',
      '1000',
    ]),
    {
      cwd: repo,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true' },
    },
  );
  const w: WorkerProcess = { child, pid: child.pid!, stderr: [], jobProcesses: [] };
  child.stderr!.on('data', (b: Buffer) => w.stderr.push(b.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const ready = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (ready !== undefined) {
        w.jobProcesses = (JSON.parse(ready) as { jobProcesses: number[] }).jobProcesses;
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${w.stderr.join('')}`)));
  });
  workers.push(w);
  return w;
}

function killGroup(w: WorkerProcess): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => w.child.once('exit', () => r()));
  process.kill(-w.pid, 'SIGKILL');
  return exited;
}

function queue(name: string): Queue {
  return new Queue(name, { connection: redisOptions(redis.url), prefix: QUEUE_PREFIX });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 200_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The worker process holding an active job that `pick` accepts. */
/**
 * Kills (with its job processes) a worker while it holds an active job that `pick` accepts, and
 * returns that job's id. The worker is frozen (SIGSTOP) first and the job checked still active:
 * a small job can finish between the listing and the kill, and would then never stall.
 */
async function killHolder(q: Queue, pick: (j: Job) => boolean): Promise<string> {
  return until('a worker killed while it holds an active job', async () => {
    for (const job of await q.getActive()) {
      const pid = Number(job.processedBy?.split(':').pop());
      const w = workers.find((x) => x.pid === pid && x.child.exitCode === null);
      if (!pick(job) || !w) continue;
      process.kill(-w.pid, 'SIGSTOP');
      if ((await q.getJob(job.id!))?.finishedOn === undefined) {
        await killGroup(w);
        return job.id!;
      }
      process.kill(-w.pid, 'SIGCONT');
    }
    return undefined;
  });
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'ichdet-queue-'));
  store = join(dir, 'store');
  const data = join(dir, 'synth');
  const s = await synth({
    out: data,
    patients: 4,
    size: 64,
    slicesPerSeries: '10:12',
    prevalence: 'balanced',
    faults: 2,
    workers: 1,
    progress: false,
  });
  files = s.images + s.faults.length;
  images = join(data, 'stage_2_train');
  labels = join(data, 'stage_2_train.csv');
  reference = join(dir, 'reference');
  await prepare({ ...prepOptions(), out: reference, workers: 1, progress: false });
  splitCsv = join(dir, 'split.csv');
  await split({ cache: reference, out: splitCsv, val: 0.25, seed: 1 });
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map(killGroup));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Redis requirements', () => {
  it('refuses a Redis that may evict keys, naming the policy and the fix', async () => {
    expect(await redisCommand(redis.port, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')).toBe(
      '+OK\r\n',
    );
    try {
      const expected = `Redis at ${redis.url} has maxmemory-policy allkeys-lru; ichdet's queues need noeviction`;
      await expect(
        runWorker({ redis: redis.url, store: join(dir, 's'), log: () => {} }),
      ).rejects.toThrow(expected);
      await expect(listJobs({ redis: redis.url })).rejects.toThrow(expected);
      await expect(
        submitPrepare({ ...prepOptions(), redis: redis.url, out: join(dir, 'x'), detach: true }),
      ).rejects.toThrow(expected);
    } finally {
      await redisCommand(redis.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
  });
});

describe('prepare and compare on three workers, two of them killed mid-job', () => {
  const merged = () => join(store, 'cache');
  let prepareIds: { parent: string; children: string[] };
  let compareIds: { parent: string; children: string[] };
  let killedShard: string;
  let killedTrain: string;
  const killedArch = 'mobilenet_v2';
  let localRun: string;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) await startWorker();
    prepareIds = await submitPrepare({
      ...prepOptions(),
      redis: redis.url,
      out: merged(),
      shards: SHARDS,
      detach: true,
      log: () => {},
    });
    compareIds = await submitCompare({
      ...compareOptions(),
      redis: redis.url,
      detach: true,
      log: () => {},
    });
    const prep = queue('prepare');
    const trainQ = queue('train');
    try {
      // Kill 1: a worker holding a prepare shard.
      killedShard = await killHolder(prep, (j) => j.name === 'prepare-shard');
      // Kill 2: the worker training mobilenet_v2, once its first epoch is checkpointed.
      const state = join(store, 'study', 'runs', killedArch, 'last', 'state.json');
      await until('the first checkpoint', async () =>
        existsSync(state) && JSON.parse(readFileSync(state, 'utf8')).epoch >= 1 ? true : undefined,
      );
      killedTrain = await killHolder(trainQ, (j) => j.data.arch === killedArch);
      // Meanwhile, the same run trained here, without any queue, for the reference.
      localRun = join(dir, 'local-run');
      const o = compareFlow(compareOptions()).parent.data;
      if (!('compare' in o)) throw new Error('not a compare flow');
      await train({
        ...trainOptionsFor(o.compare, 2, killedArch, localRun),
        progress: false,
        log: () => {},
      });
      for (const [q, id] of [
        [prep, prepareIds.parent],
        [trainQ, compareIds.parent],
      ] as const) {
        await until(
          `${id} to complete`,
          async () => {
            const s = await q.getJobState(id);
            if (s === 'failed')
              throw new Error(`${id} failed: ${(await q.getJob(id))?.failedReason}`);
            return s === 'completed' ? true : undefined;
          },
          300_000,
        );
      }
    } finally {
      await prep.close();
      await trainQ.close();
    }
  }, 600_000);

  it('recovered both killed jobs: each was found stalled and then completed', async () => {
    const prep = queue('prepare');
    const trainQ = queue('train');
    try {
      const shard = (await prep.getJob(killedShard))!;
      const run = (await trainQ.getJob(killedTrain))!;
      for (const j of [shard, run]) {
        expect(await j.getState()).toBe('completed');
        expect(j.stalledCounter).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await prep.close();
      await trainQ.close();
    }
  });

  it('published each shard once, complete and matching its manifest, with every file counted once', async () => {
    const work = join(store, 'work');
    const published = readdirSync(work).filter((f) => !f.startsWith('.'));
    expect(published.sort()).toEqual([...prepareIds.children].sort());
    let counted = 0;
    for (const id of published) {
      const m = await verifyPublished(join(work, id));
      expect(m.job).toBe(id);
      counted += m.counts.files!;
    }
    expect(counted).toBe(files);
  });

  it('merged the shards into the single-machine prepare’s rows, records and order, the shard jobs’ files taken as they are', async () => {
    expect(cacheContent(merged())).toEqual(cacheContent(reference));
    expect(readFileSync(join(merged(), 'rejects.csv'), 'utf8')).toBe(
      readFileSync(join(reference, 'rejects.csv'), 'utf8'),
    );
    const m = await verifyPublished(merged());
    expect(m).toMatchObject({ job: prepareIds.parent, counts: { cached: files - 2, rejected: 2 } });
    // The pixel data was written once, by the shard jobs: each of the cache's shard files is a
    // shard job's published file (the same inode), in K order, with that job's sha256.
    const shardFiles = m.files.filter((f) => f.path.startsWith('shards/'));
    expect(shardFiles).toHaveLength(SHARDS);
    for (const [i, f] of shardFiles.entries()) {
      const source = join(store, 'work', prepareIds.children[i]!, 'shards', 'shard-0000.bin');
      expect(statSync(join(merged(), f.path)).ino).toBe(statSync(source).ino);
      expect(f.sha256).toBe(sha(source));
    }
    // One slot per file of the list, 32 × 32 × 3 bytes each, as in the single prepare.
    expect(shardFiles.reduce((n, f) => n + f.bytes, 0)).toBe(files * 32 * 32 * 3);
  });

  it('ran every prepare job in a job process its worker had started before it was ready', async () => {
    const started = new Set(workers.flatMap((w) => w.jobProcesses));
    // Three workers of concurrency 1: one warm prepare job process each.
    expect(started.size).toBe(3);
    const prep = queue('prepare');
    try {
      for (const id of [...prepareIds.children, prepareIds.parent]) {
        const { logs } = await prep.getJobLogs(id);
        const ran = logs.flatMap((l) => /job process (\d+)/.exec(l)?.slice(1) ?? []).map(Number);
        expect(ran.length).toBeGreaterThanOrEqual(1);
        for (const pid of ran) expect(started.has(pid)).toBe(true);
      }
    } finally {
      await prep.close();
    }
  });

  it('resumed the killed training run from its checkpoint and ended where a local run ends', async () => {
    const record = JSON.parse(
      readFileSync(join(store, 'study', 'jobs', `${killedTrain}.json`), 'utf8'),
    ) as { resumedFromEpoch: number; epochs: number };
    expect(record.resumedFromEpoch).toBeGreaterThanOrEqual(1);
    expect(record.resumedFromEpoch).toBeLessThan(3);
    const run = join(store, 'study', 'runs', killedArch);
    const epochs = (d: string) =>
      readFileSync(join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { epoch, trainLoss, valLoss } = JSON.parse(l) as Record<string, number>;
          return { epoch, trainLoss, valLoss };
        });
    expect(epochs(run).map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(epochs(run)).toEqual(epochs(localRun));
    expect(sha(join(run, 'last', 'weights.bin'))).toBe(sha(join(localRun, 'last', 'weights.bin')));
    // Sealed by its training job with a manifest the report checked (eval/ is the report's).
    const m = await verifyPublished(run);
    expect(m).toMatchObject({ job: killedTrain, counts: { epochs: 3, epochsRecorded: 3 } });
    expect(m.files.map((f) => f.path)).toContain('last/weights.bin');
    expect(m.files.some((f) => f.path.startsWith('eval/'))).toBe(false);
  });

  it('wrote the compare report over both architectures once every run was done', () => {
    const study = JSON.parse(readFileSync(join(store, 'study', 'study.json'), 'utf8')) as {
      models: { arch: string; history: unknown[] }[];
    };
    expect(study.models.map((m) => [m.arch, m.history.length])).toEqual([
      ['mobilenet_v2', 3],
      ['efficientnet_b0', 3],
    ]);
    expect(existsSync(join(store, 'study', 'report.html'))).toBe(true);
  });

  it('resubmitting the same prepare names the same jobs and redoes nothing', async () => {
    const before = statSync(join(merged(), 'ichdet-manifest.json')).mtimeMs;
    // The CLI, as users resubmit: it prints the job ids (the merge first) and follows them.
    const { stdout } = await exec(
      process.execPath,
      ['--import', 'tsx', cli, 'prepare', '--queue', redis.url, '--images', images]
        .concat(['--labels', labels, '--out', merged(), '--size', '32'])
        .concat(['--records-per-shard', '16', '--shards', String(SHARDS)]),
      { cwd: repo, env: { ...process.env, CI: 'true' } },
    );
    expect(stdout).toBe(
      [prepareIds.parent, ...prepareIds.children].map((id) => `job ${id}\n`).join(''),
    );
    expect(statSync(join(merged(), 'ichdet-manifest.json')).mtimeMs).toBe(before);
    expect(readManifest(merged())?.job).toBe(prepareIds.parent);
    const prep = queue('prepare');
    try {
      const counts = await prep.getJobCounts('completed', 'waiting', 'active');
      delete counts.paused;
      expect(counts).toEqual({ completed: SHARDS + 1, waiting: 0, active: 0 });
    } finally {
      await prep.close();
    }
  });

  it('runs a cv as one job per fold, then its out-of-fold predictions over every image', async () => {
    const folds = join(dir, 'folds.csv');
    await split({ cache: reference, out: folds, folds: 2, seed: 1 });
    const out = join(store, 'cv');
    const r = await submitCv({
      redis: redis.url,
      cache: reference,
      split: folds,
      arch: 'mobilenet_v2',
      out,
      size: 32,
      epochs: 1,
      batch: 8,
      weights: 'none',
      workers: 1,
      backend: 'wasm',
      checkpointMinutes: 0,
      bootstrap: 0,
      log: () => {},
      pollMs: 100,
    });
    expect(r.children).toHaveLength(2);
    expect(r.result).toMatchObject({ oofImages: files - 2, features: join(out, 'features') });
    for (const k of [0, 1]) {
      const c = JSON.parse(readFileSync(join(out, 'runs', `fold${k}`, 'config.json'), 'utf8'));
      expect([c.valSplit, c.trainSplits]).toEqual([`fold${k}`, [`fold${1 - k}`]]);
    }
  });

  it('fails a job whose images folder is missing with the local error, once, and keeps serving', async () => {
    const missing = join(dir, 'no-such-folder');
    const local = await prepare({ images: missing, out: join(dir, 'l'), progress: false }).catch(
      (e: Error) => e.message,
    );
    expect(local).toBe(`--images must be an existing folder, received "${missing}"`);
    await expect(
      submitPrepare({
        ...prepOptions(),
        images: missing,
        redis: redis.url,
        out: join(store, 'bad'),
        shards: 2,
        log: () => {},
        pollMs: 100,
      }),
    ).rejects.toThrow(local as string);
    const status = await listJobs({ redis: redis.url });
    const failed = status.find((s) => s.queue === 'prepare')!.failed;
    const ids = prepareFlow({
      ...prepOptions(),
      images: missing,
      out: join(store, 'bad'),
      shards: 2,
    }).children.map(jobId);
    const shardFailures = failed.filter((f) => f.name === 'prepare-shard');
    expect(shardFailures.length).toBeGreaterThanOrEqual(1);
    for (const f of shardFailures) {
      expect(ids).toContain(f.id);
      expect(f.reason).toBe(local);
      expect(f.attempts).toBe(1); // not retried: retrying cannot find the folder
    }
    expect(formatJobs(status)).toContain(
      `failed prepare ${shardFailures[0]!.id} (prepare-shard, 1 attempts): ${local}`,
    );
    // The queue is not poisoned: a good prepare right after it completes.
    const good = await submitPrepare({
      ...prepOptions(),
      redis: redis.url,
      out: join(store, 'cache-2'),
      shards: 2,
      log: () => {},
      pollMs: 100,
    });
    expect(cacheContent(join(store, 'cache-2'))).toEqual(cacheContent(reference));
    expect(good.children).toHaveLength(2);
  });
});
