/**
 * `ichdet view`: a web viewer for a folder of studies and their AI results (view/server.ts and
 * the browser client in view/web). With `model` the page can run the model itself ("Analyse in
 * browser"): an .onnx file is served as it is; a run or model folder is exported to ONNX with
 * the class activation map output first, so the browser can draw heatmaps too. `seriesModel`
 * (stage 2) and `cors` go to the server (view/server.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../backend/init.js';
import { exportRunToOnnx } from '../infer/onnx-export.js';
import { ModelFolder } from '../run/run.js';
import { labelThresholds } from '../view/results.js';
import { startViewServer, type ViewServer, type ViewServerOptions } from '../view/server.js';

export interface ViewOptions extends Omit<ViewServerOptions, 'onnx' | 'modelThresholds'> {
  /** An .onnx file, or a training run / model folder (exported with its CAM output). */
  model?: string;
}

export interface ViewResult extends ViewServer {
  /** The .onnx file the page runs (null without `model`). */
  onnx: string | null;
}

/** Starts the viewer; resolves once it listens. `close()` stops it and removes any temporary export. */
export async function view(o: ViewOptions): Promise<ViewResult> {
  let onnx: string | undefined;
  let tmp: string | undefined;
  let modelThresholds: number[] | undefined;
  if (o.model !== undefined) {
    if (o.model.endsWith('.onnx')) onnx = o.model;
    else {
      // The run's thresholds for the strip of an in-browser analysis: `any` as predict picks it.
      const folder = new ModelFolder(o.model);
      const any = folder.threshold();
      modelThresholds = labelThresholds(folder.dir, any.value, any.source).values;
      tmp = mkdtempSync(join(tmpdir(), 'ichdet-view-'));
      onnx = join(tmp, 'model.onnx');
      await initBackend('wasm');
      await exportRunToOnnx(o.model, onnx, { cam: true });
    }
  }
  let server: ViewServer;
  try {
    server = await startViewServer({
      ...o,
      ...(onnx !== undefined && { onnx }),
      ...(modelThresholds !== undefined && { modelThresholds }),
    });
  } catch (err) {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    onnx: onnx ?? null,
    async close() {
      await server.close();
      if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    },
  };
}
