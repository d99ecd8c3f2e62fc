/**
 * The series model in ONNX Runtime: the exported graph (dilated Conv, folded batch norm, ONNX
 * GRU, attention and max pooling) gives the tfjs model's probabilities within 1e-4 for series of
 * every length, with and without the embedding MLP, forward and reversed averaged the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { InputError } from '../src/errors.js';
import { SeriesModel } from '../src/series/model.js';
import { exportSeriesOnnx, loadSeriesOnnx, predictSeriesOnnx } from '../src/series/onnx.js';
import { type FeatureSet, loadFeatureSeries } from '../src/series/read-features.js';
import { predictSeries } from '../src/series/train.js';
import { Rng } from '../src/util/rng.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-series-onnx-'));
let set: FeatureSet;

beforeAll(async () => {
  await initBackend('cpu');
  const dir = join(root, 'features');
  // Series of 1 to 40 slices; embeddings of width 8.
  await writeSynthFeatures(dir, {
    patients: 10,
    testSeries: 2,
    minSlices: 1,
    maxSlices: 40,
    dim: 8,
    seed: 5,
  });
  set = loadFeatureSeries(dir);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Random weights everywhere, batch-norm statistics included (variance in [0.5, 2]). */
function randomise(model: SeriesModel, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, v] of model.vars) {
    const n = v.size;
    const data = Float32Array.from({ length: n }, () =>
      name.endsWith('moving_variance') ? rng.uniform(0.5, 2) : rng.uniform(-0.5, 0.5),
    );
    v.assign(tf.tensor(data, v.shape));
  }
}

async function parity(model: SeriesModel, name: string): Promise<number> {
  const file = join(root, `${name}.onnx`);
  writeFileSync(file, exportSeriesOnnx(model));
  const onnx = await loadSeriesOnnx(file, { backend: 'wasm', threads: 1 });
  try {
    const want = predictSeries(model, set, set.series);
    const got = await predictSeriesOnnx(onnx, set, set.series);
    let max = 0;
    for (const [i, w] of want.slices.entries()) {
      expect(got.slices[i]!.length).toBe(w.length);
      for (let k = 0; k < w.length; k++) max = Math.max(max, Math.abs(w[k]! - got.slices[i]![k]!));
      max = Math.max(max, Math.abs(want.study[i]! - got.study[i]!));
    }
    return max;
  } finally {
    await onnx.dispose();
  }
}

describe('series model → ONNX', () => {
  it('matches tfjs within 1e-4 on series of 1 to 40 slices', async () => {
    const lengths = set.series.map((s) => s.rows.length);
    expect(Math.min(...lengths)).toBeLessThanOrEqual(3);
    expect(Math.max(...lengths)).toBeGreaterThanOrEqual(30);
    const model = new SeriesModel({ c1: 12, c2: 8, gru: 6, seed: 1 });
    randomise(model, 11);
    const max = await parity(model, 'plain');
    expect(max).toBeLessThan(1e-4);
    model.dispose();
  });

  it('matches tfjs within 1e-4 with the embedding MLP', async () => {
    const model = new SeriesModel({ c1: 8, c2: 8, gru: 4, embedding: set.dim, seed: 2 });
    randomise(model, 12);
    const max = await parity(model, 'emb');
    expect(max).toBeLessThan(1e-4);
    model.dispose();
  });

  it('refuses an ONNX file that is not a series model, naming it', async () => {
    const file = join(root, 'not-series.onnx');
    writeFileSync(file, new Uint8Array([8, 8]));
    await expect(loadSeriesOnnx(file)).rejects.toThrow(InputError);
    await expect(loadSeriesOnnx(join(root, 'missing.onnx'))).rejects.toThrow(
      /cannot read ONNX series model/,
    );
  });
});
