/**
 * `predict --queue` on a real redis-server with two real `ichdet worker` processes: one job per
 * study, merged into the very files a local `predict` writes (byte for byte), and a resubmission
 * that names the same jobs and duplicates nothing. Also: a finished training run's manifest
 * (seal) and the check a report job makes before using a run, and the default number of prepare
 * shards (twice the live workers' concurrency, fixed at the first submission).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../src/commands/predict.js';
import { split } from '../src/commands/split.js';
import { encodeSlice } from '../src/dicom/write.js';
import { redisOptions } from '../src/queue/connection.js';
import { jobId, QUEUE_PREFIX } from '../src/queue/jobs.js';
import { predictFlow } from '../src/queue/predict.js';
import { checkOutputOf, readManifest, seal, verifyPublished } from '../src/queue/publish.js';
import { submitPredict } from '../src/queue/submit.js';
import { defaultShards } from '../src/queue/submit-prepare.js';
import { tinyCache, tinyRun } from './fixtures.js';
import { type RedisServer, startRedis } from './redis-server.js';

const repo = join(import.meta.dirname, '..');
const cli = join(repo, 'src/cli/run.ts');

let redis: RedisServer;
let dir: string;
let store: string;
let images: string;
let run: string;
const workers: ChildProcess[] = [];

/** `ichdet worker` serving predict and prepare; resolves once it reports ready. */
function startWorker(): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cli, 'worker', '--redis', redis.url, '--store', store].concat([
      '--queues',
      'predict,prepare',
    ]),
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } },
  );
  workers.push(child);
  const err: string[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b.toString()));
  return new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('"event":"ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${err.join('')}`)));
  });
}

function queue(name: string): Queue {
  return new Queue(name, { connection: redisOptions(redis.url), prefix: QUEUE_PREFIX });
}

/**
 * Two more studies whose files interleave with each other's series: study X's series X1, then
 * study Y's Y1, then X's X2 (by file name). Predict's series order is X1, Y1, X2; the study jobs
 * hold X1 + X2 and Y1, so the merge must interleave them back.
 */
function writeInterleaved(folder: string): void {
  const parts: [string, string, string, number][] = [
    ['zz-a', '1.2.826.7.1', '1.2.826.7', 3],
    ['zz-b', '1.2.826.8.1', '1.2.826.8', 2],
    ['zz-c', '1.2.826.7.2', '1.2.826.7', 3],
  ];
  for (const [name, series, study, n] of parts) {
    for (let k = 0; k < n; k++) {
      const bytes = encodeSlice({
        rows: 16,
        cols: 16,
        stored: Int16Array.from({ length: 256 }, (_, i) => ((i * 37 + k * 11) % 200) + 1000),
        bitsAllocated: 16,
        bitsStored: 16,
        pixelRepresentation: 1,
        rescaleIntercept: -1024,
        rescaleSlope: 1,
        patientId: `ID_${study}`,
        studyInstanceUid: study,
        seriesInstanceUid: series,
        sopInstanceUid: `${series}.${k}`,
        imagePositionPatient: [0, 0, 5 * k],
        imageOrientationPatient: [1, 0, 0, 0, 1, 0],
        instanceNumber: k + 1,
        modality: 'CT',
      });
      writeFileSync(join(folder, `${name}-${k}.dcm`), bytes);
    }
  }
}

const predictOptions = () => ({
  model: run,
  inputs: [images],
  workers: 1,
  backend: 'wasm',
  threshold: 0.5,
});

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'ichdet-queue-predict-'));
  store = join(dir, 'store');
  const started = Promise.all([startWorker(), startWorker()]);
  // Four patients' studies, flat in one folder: their files interleave, as in an RSNA folder;
  // three broken files (truncated, not DICOM, empty) for the rejects.
  const { data, cache } = await tinyCache(dir, {
    synth: { patients: 4, slicesPerSeries: '8:8', difficulty: 'easy', seed: 5, faults: 3 },
    size: 32,
  });
  images = join(data, 'stage_2_train');
  writeInterleaved(images);
  await split({ cache, out: join(dir, 'split.csv'), val: 0.25, seed: 1 });
  run = join(dir, 'run');
  await tinyRun({ cache, split: join(dir, 'split.csv'), out: run });
  await started;
}, 120_000);

afterAll(async () => {
  for (const w of workers) {
    if (w.exitCode === null && w.signalCode === null) {
      const exited = new Promise((r) => w.once('exit', r));
      w.kill('SIGKILL');
      await exited;
    }
  }
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('predict --queue on two workers', () => {
  const local = () => join(dir, 'local');
  const queued = () => join(store, 'pred');
  let first: Awaited<ReturnType<typeof submitPredict>>;

  beforeAll(async () => {
    const [q] = await Promise.all([
      submitPredict({
        ...predictOptions(),
        redis: redis.url,
        out: queued(),
        log: () => {},
      }),
      predict({ ...predictOptions(), out: local(), progress: false }),
    ]);
    first = q;
  }, 120_000);

  it('runs one job per study and merges them into the files a local predict writes', () => {
    const r = JSON.parse(readFileSync(join(local(), 'predict.json'), 'utf8'));
    expect([r.studies, r.series, r.slices, r.rejects, r.files]).toEqual([6, 7, 40, 3, 43]);
    expect(first.children).toHaveLength(6);
    for (const f of ['slices.csv', 'summary.csv', 'rejects.csv']) {
      expect(readFileSync(join(queued(), f), 'utf8'), f).toBe(
        readFileSync(join(local(), f), 'utf8'),
      );
    }
    const q = JSON.parse(readFileSync(join(queued(), 'predict.json'), 'utf8'));
    // Everything but the time; `seconds` is the studies' summed time.
    expect(Object.keys(q)).toEqual(Object.keys(r));
    expect({ ...q, seconds: 0 }).toEqual({ ...r, seconds: 0 });
  });

  it('puts interleaved series back in predict order (X1, Y1, X2), not in study-job order', async () => {
    const rows = readFileSync(join(queued(), 'summary.csv'), 'utf8').trim().split('\n');
    const series = rows.filter((l) => l.startsWith('series,')).map((l) => l.split(',')[2]);
    expect(series.slice(-3)).toEqual(['1.2.826.7.1', '1.2.826.8.1', '1.2.826.7.2']);
    const studies = rows.filter((l) => l.startsWith('study,')).map((l) => l.split(',')[1]);
    expect(studies.slice(-2)).toEqual(['1.2.826.7', '1.2.826.8']);
    const flow = await predictFlow({ ...predictOptions(), out: queued() });
    const x = flow.children.at(-2)!;
    if (x.name !== 'predict-study') throw new Error('not a study job');
    expect([x.data.study, x.data.seriesOf]).toEqual(['1.2.826.7', [0, 0, 0, 1, 1, 1]]);
  });

  it('publishes each study and the merged output once, each matching its manifest', async () => {
    const flow = await predictFlow({ ...predictOptions(), out: queued() });
    expect(flow.children.map(jobId)).toEqual(first.children);
    const keys = flow.children.map((c) => (c.name === 'predict-study' ? c.data.key : ''));
    const work = readdirSync(join(store, 'work')).filter((f) => !f.startsWith('.'));
    expect(work.sort()).toEqual([...keys].sort());
    let slices = 0;
    for (const key of work) {
      const m = await verifyPublished(join(store, 'work', key));
      expect(m.job).toBe(key);
      slices += m.counts.slices!;
    }
    expect(slices).toBe(40);
    const m = await verifyPublished(queued());
    expect(m).toMatchObject({
      job: first.parent,
      counts: { studies: 6, series: 7, slices: 40, rejects: 3 },
    });
  });

  it('resubmitting names the same jobs, redoes nothing and keeps one copy of each output', async () => {
    const before = statSync(join(queued(), 'ichdet-manifest.json')).mtimeMs;
    const again = await submitPredict({
      ...predictOptions(),
      redis: redis.url,
      out: queued(),
      log: () => {},
    });
    expect(again.parent).toBe(first.parent);
    expect(again.children).toEqual(first.children);
    expect(statSync(join(queued(), 'ichdet-manifest.json')).mtimeMs).toBe(before);
    const q = queue('predict');
    try {
      const counts = await q.getJobCounts('completed', 'waiting', 'active', 'failed');
      delete counts.paused;
      expect(counts).toEqual({ completed: 7, waiting: 0, active: 0, failed: 0 });
    } finally {
      await q.close();
    }
    expect(readdirSync(join(store, 'work')).filter((f) => !f.startsWith('.'))).toHaveLength(6);
    expect(readdirSync(store).sort()).toEqual(['pred', 'work']);
  });

  it('another predict over the same studies (RSNA format, another --out) reuses their outputs', async () => {
    const work = join(store, 'work');
    const stamps = () =>
      readdirSync(work)
        .filter((f) => !f.startsWith('.'))
        .sort()
        .map((f) => [f, statSync(join(work, f, 'ichdet-manifest.json')).mtimeMs]);
    const before = stamps();
    const rsna = await submitPredict({
      ...predictOptions(),
      redis: redis.url,
      out: join(store, 'rsna'),
      format: 'rsna',
      log: () => {},
    });
    // Its own jobs (a BullMQ job has one parent), but no study predicted again.
    expect(rsna.children.filter((id) => first.children.includes(id))).toEqual([]);
    expect(stamps()).toEqual(before);
    const rows = readFileSync(join(store, 'rsna', 'submission.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows).toHaveLength(1 + 40 * 6);
    // A study's output key depends on the study alone, whatever else is predicted with it.
    const flow = await predictFlow({ ...predictOptions(), out: queued() });
    const one = flow.children[0]!;
    if (one.name !== 'predict-study') throw new Error('not a study job');
    const alone = await predictFlow({ ...predictOptions(), inputs: one.data.files, out: 'x' });
    const only = alone.children[0]!;
    if (only.name !== 'predict-study') throw new Error('not a study job');
    expect(alone.children).toHaveLength(1);
    expect(only.data.key).toBe(one.data.key);
  });

  it('refuses Grad-CAM with --queue, and a missing model with predict’s own error', async () => {
    await expect(predictFlow({ ...predictOptions(), out: 'x', cam: 'c' })).rejects.toThrow(
      '--queue does not take --cam',
    );
    const missing = join(dir, 'no-model');
    const localError = await predict({ ...predictOptions(), model: missing, out: 'x' }).catch(
      (e: Error) => e.message,
    );
    await expect(predictFlow({ ...predictOptions(), model: missing, out: 'x' })).rejects.toThrow(
      localError as string,
    );
  });
});

describe('manifests of training runs', () => {
  it('seals a finished run (eval/ left out) and the report check refuses a changed or foreign run', async () => {
    const r = join(dir, 'sealed');
    mkdirSync(join(r, 'best'), { recursive: true });
    mkdirSync(join(r, 'eval'));
    writeFileSync(join(r, 'config.json'), '{"epochs":2}\n');
    writeFileSync(join(r, 'best', 'weights.bin'), Buffer.from([1, 2, 3, 4]));
    writeFileSync(join(r, 'eval', 'metrics.json'), '{}\n');
    const m = await seal(r, 'train-arch-1', { epochs: 2 }, ['eval']);
    expect(m.files.map((f) => [f.path, f.bytes])).toEqual([
      ['best/weights.bin', 4],
      ['config.json', 13],
    ]);
    // sha256 of the bytes 01 02 03 04.
    expect(m.files[0]!.sha256).toBe(
      '9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a',
    );
    expect(readManifest(r)?.counts).toEqual({ epochs: 2 });
    // The report rewrites eval/: the run still checks.
    writeFileSync(join(r, 'eval', 'metrics.json'), '{"auc":0.5}\n');
    expect((await checkOutputOf(r, 'train-arch-1')).job).toBe('train-arch-1');
    await expect(checkOutputOf(r, 'train-arch-2')).rejects.toThrow(
      `${r} was published by job train-arch-1, not by train-arch-2`,
    );
    writeFileSync(join(r, 'best', 'weights.bin'), Buffer.from([1, 2, 3, 5]));
    await expect(checkOutputOf(r, 'train-arch-1')).rejects.toThrow(
      `${join(r, 'best', 'weights.bin')} does not match its manifest (sha256 differs)`,
    );
    appendFileSync(join(r, 'config.json'), ' ');
    // Sealing again after a change: the job's manifest describes the run as it is now.
    const again = await seal(r, 'train-arch-1', { epochs: 2 }, ['eval']);
    expect(again.files.map((f) => f.bytes)).toEqual([4, 14]);
    expect((await checkOutputOf(r, 'train-arch-1')).files).toEqual(again.files);
  });
});

describe('default prepare shards', () => {
  it('are twice the live workers’ concurrency at the first submission, and kept after', async () => {
    const plan = (images: string) => ({
      images,
      size: 32,
      rsnaFix: true,
      recordsPerShard: 16,
      partition: 'block' as const,
      workers: 1,
      out: join(store, 'c'),
    });
    const prep = queue('prepare');
    const trainQ = queue('train');
    try {
      // Nobody serves train: 8; the count is then kept for that prepare, whichever queue asks.
      expect(await defaultShards(trainQ, plan('/a'))).toBe(8);
      expect(await defaultShards(prep, plan('/a'))).toBe(8);
      // Two workers of concurrency 1 serve prepare.
      expect(await defaultShards(prep, plan('/b'))).toBe(4);
    } finally {
      await prep.close();
      await trainQ.close();
    }
  });
});
