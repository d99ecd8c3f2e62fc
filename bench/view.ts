/**
 * `ichdet view` (issue 14) in headless Chromium on localhost, one 40-slice 512² series:
 * - first image: opening the series until its first slice is on the canvas (target < 1 s);
 * - scrolling: slices rendered per second stepping through the series, first pass (pixels
 *   fetched and decoded) and second pass (cached) (target ≥ 30/s);
 * - in-browser inference: EfficientNet-B0 at 256² (random weights; speed only) on the 40
 *   slices with onnxruntime-web, wasm, threads as the page gets them (target < 10 s), and
 *   onnxruntime-node on the same inputs for comparison; also the first run on a fresh page
 *   whose worker was preloaded while the series sat still (the viewer loads it after 1 s idle).
 * Needs the built client (`npm run build`, which `npm run bench` runs first) and /usr/bin/chromium.
 *
 *   npx tsx bench/view.ts
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { initBackend } from '../src/backend/init.js';
import { view } from '../src/commands/view.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { exportRunToOnnx } from '../src/infer/onnx-export.js';
import { OnnxModel } from '../src/infer/onnx-runtime.js';
import { buildModel } from '../src/models/index.js';
import { saveLayersModel } from '../src/run/checkpoint.js';
import { seriesInput } from '../src/view/web/model-input.js';
import type { BenchRow } from './bench.js';

const SLICES = 40;
const SIZE = 512;

/** A head-like 512² slice: air, scalp, skull, brain with a little noise; stored = HU + 1024. */
function phantom(seed: number): Int16Array {
  const px = new Int16Array(SIZE * SIZE);
  let s = seed * 2654435761 + 1;
  const c = SIZE / 2;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const r = Math.hypot((x - c) / (0.38 * SIZE), (y - c) / (0.45 * SIZE));
      const hu = r < 0.86 ? 30 + (s / 0x7fffffff - 0.5) * 12 : r < 0.94 ? 1200 : r < 1 ? 45 : -1000;
      px[y * SIZE + x] = Math.round(hu) + 1024;
    }
  }
  return px;
}

export async function benchView(): Promise<BenchRow[]> {
  const assets = join(import.meta.dirname, '..', 'dist', 'view-web');
  if (!existsSync(join(assets, 'index.html')) || !existsSync('/usr/bin/chromium')) return [];
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-view-'));
  try {
    const folder = join(dir, 'series');
    mkdirSync(folder);
    for (let i = 0; i < SLICES; i++) {
      const bytes = encodeSlice({
        rows: SIZE,
        cols: SIZE,
        stored: phantom(i),
        bitsAllocated: 16,
        bitsStored: 16,
        pixelRepresentation: 1,
        rescaleIntercept: -1024,
        rescaleSlope: 1,
        patientId: 'ID_bench',
        studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
        seriesInstanceUid: '1.2.826.0.1.3680043.8.498.1.1',
        sopInstanceUid: `1.2.826.0.1.3680043.8.498.1.1.${i + 1}`,
        imagePositionPatient: [-125, -125, 5 * i],
        imageOrientationPatient: [1, 0, 0, 0, 1, 0],
        instanceNumber: i + 1,
        modality: 'CT',
      });
      writeFileSync(join(folder, `${i}.dcm`), bytes);
    }
    await initBackend('wasm');
    const run = join(dir, 'run');
    const card = {
      arch: 'efficientnet_b0',
      size: 256,
      channels: 3,
      context: 0 as const,
      preprocessing: 'none' as const,
      cacheChannels: 3,
      cacheSize: 256,
      windows: DEFAULT_WINDOWS.map((w) => ({ ...w })),
      rsnaFix: true,
    };
    const m = buildModel('efficientnet_b0', { inputShape: [256, 256, 3] });
    await saveLayersModel(m, join(run, 'best'), card);
    m.dispose();
    const onnx = join(dir, 'b0.onnx');
    await exportRunToOnnx(run, onnx, { cam: true });
    const server = await view({ folder, model: onnx, port: 0, assets });
    const browser = await chromium.launchPersistentContext(join(dir, 'chromium'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="1"]');
      const uid = server.index.studies[0]!.series[0]!.seriesInstanceUid;
      // A string, not a function: tsx's name helpers do not exist in the page.
      const r = (await page.evaluate(`(async () => {
        const v = window.ichdetView;
        const n = ${SLICES};
        let t = performance.now();
        await v.openSeries(${JSON.stringify(uid)});
        const first = performance.now() - t;
        const pass = async () => {
          t = performance.now();
          for (let k = 1; k < n; k++) await v.go(k);
          for (let k = n - 2; k >= 0; k--) await v.go(k);
          return (2 * (n - 1)) / ((performance.now() - t) / 1000);
        };
        const cold = await pass();
        const warm = await pass();
        document.querySelector('button[data-preset="subdural"]').click();
        const rewindow = await pass();
        const a1 = await v.analyse();
        const a2 = await v.analyse();
        return { first, cold, warm, rewindow, a1, a2, isolated: crossOriginIsolated };
      })()`)) as {
        first: number;
        cold: number;
        warm: number;
        rewindow: number;
        a1: {
          ms: number;
          threads: number;
          backend: string;
          load: { import: number; adapter: number; session: number };
        };
        a2: { ms: number };
        isolated: boolean;
      };
      // onnxruntime-node on the same inputs, built by the same code.
      // A fresh page: open the series, let it sit still until the worker has preloaded, analyse.
      const fresh = await browser.newPage();
      await fresh.goto(server.url);
      await fresh.waitForSelector('body[data-ready="1"]');
      const pre = (await fresh.evaluate(`(async () => {
        const v = window.ichdetView;
        const t = performance.now();
        await v.openSeries(${JSON.stringify(uid)});
        while (v.workerReady() === null) await new Promise((r) => setTimeout(r, 50));
        await v.workerReady();
        const preload = performance.now() - t;
        const a = await v.analyse();
        return { preload, ms: a.ms };
      })()`)) as { preload: number; ms: number };
      await fresh.close();
      const { readSlice } = await import('../src/dicom/read.js');
      const slices = await Promise.all(
        server.index.studies[0]!.series[0]!.instances.map((i) => readSlice(join(folder, i.file))),
      );
      const x = seriesInput(slices, card);
      const threads = Math.min(4, availableParallelism());
      let nodeSeconds = Number.NaN;
      let nodeBackend = 'none';
      try {
        const t0 = performance.now();
        const om = await OnnxModel.load(onnx, { backend: 'native', threads });
        const per = 256 * 256 * 3;
        for (let i = 0; i < SLICES; i += 8) {
          await om.run(x.slice(i * per, Math.min(SLICES, i + 8) * per), Math.min(8, SLICES - i));
        }
        nodeSeconds = (performance.now() - t0) / 1000;
        nodeBackend = om.backend;
        await om.close();
      } catch {
        // onnxruntime-node is an optional peer; without it the row is left out.
      }
      const rows: BenchRow[] = [
        {
          name: `view: first image of a ${SLICES}-slice ${SIZE}² series (Chromium, localhost)`,
          value: r.first / 1000,
          unit: 's',
          target: '< 1 s',
        },
        {
          name: 'view: scrolling, first pass (fetch + decode + window + draw)',
          value: r.cold,
          unit: 'slices/s',
          target: '≥ 30',
        },
        {
          name: 'view: scrolling, second pass, same window (windowed images kept)',
          value: r.warm,
          unit: 'slices/s',
          target: '≥ 30',
        },
        {
          name: 'view: scrolling after a window change (pixels cached, HU → window → draw)',
          value: r.rewindow,
          unit: 'slices/s',
          target: '≥ 30',
        },
        {
          name: `view: in-browser EfficientNet-B0 256², ${SLICES} slices, first run incl. model load (ort-web ${r.a1.backend}, ${r.a1.threads} threads${r.isolated ? ', isolated' : ''}; load: import ${(r.a1.load.import / 1000).toFixed(2)} s, session ${(r.a1.load.session / 1000).toFixed(2)} s)`,
          value: r.a1.ms / 1000,
          unit: 's',
          target: '< 10 s',
        },
        {
          name: `view: in-browser EfficientNet-B0 256², ${SLICES} slices, first run on a fresh page after the idle preload (preload done ${(pre.preload / 1000).toFixed(1)} s after opening the series)`,
          value: pre.ms / 1000,
          unit: 's',
          target: '< 10 s',
        },
        {
          name: `view: in-browser EfficientNet-B0 256², ${SLICES} slices, second run`,
          value: r.a2.ms / 1000,
          unit: 's',
          target: '< 10 s',
        },
      ];
      if (Number.isFinite(nodeSeconds)) {
        rows.push({
          name: `onnxruntime-node (${nodeBackend}, ${threads} threads), same ${SLICES} inputs incl. model load`,
          value: nodeSeconds,
          unit: 's',
          target: '(comparison)',
        });
      }
      return rows;
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchView()) {
    process.stdout.write(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (target ${r.target})\n`);
  }
}
