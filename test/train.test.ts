/**
 * The training engine end to end on a tiny synthetic cache: a small model learns (its loss goes
 * down), checkpoints are written in the tfjs layers format, and a run stopped part-way — by
 * `maxSteps` or by SIGKILL — resumes to exactly the weights of a run that never stopped.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { split } from '../src/commands/split.js';
import { Interrupted } from '../src/errors.js';
import { readModelMetadata } from '../src/run/checkpoint.js';
import { type EpochRecord, type TrainOptions, train } from '../src/train/train.js';
import { type Reporter, silentReporter } from '../src/util/reporter.js';
import { tinyCache } from './fixtures.js';

const root = join(import.meta.dirname, '..');
let dir: string;
let cache: string;
let splitCsv: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-train-'));
  ({ cache } = await tinyCache(dir, { synth: { patients: 8, slicesPerSeries: '10:12' } }));
  splitCsv = join(dir, 'split.csv');
  await split({ cache, out: splitCsv, val: 0.25, seed: 1 });
}, 120_000);

const quiet = { progress: false, log: () => {} };

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    cache,
    split: splitCsv,
    arch: 'mobilenet_v2',
    out: join(dir, out),
    size: 32,
    epochs: 3,
    batch: 8,
    lr: 1e-3,
    weights: 'none',
    workers: 2,
    seed: 5,
    backend: 'wasm',
    checkpointMinutes: 0,
    ...quiet,
    ...extra,
  };
}

function records(run: string): EpochRecord[] {
  return readFileSync(join(dir, run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochRecord);
}

/** The fields of an epoch record that do not depend on timing. */
function untimed(r: EpochRecord) {
  const { imagesPerSecond: _a, seconds: _b, ...rest } = r;
  return rest;
}

/** Resumes the run in `out` to its end and checks its weights equal the uninterrupted run's. */
async function expectResumesToReference(out: string): Promise<void> {
  const resumed = await train({ out, resume: true, ...quiet });
  expect(resumed.complete).toBe(true);
  const a = readFileSync(join(dir, 'ref', 'last', 'weights.bin'));
  const b = readFileSync(join(out, 'last', 'weights.bin'));
  expect(b.equals(a)).toBe(true);
}

describe('train', () => {
  let reference: Awaited<ReturnType<typeof train>>;

  beforeAll(async () => {
    reference = await train(options('ref'));
  }, 180_000);

  it('lowers the training loss of a small model over three epochs and logs every epoch', () => {
    const h = records('ref');
    expect(h.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(h[2]!.trainLoss).toBeLessThan(h[0]!.trainLoss);
    for (const r of h) {
      expect(Number.isFinite(r.valWeightedLogLoss)).toBe(true);
      expect(Object.keys(r.valAuc)).toEqual([
        'epidural',
        'intraparenchymal',
        'intraventricular',
        'subarachnoid',
        'subdural',
        'any',
      ]);
    }
    expect(reference.complete).toBe(true);
    expect(reference.backend).toMatch(/^wasm/);
  });

  it('keeps best/ at the epoch with the lowest validation weighted log loss, last/ at the end', () => {
    const h = records('ref');
    const bestEpoch = h.reduce((b, r) =>
      r.valWeightedLogLoss < b.valWeightedLogLoss ? r : b,
    ).epoch;
    expect(reference.best?.epoch).toBe(bestEpoch);
    expect(h.filter((r) => r.best).at(-1)?.epoch).toBe(bestEpoch);
    const best = readModelMetadata(join(dir, 'ref', 'best'));
    expect(best).toMatchObject({ arch: 'mobilenet_v2', size: 32, channels: 3, epoch: bestEpoch });
    const last = readModelMetadata(join(dir, 'ref', 'last'));
    expect(last).toMatchObject({ epoch: 3, step: 0 });
    const json = JSON.parse(readFileSync(join(dir, 'ref', 'last', 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    const config = JSON.parse(readFileSync(join(dir, 'ref', 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      arch: 'mobilenet_v2',
      batch: 8,
      epochs: 3,
      seed: 5,
      maxSteps: null,
    });
  });

  it('trains a 2.5D model (context 1: 9 input channels) with the weighted loss and saves it so', async () => {
    const r = await train(
      options('context', {
        context: 1,
        loss: 'weighted-bce',
        epochs: 1,
        maxSteps: 3,
        dropout: 0.2,
      }),
    );
    expect(r.steps).toBe(3);
    const meta = readModelMetadata(join(dir, 'context', 'last'));
    expect(meta).toMatchObject({ channels: 9, context: 1, cacheChannels: 3 });
    const json = JSON.parse(readFileSync(join(dir, 'context', 'last', 'model.json'), 'utf8'));
    expect(JSON.stringify(json.modelTopology)).toContain('"batch_input_shape":[null,32,32,9]');
  }, 120_000);

  it('refuses to overwrite a run folder without --resume', async () => {
    await expect(train(options('ref'))).rejects.toThrow(
      /already holds a training run; continue it with --resume/,
    );
  });

  it('resumes a run stopped mid-epoch to exactly the weights of the run that never stopped', async () => {
    const first = await train(options('stopped', { maxSteps: reference.steps / 3 + 2 }));
    expect(first.complete).toBe(false);
    expect(first.steps).toBe(reference.steps / 3 + 2);
    const resumed = await train({ out: join(dir, 'stopped'), resume: true, ...quiet });
    expect(resumed.complete).toBe(true);
    expect(resumed.steps).toBe(reference.steps);
    const a = readFileSync(join(dir, 'ref', 'last', 'weights.bin'));
    const b = readFileSync(join(dir, 'stopped', 'last', 'weights.bin'));
    expect(b.equals(a)).toBe(true);
    expect(records('stopped').map(untimed)).toEqual(records('ref').map(untimed));
  }, 180_000);

  it('resumes after SIGKILL of the CLI mid-run to the same weights', async () => {
    const out = join(dir, 'killed');
    const args = [
      '--import',
      'tsx',
      join(root, 'src/cli/run.ts'),
      'train',
      '--cache',
      cache,
      '--split',
      splitCsv,
      '--arch',
      'mobilenet_v2',
      '--out',
      out,
      '--size',
      '32',
      '--epochs',
      '3',
      '--batch',
      '8',
      '--lr',
      '0.001',
      '--weights',
      'none',
      '--workers',
      '2',
      '--seed',
      '5',
      '--backend',
      'wasm',
      '--checkpoint-minutes',
      '0.00001',
    ];
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, CI: 'true' } });
    // Kill once a mid-epoch checkpoint of the second epoch exists.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          const state = JSON.parse(readFileSync(join(out, 'last', 'state.json'), 'utf8'));
          if (state.epoch >= 1 && state.step >= 1) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        } catch {
          // not written yet
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the training process ended before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    expect(existsSync(join(out, 'config.json'))).toBe(true);
    await expectResumesToReference(out);
  }, 180_000);

  it('stops on an AbortSignal after saving last/, and --resume reaches the same weights', async () => {
    const out = join(dir, 'aborted');
    const controller = new AbortController();
    let ticks = 0;
    // A reporter whose progress ticks abort the run after its 5th step (a batch per tick).
    const reporter: Reporter = {
      task: (t) => {
        const inner = silentReporter.task(t);
        return {
          ...inner,
          tick: (n?: number) => {
            inner.tick(n);
            if (++ticks === 5) controller.abort('SIGTERM');
          },
        };
      },
      log: () => {},
    };
    await expect(
      train({ ...options('aborted'), progress: undefined, reporter, signal: controller.signal }),
    ).rejects.toThrow(Interrupted);
    const state = JSON.parse(readFileSync(join(out, 'last', 'state.json'), 'utf8'));
    expect(state.epoch * 1000 + state.step).toBeGreaterThan(0);
    await expectResumesToReference(out);
  }, 180_000);

  it('exits with 143 on SIGTERM of the CLI, after writing last/, and says how to resume', async () => {
    const out = join(dir, 'terminated');
    const args = [
      '--import',
      'tsx',
      join(root, 'src/cli/run.ts'),
      'train',
      ...['--cache', cache, '--split', splitCsv, '--arch', 'mobilenet_v2', '--out', out],
      ...['--size', '32', '--epochs', '3', '--batch', '8', '--lr', '0.001', '--weights', 'none'],
      ...['--workers', '2', '--seed', '5', '--backend', 'wasm', '--checkpoint-minutes', '0'],
    ];
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, CI: 'true' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Signalled once training has started (its first line names the workers).
      if (/training mobilenet_v2/.test(stderr) && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(143);
    expect(stderr).toMatch(/SIGTERM received, stopping cleanly/);
    expect(stderr).toMatch(/continue with --resume/);
    expect(existsSync(join(out, 'last', 'state.json'))).toBe(true);
    await expectResumesToReference(out);
  }, 180_000);
});
