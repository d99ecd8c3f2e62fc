/**
 * `ichdet export-onnx SRUN` for a series run (`ichdet train-series --out SRUN`): each fold's
 * series model as `SRUN/fold<k>/model.onnx` (see series/onnx.ts), checked against tfjs on seeded
 * random series of several lengths. `predict --runtime onnx --series-model SRUN` runs them.
 */
import { join, resolve } from 'node:path';
import { initBackend } from '../backend/init.js';
import { ConfigError } from '../errors.js';
import {
  type OnnxBackend,
  type OnnxBackendChoice,
  parseOnnxBackend,
} from '../infer/onnx-runtime.js';
import { LABEL_COUNT } from '../labels.js';
import { seriesModelDirs } from '../series/aggregator.js';
import { SeriesModel } from '../series/model.js';
import {
  exportSeriesOnnx,
  loadSeriesOnnx,
  predictSeriesOnnx,
  SERIES_ONNX_FILE,
} from '../series/onnx.js';
import type { FeatureSet } from '../series/read-features.js';
import { stepsOf } from '../series/read-features.js';
import { predictSeries } from '../series/train.js';
import { writeFileAtomic } from '../util/files.js';
import { Rng } from '../util/rng.js';
import { ONNX_PARITY_TOLERANCE } from './export-onnx.js';

export interface ExportSeriesOnnxOptions {
  /** The series run folder. */
  run: string;
  /** Compare ONNX Runtime with tfjs on random series (default true). */
  verify?: boolean;
  onnxBackend?: OnnxBackendChoice | string;
}

export interface ExportSeriesOnnxResult {
  /** The .onnx files written, one per fold model. */
  files: string[];
  bytes: number;
  /** Largest |ONNX − tfjs| over the check series and folds; null when not verified. */
  maxAbsDiff: number | null;
  onnxBackend: OnnxBackend | null;
}

/** Seeded random series of the given lengths, 5 mm apart, as a features set (no labels). */
function randomSet(lengths: readonly number[], dim: number, seed: number): FeatureSet {
  const rng = new Rng(seed);
  const n = lengths.reduce((a, b) => a + b, 0);
  const probs = Float32Array.from({ length: n * LABEL_COUNT }, () => rng.uniform(0, 1));
  const embeddings = Float32Array.from({ length: n * dim }, () => rng.uniform(-1, 1));
  let row = 0;
  const series = lengths.map((L, i) => {
    const rows = Array.from({ length: L }, () => row++);
    const z = rows.map((_, j) => j * 5);
    return {
      seriesUid: `s${i}`,
      studyUid: `st${i}`,
      patientId: `p${i}`,
      fold: null,
      part: 'test' as const,
      rows,
      z,
      dz: stepsOf(z),
    };
  });
  return {
    dir: '<check>',
    meta: {
      format: 'ichdet-features',
      version: 1,
      arch: '',
      folds: 0,
      n,
      dim,
      labels: [],
      runs: [],
      folds_trained: {},
    },
    n,
    dim,
    imageIds: Array.from({ length: n }, (_, i) => `ID_${i}`),
    probs,
    embeddings,
    labels: new Float32Array(n * LABEL_COUNT).fill(Number.NaN),
    series,
  } as unknown as FeatureSet;
}

/**
 * Exports every fold model of a series run and (by default) verifies each on random series of
 * 1, 7 and 40 slices. ConfigError when a fold differs by more than ONNX_PARITY_TOLERANCE (the
 * file is still written, for inspection).
 */
export async function exportSeriesOnnxCommand(
  o: ExportSeriesOnnxOptions,
): Promise<ExportSeriesOnnxResult> {
  const backend = parseOnnxBackend(o.onnxBackend);
  const srun = resolve(o.run);
  const dirs = seriesModelDirs(srun);
  await initBackend('cpu');
  const files: string[] = [];
  let bytes = 0;
  let maxAbsDiff: number | null = null;
  let ran: OnnxBackend | null = null;
  for (const dir of dirs) {
    const model = SeriesModel.load(dir);
    try {
      const file = join(dir, SERIES_ONNX_FILE);
      const data = exportSeriesOnnx(model, { fold: dir });
      await writeFileAtomic(file, data);
      files.push(file);
      bytes += data.byteLength;
      if (o.verify === false) continue;
      const set = randomSet([1, 7, 40], Math.max(1, model.config.embedding), 20241205);
      const onnx = await loadSeriesOnnx(file, { backend, threads: 1 });
      try {
        const want = predictSeries(model, set, set.series);
        const got = await predictSeriesOnnx(onnx, set, set.series);
        let max = 0;
        for (const [i, w] of want.slices.entries()) {
          for (let k = 0; k < w.length; k++)
            max = Math.max(max, Math.abs(w[k]! - got.slices[i]![k]!));
          max = Math.max(max, Math.abs(want.study[i]! - got.study[i]!));
        }
        maxAbsDiff = Math.max(maxAbsDiff ?? 0, max);
        ran = onnx.backend;
        if (!(max <= ONNX_PARITY_TOLERANCE)) {
          throw new ConfigError(
            `${file}: ONNX Runtime differs from tfjs by up to ${max}, more than ${ONNX_PARITY_TOLERANCE}; please report this model`,
          );
        }
      } finally {
        await onnx.dispose();
      }
    } finally {
      model.dispose();
    }
  }
  return { files, bytes, maxAbsDiff, onnxBackend: ran };
}
