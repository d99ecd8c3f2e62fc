/**
 * End-to-end inference bench (issue 7): seconds from a 40-slice 512×512 series of DICOM files to
 * the study flag, with EfficientNet-B0 at 256² (random weights: the time does not depend on
 * them), three windows, no 2.5D context, on all cores, for each runtime: tfjs (model workers,
 * their start included) and onnx (onnxruntime-node on the model folder's model.onnx, written
 * once beforehand as `ichdet export-onnx` does; the session's creation included).
 *
 *   npx tsx bench/predict.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/init.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { exportOnnx } from '../src/infer/onnx-export.js';
import { predictFiles, type RuntimeName } from '../src/infer/predict.js';
import { buildModel } from '../src/models/index.js';
import { saveLayersModel } from '../src/run/checkpoint.js';
import { defaultPoolSize } from '../src/util/pool.js';
import { Rng } from '../src/util/rng.js';
import type { BenchRow } from './bench.js';

export interface SeriesBench {
  runtime: RuntimeName;
  slices: number;
  /** Files → study flag, the runtime's start included. */
  seconds: number;
  flag: boolean;
  workers: number;
}

/** One end-to-end run per runtime on the same files and model. */
export async function seriesSeconds(slices = 40, size = 256): Promise<SeriesBench[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-predict-'));
  try {
    const rng = new Rng(7);
    mkdirSync(join(dir, 'series'));
    for (let k = 0; k < slices; k++) {
      const stored = Int16Array.from(
        { length: 512 * 512 },
        () => 1024 + Math.round(80 * rng.next()),
      );
      writeFileSync(
        join(dir, 'series', `s${k}.dcm`),
        encodeSlice({
          rows: 512,
          cols: 512,
          stored,
          bitsAllocated: 16,
          bitsStored: 16,
          pixelRepresentation: 1,
          rescaleIntercept: -1024,
          rescaleSlope: 1,
          patientId: 'ID_bench',
          studyInstanceUid: '1.2.3',
          seriesInstanceUid: '1.2.3.4',
          sopInstanceUid: `1.2.3.4.${k}`,
          imagePositionPatient: [0, 0, 5 * k],
          imageOrientationPatient: [1, 0, 0, 0, 1, 0],
          modality: 'CT',
        }),
      );
    }
    await initBackend('wasm');
    const model = buildModel('efficientnet_b0', { inputShape: [size, size, 3] });
    const modelDir = join(dir, 'model');
    await saveLayersModel(model, modelDir, {
      arch: 'efficientnet_b0',
      size,
      channels: 3,
      context: 0,
      cacheChannels: 3,
      cacheSize: size,
      windows: DEFAULT_WINDOWS,
      rsnaFix: true,
      preprocessing: 'none',
    });
    writeFileSync(join(modelDir, 'model.onnx'), exportOnnx(model));
    model.dispose();
    const workers = defaultPoolSize();
    const out: SeriesBench[] = [];
    for (const runtime of ['tfjs', 'onnx'] as const) {
      const start = performance.now();
      const r = await predictFiles({
        model: modelDir,
        inputs: [join(dir, 'series')],
        runtime,
        workers,
        backend: 'wasm',
        progress: false,
      });
      const seconds = (performance.now() - start) / 1000;
      const flag = r.studies[0]?.flag ?? false;
      out.push({ runtime, slices: r.slices.length, seconds, flag, workers });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows of `npm run bench`. */
export async function benchSeries(): Promise<BenchRow[]> {
  return (await seriesSeconds()).map((r) => ({
    name: `predict ${r.slices}-slice 512² series → study flag, efficientnet_b0 256², ${r.runtime === 'onnx' ? `onnxruntime-node ${r.workers} threads` : `tfjs-wasm ${r.workers} workers`}`,
    value: r.seconds,
    unit: 's',
    target: '< 3',
  }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchSeries()) console.log(`${r.name}: ${r.value.toFixed(2)} s`);
}
