/**
 * `train-series --workers N`: folds trained in parallel worker threads give the same bytes as
 * the folds trained in turn on the main thread, and a run resumes at its unfinished folds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, Interrupted } from '../src/errors.js';
import { trainSeries } from '../src/series/train.js';
import { createProgress } from '../src/util/progress.js';
import type { Reporter } from '../src/util/reporter.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-series-workers-'));
const features = join(root, 'features');
const base = {
  features,
  epochs: 2,
  batch: 4,
  lr: 3e-3,
  c1: 8,
  c2: 8,
  gru: 4,
  bootstrap: 5,
  backend: 'wasm' as const,
  progress: false,
  log: () => {},
};
const FILES = [
  'fold0/weights.bin',
  'fold1/weights.bin',
  'fold0/predictions.npy',
  'fold1/predictions.npy',
  'probs.npy',
  'series.csv',
];
const bytes = (dir: string) => FILES.map((f) => readFileSync(join(dir, f)));

beforeAll(async () => {
  await writeSynthFeatures(features, { patients: 12, folds: 2, seed: 5, testSeries: 2 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('train-series --workers', () => {
  it('trains two folds in two worker threads byte-identical to --workers 1, and resumes the unfinished fold', async () => {
    const one = await trainSeries({ ...base, out: join(root, 'one'), workers: 1 });
    const two = await trainSeries({ ...base, out: join(root, 'two'), workers: 2 });
    expect(one.trained).toEqual([0, 1]);
    expect(two.trained).toEqual([0, 1]);
    const a = bytes(join(root, 'one'));
    const b = bytes(join(root, 'two'));
    for (const [i, f] of FILES.entries()) {
      expect(a[i]!.length, f).toBeGreaterThan(0);
      expect(Buffer.compare(a[i]!, b[i]!), f).toBe(0);
    }
    // The two folds' models differ (each fold its own seed and data), so equality above is not vacuous.
    expect(Buffer.compare(a[0]!, a[1]!)).not.toBe(0);
    expect(two.metrics.stage2.weighted_log_loss).toBe(one.metrics.stage2.weighted_log_loss);

    // Fold 1 lost: the next run trains only fold 1 (in a worker) and gets the same bytes back.
    rmSync(join(root, 'two', 'fold1'), { recursive: true, force: true });
    const again = await trainSeries({ ...base, out: join(root, 'two'), workers: 2 });
    expect(again.trained).toEqual([1]);
    const c = bytes(join(root, 'two'));
    for (const [i, f] of FILES.entries()) expect(Buffer.compare(a[i]!, c[i]!), f).toBe(0);
  });

  it('stops the workers mid-fold on abort (Interrupted), keeping no half-trained fold', async () => {
    const out = join(root, 'mid');
    const ctl = new AbortController();
    // Aborts at the first progress the workers report (a fold takes 40 steps here).
    const reporter: Reporter = {
      task: (o) => {
        const p = createProgress({ ...o, enabled: false });
        return {
          tick: (n) => {
            p.tick(n);
            ctl.abort('SIGINT');
          },
          setInfo: (text) => p.setInfo(text),
          stop: () => p.stop(),
          summary: () => p.summary(),
        };
      },
      log: () => {},
    };
    const run = trainSeries({ ...base, epochs: 20, out, workers: 2, reporter, signal: ctl.signal });
    await expect(run).rejects.toThrow(Interrupted);
    await expect(run).rejects.toThrow(/unfinished; run it again to resume there/);
    const saved = ['fold0', 'fold1'].filter((f) => {
      try {
        readFileSync(join(out, f, 'series.json'));
        return true;
      } catch {
        return false;
      }
    });
    expect(saved.length).toBeLessThan(2);
  });

  it('stops with Interrupted and saves no fold when aborted, and refuses --workers 0', async () => {
    const out = join(root, 'stopped');
    const ctl = new AbortController();
    ctl.abort('SIGINT');
    await expect(trainSeries({ ...base, out, workers: 2, signal: ctl.signal })).rejects.toThrow(
      Interrupted,
    );
    expect(() => readFileSync(join(out, 'fold0', 'series.json'))).toThrow();
    await expect(trainSeries({ ...base, out, workers: 0 })).rejects.toThrow(ConfigError);
    await expect(trainSeries({ ...base, out, workers: 0 })).rejects.toThrow(
      '--workers must be a positive integer, received 0',
    );
  });
});
