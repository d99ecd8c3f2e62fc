/**
 * Which split `evaluate` and `compare` report on: the held-out `test` split when the split file
 * has one (checkpoints having been selected on `val` during training), the validation split
 * otherwise — and the study report says which. One tiny model, trained once by `compare`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CompareResult, compare } from '../src/commands/compare.js';
import { defaultEvalSplit, evaluate } from '../src/commands/evaluate.js';
import { split } from '../src/commands/split.js';
import { readSplitCsv } from '../src/train/split-file.js';
import { tinyCache } from './fixtures.js';

let dir: string;
let splitCsv: string;
let study: CompareResult;
let counts: Record<string, number>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-evalsplit-'));
  const { cache } = await tinyCache(dir, { synth: { patients: 8, slicesPerSeries: '5:6' } });
  splitCsv = join(dir, 'split.csv');
  counts = (await split({ cache, out: splitCsv, val: 0.25, test: 0.25, seed: 1 })).counts;
  study = await compare({
    cache,
    split: splitCsv,
    archs: 'mobilenet_v2',
    out: join(dir, 'study'),
    size: 32,
    epochs: 1,
    batch: 8,
    lr: 1e-3,
    weights: 'none',
    workers: 2,
    backend: 'wasm',
    checkpointMinutes: 0,
    bootstrap: 20,
    progress: false,
    log: () => {},
  });
}, 240_000);

describe('evaluate and compare with a held-out test split', () => {
  it('has train, val and test parts in the split', () => {
    expect(Object.keys(counts)).toEqual(['train', 'val', 'test']);
    expect(counts.test).toBeGreaterThan(0);
  });

  it('compare reports every number on test and says so in study.json and both reports', () => {
    const s = study.study;
    expect(s.dataset).toMatchObject({
      valSplit: 'val',
      valImages: counts.val,
      evalSplit: 'test',
      evalImages: counts.test,
    });
    expect(s.models.map((m) => [m.split, m.images])).toEqual([['test', counts.test]]);
    const sentence = `Numbers are on the held-out test split (${counts.test} images); checkpoints were selected on the validation split val (${counts.val} images).`;
    expect(readFileSync(study.markdown, 'utf8')).toContain(sentence);
    expect(readFileSync(study.report, 'utf8')).toContain(sentence);
    const json = JSON.parse(readFileSync(join(dir, 'study', 'study.json'), 'utf8'));
    expect(json.models[0].split).toBe('test');
    const metrics = JSON.parse(
      readFileSync(join(dir, 'study', 'runs', 'mobilenet_v2', 'eval', 'metrics.json'), 'utf8'),
    );
    expect(metrics).toMatchObject({ split: 'test', selectedOn: 'val', images: counts.test });
  });

  it('evaluate takes val when asked, and val for a split file without a test split', async () => {
    const run = join(dir, 'study', 'runs', 'mobilenet_v2');
    const quiet = { bootstrap: 0, figures: false, workers: 1, progress: false } as const;
    const onVal = await evaluate({ run, splitName: 'val', out: join(dir, 'ev-val'), ...quiet });
    expect([onVal.split, onVal.selectedOn, onVal.images]).toEqual(['val', 'val', counts.val]);
    // The same split written before --test existed: train and val only.
    const old = join(dir, 'old.csv');
    const rows = readSplitCsv(splitCsv).filter((r) => r.split !== 'test');
    writeFileSync(
      old,
      `image_id,split,repeat\n${rows.map((r) => `${r.imageId},${r.split},${r.repeat}\n`).join('')}`,
    );
    const before = await evaluate({ run, split: old, out: join(dir, 'ev-old'), ...quiet });
    expect([before.split, before.images]).toEqual(['val', counts.val]);
    expect(JSON.parse(readFileSync(join(dir, 'ev-old', 'metrics.json'), 'utf8')).split).toBe('val');
  });

  it('never defaults to a test split the run trained or selected on', () => {
    const rows = [
      { imageId: 'a', split: 'train', repeat: 1 },
      { imageId: 'b', split: 'val', repeat: 1 },
      { imageId: 'c', split: 'test', repeat: 1 },
    ];
    expect(defaultEvalSplit(rows, { trainSplits: ['train'], valSplit: 'val' })).toBe('test');
    expect(defaultEvalSplit(rows, { trainSplits: ['train', 'test'], valSplit: 'val' })).toBe('val');
    expect(defaultEvalSplit(rows, { trainSplits: ['train'], valSplit: 'test' })).toBe('test');
    expect(defaultEvalSplit(rows.slice(0, 2), { trainSplits: ['train'], valSplit: 'val' })).toBe(
      'val',
    );
  });
});
