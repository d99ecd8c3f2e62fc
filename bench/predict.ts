/**
 * End-to-end inference bench (issue 7): seconds from a 40-slice 512×512 series of DICOM files to
 * the study flag, with EfficientNet-B0 at 256² (random weights: the time does not depend on
 * them), three windows, no 2.5D context, on all cores. Includes starting the model workers.
 *
 *   npx tsx bench/predict.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { predictFiles } from '../src/infer/predict.js';
import { buildModel } from '../src/models/index.js';
import { initBackend } from '../src/train/backend.js';
import { saveLayersModel } from '../src/train/checkpoint.js';
import { defaultPoolSize } from '../src/util/pool.js';
import { Rng } from '../src/util/rng.js';

export interface SeriesBench {
  slices: number;
  /** Files → study flag, model workers' start included. */
  seconds: number;
  flag: boolean;
  workers: number;
}

export async function benchSeries(slices = 40, size = 256): Promise<SeriesBench> {
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-predict-'));
  try {
    const rng = new Rng(7);
    for (let k = 0; k < slices; k++) {
      const stored = Int16Array.from(
        { length: 512 * 512 },
        () => 1024 + Math.round(80 * rng.next()),
      );
      writeFileSync(
        join(dir, `s${k}.dcm`),
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
    model.dispose();
    const workers = defaultPoolSize();
    const start = performance.now();
    const r = await predictFiles({
      model: modelDir,
      inputs: [dir],
      workers,
      backend: 'wasm',
      progress: false,
    });
    const seconds = (performance.now() - start) / 1000;
    return { slices: r.slices.length, seconds, flag: r.studies[0]?.flag ?? false, workers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchSeries();
  console.log(
    `predict: ${r.slices}-slice 512² series → study flag in ${r.seconds.toFixed(2)} s (efficientnet_b0 256², ${r.workers} workers)`,
  );
}
