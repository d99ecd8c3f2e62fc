/**
 * Stage 2 inside predict: the series models of a train-series run as predict's aggregator. On a
 * series of a features folder, the aggregator built from predict's slice predictions (positions
 * → Δz) gives what the features path gives (the mean of the fold models' `predictSeries`), and
 * the max aggregator is the maximum over the slices.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { exportSeriesOnnxCommand } from '../src/commands/export-series-onnx.js';
import { InputError } from '../src/errors.js';
import { maxAggregator, type SlicePrediction } from '../src/infer/predict.js';
import { LABEL_COUNT } from '../src/labels.js';
import {
  loadSeriesAggregator,
  loadSeriesOnnxAggregator,
  seriesThreshold,
} from '../src/series/aggregator.js';
import { SeriesModel } from '../src/series/model.js';
import { loadFeatureSeries } from '../src/series/read-features.js';
import { predictSeries } from '../src/series/train.js';
import { tinySeriesRun } from './fixtures.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-series-predict-'));
const features = join(root, 'features');
const srun = join(root, 'srun');

beforeAll(async () => {
  await initBackend('wasm');
  await writeSynthFeatures(features, { patients: 12, folds: 2, seed: 4 });
  await tinySeriesRun({ features, out: srun, epochs: 2 });
}, 120_000);

/** Predict's view of a features series: its slices with their stage-1 probabilities and z. */
function slicesOf(set: ReturnType<typeof loadFeatureSeries>, j: number): SlicePrediction[] {
  const s = set.series[j]!;
  return s.rows.map((row, i) => ({
    file: `${set.imageIds[row]}.dcm`,
    imageId: set.imageIds[row]!,
    patientId: s.patientId,
    studyUid: s.studyUid,
    seriesUid: s.seriesUid,
    index: i,
    position: s.z[i] ?? null,
    p: Array.from(set.probs.subarray(row * LABEL_COUNT, (row + 1) * LABEL_COUNT)),
  }));
}

describe('series aggregator', () => {
  it('gives the mean of the fold models over the features path, per slice and per series', async () => {
    const set = loadFeatureSeries(features);
    const agg = loadSeriesAggregator(srun);
    expect(agg.models.map((d) => d.slice(srun.length + 1))).toEqual(['fold0', 'fold1']);
    const models = agg.models.map((d) => SeriesModel.load(d));
    try {
      for (const j of [0, 3]) {
        const d = await agg.series(slicesOf(set, j));
        const refs = models.map((m) => predictSeries(m, set, [set.series[j]!]));
        const any = refs.reduce((a, r) => a + r.study[0]!, 0) / refs.length;
        expect(d.any).toBeCloseTo(any, 6);
        const L = set.series[j]!.rows.length;
        expect(d.p).toHaveLength(L * LABEL_COUNT);
        for (let k = 0; k < L * LABEL_COUNT; k++) {
          const mean = refs.reduce((a, r) => a + r.slices[0]![k]!, 0) / refs.length;
          expect(d.p![k]).toBeCloseTo(mean, 6);
        }
      }
    } finally {
      for (const m of models) m.dispose();
      agg.dispose();
    }
  });

  it('takes the flag threshold from the study triage point of SRUN/metrics.json', () => {
    const t = seriesThreshold(srun);
    expect(t.source).toBe(join(srun, 'metrics.json'));
    expect(t.value).toBeGreaterThan(0);
    expect(t.value).toBeLessThanOrEqual(1);
    expect(seriesThreshold(srun, 0.3)).toEqual({ value: 0.3, source: 'option' });
  });

  it('runs the fold models in ONNX Runtime after export-onnx SRUN, within 1e-4 of tfjs', async () => {
    const set = loadFeatureSeries(features);
    // Before the export, the ONNX aggregator names the file and the command that writes it.
    await expect(loadSeriesOnnxAggregator(srun)).rejects.toThrow(
      `${join(srun, 'fold0', 'model.onnx')} is missing: --runtime onnx runs the series models from ONNX files; write them with ichdet export-onnx ${srun}`,
    );
    const r = await exportSeriesOnnxCommand({ run: srun, onnxBackend: 'wasm' });
    expect(r.files).toEqual([join(srun, 'fold0', 'model.onnx'), join(srun, 'fold1', 'model.onnx')]);
    expect(r.maxAbsDiff).toBeLessThan(1e-4);
    const tfjs = loadSeriesAggregator(srun);
    const onnx = await loadSeriesOnnxAggregator(srun, { backend: 'wasm', threads: 1 });
    try {
      for (const j of [1, 2]) {
        const want = await tfjs.series(slicesOf(set, j));
        const got = await onnx.series(slicesOf(set, j));
        expect(Math.abs(got.any - want.any)).toBeLessThan(1e-4);
        for (let k = 0; k < want.p!.length; k++) {
          expect(Math.abs(got.p![k]! - want.p![k]!)).toBeLessThan(1e-4);
        }
      }
    } finally {
      tfjs.dispose();
      onnx.dispose();
    }
  });

  it('names the missing model of a folder without one', () => {
    expect(() => loadSeriesAggregator(root)).toThrow(InputError);
    expect(() => loadSeriesAggregator(root)).toThrow(/holds no series model .*fold0\/model\.json/);
  });
});

describe('max aggregator', () => {
  it('keeps the CNN probabilities and scores a series by its most likely slice', () => {
    const p = (any: number) => [0, 0, 0, 0, 0, any];
    const slices = [0.2, 0.9, 0.4].map((any, i) => ({
      file: `${i}.dcm`,
      imageId: `${i}`,
      patientId: 'P',
      studyUid: 'S',
      seriesUid: 'R',
      index: i,
      position: i * 5,
      p: p(any),
    }));
    expect(maxAggregator.series(slices)).toEqual({ p: null, any: 0.9 });
  });
});
