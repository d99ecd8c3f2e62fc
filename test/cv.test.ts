/**
 * `ichdet cv` end to end on a tiny synthetic cache (7 patients: 2 folds + a test patient, size
 * 32, mobilenet_v2 from scratch, one epoch): the features folder reads back with the documented
 * shapes and order, no out-of-fold row comes from a model that trained on it (checked from the
 * runs' config.json files), the out-of-fold probabilities are exactly those of the fold's best
 * model, test rows are the mean of the fold models, and malformed folders or fold-less splits
 * are refused with errors naming the file. Then `trainSeries` runs on that real output (tiny
 * widths, two epochs), so the writer (cv) and the stage-2 reader are held to one format.
 */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { type CvResult, cv } from '../src/commands/cv.js';
import { split } from '../src/commands/split.js';
import { openCache } from '../src/data/cache.js';
import { ConfigError, InputError } from '../src/errors.js';
import { weightedLogLoss } from '../src/eval/logloss.js';
import { predictCache } from '../src/infer/predict-cache.js';
import { decodeNpy, encodeNpy } from '../src/io/npy.js';
import { LABEL_COUNT, LABEL_NAMES } from '../src/labels.js';
import { loadSavedModel } from '../src/run/checkpoint.js';
import { openRun } from '../src/run/run.js';
import { type Features, readFeatures } from '../src/series/features.js';
import { trainSeries } from '../src/series/train.js';
import { readSplitCsv } from '../src/train/split-file.js';
import { tinyCache } from './fixtures.js';

let dir: string;
let cache: string;
let foldsCsv: string;
let result: CvResult;
let features: Features;

const quiet = { progress: false, log: () => {} };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-cv-'));
  ({ cache } = await tinyCache(dir, { synth: { patients: 7, slicesPerSeries: '5:6' } }));
  // Two folds by patient, then one patient of fold 0 moved to a `test` split.
  foldsCsv = join(dir, 'folds.csv');
  await split({ cache, out: foldsCsv, folds: 2, seed: 1 });
  const c = openCache(cache);
  const patientOf = new Map(c.rows().map((r) => [r.imageId, r.patientId]));
  c.close();
  const rows = readSplitCsv(foldsCsv);
  const fold0 = [
    ...new Set(rows.filter((r) => r.split === 'fold0').map((r) => patientOf.get(r.imageId))),
  ];
  const testPatient = fold0[0];
  const lines = rows.map(
    (r) =>
      `${r.imageId},${patientOf.get(r.imageId) === testPatient ? 'test' : r.split},${r.repeat}`,
  );
  writeFileSync(foldsCsv, `image_id,split,repeat\n${lines.join('\n')}\n`);
  result = await cv({
    cache,
    split: foldsCsv,
    arch: 'mobilenet_v2',
    out: join(dir, 'cv'),
    size: 32,
    epochs: 1,
    batch: 8,
    lr: 1e-3,
    weights: 'none',
    workers: 2,
    backend: 'wasm',
    checkpointMinutes: 0,
    bootstrap: 20,
    ...quiet,
  });
  features = readFeatures(join(dir, 'cv', 'features'));
}, 240_000);

describe('cv', () => {
  it('trains one run per fold and writes every split image once, out-of-fold rows first, in series order', () => {
    expect(result.complete).toBe(true);
    expect(result.trained).toEqual([0, 1]);
    const split = readSplitCsv(foldsCsv);
    const { meta, rows, probs, embeddings } = features;
    expect(meta).toMatchObject({
      format: 'ichdet-features',
      version: 1,
      arch: 'mobilenet_v2',
      folds: 2,
      n: split.length,
      dim: 1280,
      labels: [...LABEL_NAMES],
      runs: ['runs/fold0', 'runs/fold1'],
      folds_trained: { '0': ['fold1'], '1': ['fold0'] },
    });
    expect(rows.map((r) => r.imageId).sort()).toEqual(split.map((r) => r.imageId).sort());
    expect(probs.length).toBe(split.length * 6);
    expect(embeddings.length).toBe(split.length * 1280);
    expect(probs.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(embeddings.every(Number.isFinite)).toBe(true);
    const tests = split.filter((r) => r.split === 'test').length;
    expect(tests).toBeGreaterThan(0);
    expect(result.testImages).toBe(tests);
    expect(rows.slice(0, split.length - tests).every((r) => r.part === 'oof')).toBe(true);
    expect(
      rows.slice(split.length - tests).every((r) => r.part === 'test' && r.fold === null),
    ).toBe(true);
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1]!;
      const b = rows[i]!;
      if (a.part !== b.part || a.seriesUid !== b.seriesUid) continue;
      expect(b.sliceIndex).toBeGreaterThan(a.sliceIndex);
    }
    expect(rows.every((r) => r.labels.every((v) => v === 0 || v === 1))).toBe(true);
  });

  it('takes no row’s features from a model that trained on it, by the runs’ own config.json', () => {
    const splitOf = new Map(readSplitCsv(foldsCsv).map((r) => [r.imageId, r.split]));
    const cvDir = join(dir, 'cv');
    const configs = features.meta.runs.map((r) => openRun(join(cvDir, r)).config());
    for (const row of features.rows) {
      const own = splitOf.get(row.imageId)!;
      if (row.part === 'test') {
        expect(own).toBe('test');
        for (const c of configs) expect(c.trainSplits).not.toContain('test');
        continue;
      }
      const c = configs[row.fold!]!;
      expect(c.split).toBe(foldsCsv);
      expect(own).toBe(`fold${row.fold}`);
      expect(c.valSplit).toBe(own);
      expect(c.trainSplits).not.toContain(own);
    }
  });

  it('gives each fold’s images the probabilities of that fold’s best model, and test images the mean', async () => {
    const c = openCache(cache);
    try {
      const position = new Map(c.rows().map((r, i) => [r.imageId, i]));
      const cvDir = join(dir, 'cv');
      const o = { workers: 2, backend: 'wasm' as const, progress: false };
      const test = features.rows.flatMap((r, i) => (r.part === 'test' ? [i] : []));
      const testPos = Int32Array.from(test, (i) => position.get(features.rows[i]!.imageId)!);
      const mean = new Float64Array(test.length * 6);
      for (let k = 0; k < 2; k++) {
        const model = openRun(join(cvDir, features.meta.runs[k]!)).model('best').dir;
        const mine = features.rows.flatMap((r, i) => (r.fold === k ? [i] : []));
        expect(mine.length).toBeGreaterThan(0);
        const pos = Int32Array.from(mine, (i) => position.get(features.rows[i]!.imageId)!);
        const p = await predictCache(model, c, pos, o);
        for (const [j, i] of mine.entries()) {
          for (let l = 0; l < 6; l++) {
            expect(Math.abs(features.probs[i * 6 + l]! - p[j * 6 + l]!)).toBeLessThan(1e-5);
          }
        }
        const pt = await predictCache(model, c, testPos, o);
        for (let v = 0; v < pt.length; v++) mean[v] = mean[v]! + pt[v]! / 2;
      }
      for (const [j, i] of test.entries()) {
        for (let l = 0; l < 6; l++) {
          expect(Math.abs(features.probs[i * 6 + l]! - mean[j * 6 + l]!)).toBeLessThan(1e-5);
        }
      }
    } finally {
      c.close();
    }
  }, 120_000);

  it('stores as embedding the pooled features the head maps to the stored probabilities', async () => {
    await initBackend('cpu');
    const cvDir = join(dir, 'cv');
    const dim = features.meta.dim;
    for (let k = 0; k < 2; k++) {
      const model = await loadSavedModel(
        openRun(join(cvDir, features.meta.runs[k]!)).model('best').dir,
      );
      const [kernel, bias] = model.getLayer('head_dense').getWeights();
      const w = kernel!.dataSync();
      const b = bias!.dataSync();
      const i = features.rows.findIndex((r) => r.fold === k);
      const e = features.embeddings.subarray(i * dim, (i + 1) * dim);
      for (let l = 0; l < 6; l++) {
        let z = b[l]!;
        for (let d = 0; d < dim; d++) z += e[d]! * w[d * 6 + l]!;
        expect(1 / (1 + Math.exp(-z))).toBeCloseTo(features.probs[i * 6 + l]!, 5);
      }
      model.dispose();
    }
  });

  it('writes the out-of-fold metrics with the fields of evaluate, and cv.json', () => {
    const m = JSON.parse(readFileSync(join(dir, 'cv', 'metrics.json'), 'utf8'));
    const oof = features.rows.filter((r) => r.part === 'oof').length;
    expect(m).toMatchObject({ arch: 'mobilenet_v2', folds: 2, images: oof, tta: 'none' });
    expect(Object.keys(m.metrics.labels)).toEqual([...LABEL_NAMES]);
    expect(Number.isFinite(m.metrics.weightedLogLoss)).toBe(true);
    expect(m.bootstrap).not.toBeNull();
    const c = JSON.parse(readFileSync(join(dir, 'cv', 'cv.json'), 'utf8'));
    expect(c).toMatchObject({ format: 'ichdet-cv', folds: 2, test: true, split: foldsCsv });
  });

  it('resumes without training a finished fold again, and refuses to start over an existing cv or with a changed split file', async () => {
    await expect(
      cv({ cache, split: foldsCsv, arch: 'mobilenet_v2', out: join(dir, 'cv'), ...quiet }),
    ).rejects.toThrow(/already holds a cv; continue it with --resume/);
    const original = readFileSync(foldsCsv, 'utf8');
    writeFileSync(foldsCsv, `${original}\n`);
    await expect(cv({ out: join(dir, 'cv'), resume: true, ...quiet })).rejects.toThrow(
      /split file .*folds\.csv changed since the cv started/,
    );
    writeFileSync(foldsCsv, original);
    const again = await cv({ out: join(dir, 'cv'), resume: true, ...quiet });
    expect(again.trained).toEqual([]);
    expect(readFeatures(join(dir, 'cv', 'features')).probs).toEqual(features.probs);
  }, 120_000);

  it('refuses a split without folds with a ConfigError naming the split file', async () => {
    const plain = join(dir, 'plain.csv');
    await split({ cache, out: plain, val: 0.3, seed: 1 });
    const run = cv({ cache, split: plain, arch: 'mobilenet_v2', out: join(dir, 'cv-plain') });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(
      cv({ cache, split: plain, arch: 'mobilenet_v2', out: join(dir, 'cv-plain2') }),
    ).rejects.toThrow(
      new RegExp(`split file ${plain.replaceAll('.', '\\.')} must have folds fold0`),
    );
  });
});

describe('cv → train-series', () => {
  it('trains the series model on cv’s features folder and reports stage 1 as probs.npy and index.csv score it', async () => {
    const featuresDir = join(dir, 'cv', 'features');
    const out = join(dir, 'srun');
    await trainSeries({
      features: featuresDir,
      out,
      epochs: 2,
      batch: 4,
      c1: 4,
      c2: 4,
      gru: 4,
      embeddings: true,
      bootstrap: 20,
      backend: 'wasm',
      ...quiet,
    });
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(m.folds).toEqual([0, 1]);
    for (const block of ['stage1', 'smoothed', 'stage2']) {
      expect(Number.isFinite(m[block].weighted_log_loss)).toBe(true);
    }
    expect(m.study).toMatchObject({ studies: expect.any(Number) });
    expect(m.study.studies).toBeGreaterThan(0);
    expect(m.study.stage1).toBeDefined();
    expect(m.study.stage2).toBeDefined();

    // Stage 1 straight from the files, without either reader: every labelled oof row of
    // index.csv against its row of probs.npy.
    const lines = readFileSync(join(featuresDir, 'index.csv'), 'utf8').trimEnd().split('\n');
    const header = lines[0]!.split(',');
    const part = header.indexOf('part');
    const first = header.indexOf(LABEL_NAMES[0]);
    const probs = decodeNpy(readFileSync(join(featuresDir, 'probs.npy')), 'probs.npy').data;
    const y: number[] = [];
    const p: number[] = [];
    for (const [i, line] of lines.slice(1).entries()) {
      const cells = line.split(',');
      const labels = cells.slice(first, first + LABEL_COUNT);
      if (cells[part] !== 'oof' || labels.includes('')) continue;
      y.push(...labels.map(Number));
      for (let l = 0; l < LABEL_COUNT; l++) p.push(probs[i * LABEL_COUNT + l]!);
    }
    expect(y.length / LABEL_COUNT).toBe(m.stage1.images);
    const direct = weightedLogLoss(y, p, y.length / LABEL_COUNT);
    expect(Math.abs(m.stage1.weighted_log_loss - direct)).toBeLessThan(1e-6);
  }, 120_000);
});

describe('readFeatures', () => {
  function broken(name: string): string {
    const d = join(dir, name);
    rmSync(d, { recursive: true, force: true });
    cpSync(join(dir, 'cv', 'features'), d, { recursive: true });
    return d;
  }

  it('names the missing embeddings.npy', () => {
    const d = broken('no-embeddings');
    rmSync(join(d, 'embeddings.npy'));
    expect(() => readFeatures(d)).toThrow(InputError);
    expect(() => readFeatures(d)).toThrow(/embeddings\.npy is missing/);
  });

  it('names index.csv when it holds fewer rows than features.json says', () => {
    const d = broken('short-index');
    const lines = readFileSync(join(d, 'index.csv'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(d, 'index.csv'), `${lines.slice(0, -1).join('\n')}\n`);
    expect(() => readFeatures(d)).toThrow(
      new RegExp(
        `index\\.csv: holds ${lines.length - 2} rows, features\\.json says n = ${lines.length - 1}`,
      ),
    );
  });

  it('names probs.npy when its row count differs from the index', () => {
    const d = broken('short-probs');
    const n = features.meta.n;
    writeFileSync(
      join(d, 'probs.npy'),
      encodeNpy(features.probs.slice(0, (n - 1) * 6), [n - 1, 6]),
    );
    expect(() => readFeatures(d)).toThrow(
      new RegExp(`probs\\.npy: shape must be \\(${n}, 6\\).*received \\(${n - 1}, 6\\)`),
    );
  });

  it('names embeddings.npy when its width differs from features.json', () => {
    const d = broken('wide-embeddings');
    copyFileSync(join(d, 'probs.npy'), join(d, 'embeddings.npy'));
    expect(() => readFeatures(d)).toThrow(/embeddings\.npy: shape must be \(\d+, 1280\)/);
  });
});
