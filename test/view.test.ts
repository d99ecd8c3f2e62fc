/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `ichdet view` end to end in a real browser: Debian's chromium driven by playwright-core, the
 * viewer's server on a free 127.0.0.1 port, a tiny synthetic study, a tiny MobileNetV2 exported
 * to ONNX with its CAM output, and its predictions from `ichdet predict` on onnxruntime-node.
 * A second server on the same folder adds a tiny trained series model (stage 2) and the run's
 * per-label thresholds; a third checks CORS from the first page's origin.
 * Screenshots go to test-output/view/.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  model as functionalModel,
  input,
  type LayersModel,
  layers,
  type SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import type * as OrtTypes from 'onnxruntime-web';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViewClient } from '../scripts/build-view.js';
import { initBackend } from '../src/backend/init.js';
import { exportSeriesOnnxCommand } from '../src/commands/export-series-onnx.js';
import { predict } from '../src/commands/predict.js';
import { synth } from '../src/commands/synth.js';
import { type ViewResult, view } from '../src/commands/view.js';
import { toUint8 } from '../src/dicom/quantize.js';
import { readSlice } from '../src/dicom/read.js';
import { DEFAULT_WINDOWS, windowTransform } from '../src/dicom/window.js';
import { ConfigError } from '../src/errors.js';
import { exportOnnx, exportRunToOnnx } from '../src/infer/onnx-export.js';
import { inspectModel } from '../src/infer/onnx-proto.js';
import type { SlicePrediction } from '../src/infer/predict.js';
import { encodeNpy } from '../src/io/npy.js';
import { encodePngGray8 } from '../src/io/png.js';
import { LABEL_NAMES } from '../src/labels.js';
import { buildModel } from '../src/models/index.js';
import { saveLayersModel } from '../src/run/checkpoint.js';
import { loadSeriesAggregator, seriesThreshold } from '../src/series/aggregator.js';
import { withSeededRandom } from '../src/train/seeded.js';
import { Rng } from '../src/util/rng.js';
import { csvFields } from '../src/view/results.js';
import { checkBinding, startViewServer } from '../src/view/server.js';
import { tinySeriesRun } from './fixtures.js';
import { writeSynthFeatures } from './series-data.js';

const root = join(import.meta.dirname, '..');
const shots = join(root, 'test-output', 'view');
let dir: string;
let images: string;
let server: ViewResult;
let browser: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];
/** The served predictions, by image id: the six probabilities. */
const served = new Map<string, number[]>();
let threshold = 0.5;
/** Slices (in series order) given a heatmap file, and the one given a mask. */
const HEAT_SLICES = [2, 5];
const MASK_SLICE = 3;
/** The subtype triage thresholds written into the run's eval/metrics.json (any: a decoy). */
const runThresholds: number[] = [];
/** The series run (stage 2), its server and page. */
let srun: string;
let server2: ViewResult;
let page2: Page;

/**
 * Random head and He-scaled kernels, so the probabilities differ between slices and labels (a
 * fresh head has a zero kernel: every output would be 0.5).
 */
function randomise(m: LayersModel, rng: Rng): void {
  for (const l of m.layers) {
    if (!/^(Conv2D|DepthwiseConv2D|Dense)$/.test(l.getClassName())) continue;
    l.setWeights(
      l.getWeights().map((t, i) => {
        const name = l.weights[i]?.name ?? '';
        if (!name.includes('kernel')) return t;
        const fanIn = name.includes('depthwise')
          ? (t.shape[0] ?? 1) * (t.shape[1] ?? 1)
          : t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const a = Math.sqrt(6 / fanIn) * (l.getClassName() === 'Dense' ? 8 : 1);
        return tf.tensor(
          Float32Array.from({ length: t.size }, () => rng.uniform(-a, a)),
          t.shape,
        );
      }),
    );
  }
}

function get(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: Buffer }> {
  // A raw request: fetch() would normalise `..` away before sending.
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-view-'));
  mkdirSync(shots, { recursive: true });
  await initBackend('wasm');
  const data = join(dir, 'synth');
  await synth({
    out: data,
    patients: 1,
    size: 64,
    slicesPerSeries: '8:8',
    prevalence: 'balanced',
    workers: 1,
    progress: false,
    seed: 7,
  });
  images = join(data, 'stage_2_train');
  // A tiny MobileNetV2 at 32², saved as a run with its input card, exported with the CAM output.
  const run = join(dir, 'run');
  const m = withSeededRandom(new Rng(3), () =>
    buildModel('mobilenet_v2', { inputShape: [32, 32, 3] }),
  );
  randomise(m, new Rng(5));
  await saveLayersModel(m, join(run, 'best'), {
    arch: 'mobilenet_v2',
    size: 32,
    channels: 3,
    context: 0,
    preprocessing: 'tf',
    cacheChannels: 3,
    cacheSize: 32,
    windows: DEFAULT_WINDOWS.map((w) => ({ ...w })),
    rsnaFix: true,
  });
  m.dispose();
  const onnx = join(run, 'best', 'model.onnx');
  await exportRunToOnnx(run, onnx, { cam: true });
  // The reference: ichdet predict on onnxruntime-node, at a threshold between the 4th and 5th
  // highest `any` (a first run finds them), so half the slices are flagged.
  const pred = join(dir, 'pred');
  const common = { model: run, inputs: [images], runtime: 'onnx', onnxBackend: 'native' };
  const first = await predict({ ...common, out: join(dir, 'pred0'), progress: false });
  const anys = first.slices.map((s) => s.p[5]!).sort((a, b) => b - a);
  threshold = (anys[3]! + anys[4]!) / 2;
  await predict({ ...common, threshold, out: pred, progress: false });
  const lines = readFileSync(join(pred, 'slices.csv'), 'utf8').trim().split('\n');
  for (const l of lines.slice(1)) {
    const f = csvFields(l);
    served.set(f[0]!, f.slice(6, 12).map(Number));
  }
  // The run's evaluation (of run/best): per subtype a triage threshold between the 3rd and 4th
  // highest served probability; `any` gets a decoy (the strip's `any` row must use predict's
  // threshold, which flags 4).
  for (let l = 0; l < 5; l++) {
    const v = [...served.values()].map((p) => p[l]!).sort((a, b) => b - a);
    runThresholds.push((v[2]! + v[3]!) / 2);
  }
  mkdirSync(join(run, 'eval'));
  writeFileSync(
    join(run, 'eval', 'metrics.json'),
    JSON.stringify({
      model: join(run, 'best'),
      metrics: {
        labels: Object.fromEntries(
          LABEL_NAMES.map((name, l) => [
            name,
            { triage: { threshold: l < 5 ? runThresholds[l]! : 0.001 } },
          ]),
        ),
      },
    }),
  );
  // A tiny series model, trained on synthetic features, exported to ONNX (export-onnx SRUN).
  srun = join(dir, 'srun');
  const features = join(dir, 'features');
  await writeSynthFeatures(features, { patients: 8, folds: 2, maxSlices: 16, seed: 4 });
  await tinySeriesRun({ features, out: srun });
  await exportSeriesOnnxCommand({ run: srun, verify: false });
  // Heatmaps for two slices, a corrupt file and a symlink out of the folder.
  const ids = first.slices.map((s) => s.imageId);
  const cam = join(dir, 'cam');
  mkdirSync(cam);
  for (const k of HEAT_SLICES) {
    const map = Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 64) / 63);
    writeFileSync(join(cam, `${ids[k]}_any.npy`), encodeNpy(map, [64, 64]));
  }
  const masks = join(dir, 'masks');
  mkdirSync(masks);
  // A subdural (bit 4) square in the 64² mask of one slice, as ichdet synth writes them.
  const mask = new Uint8Array(64 * 64);
  for (let y = 20; y < 40; y++) for (let x = 10; x < 30; x++) mask[y * 64 + x] = 1 << 4;
  writeFileSync(join(masks, `${ids[MASK_SLICE]}.png`), encodePngGray8(mask, 64, 64));
  writeFileSync(join(images, 'corrupt.dcm'), Buffer.from('this is not DICOM at all'));
  writeFileSync(join(dir, 'secret.txt'), 'outside the served folder');
  symlinkSync(join(dir, 'secret.txt'), join(images, 'escape.dcm'));
  const assets = await buildViewClient(join(dir, 'web'));
  server = await view({
    folder: images,
    predictions: pred,
    cam,
    masks,
    model: onnx,
    port: 0,
    assets,
  });
  // A fresh profile; without the background-networking flags Chromium keeps calling home.
  browser = await chromium.launchPersistentContext(join(dir, 'chromium'), {
    viewport: { width: 1280, height: 900 },
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
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="1"]');
  server2 = await view({
    folder: images,
    predictions: pred,
    seriesModel: srun,
    model: onnx,
    port: 0,
    assets,
  });
  page2 = await browser.newPage();
  page2.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page2.on('pageerror', (err) => consoleErrors.push(err.message));
  await page2.goto(server2.url);
  await page2.waitForSelector('body[data-ready="1"]');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await server2?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The grey level at the centre of each image pixel, on the 512² canvas showing a 64² slice. */
async function canvasGrey(): Promise<number[]> {
  return page.evaluate(() => {
    const c = document.getElementById('view') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const out: number[] = [];
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) out.push(d[((y * 8 + 4) * c.width + x * 8 + 4) * 4]!);
    }
    return out;
  });
}

async function waitRender(after: number): Promise<void> {
  await page.waitForFunction(
    (n) => Number(document.getElementById('view')!.dataset.renders ?? 0) > n,
    after,
  );
}

const renders = () =>
  page.evaluate(() => Number(document.getElementById('view')!.dataset.renders ?? 0));
const shownSlice = () =>
  page.evaluate(() => Number(document.getElementById('view')!.dataset.slice));

describe('ichdet view in a real browser', () => {
  it('lists the study with its 8 slices, flag and any score, under the research-use banner', async () => {
    const rows = await page.$$eval('#studies tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(rows).toHaveLength(1);
    const maxAny = Math.max(...[...served.values()].map((p) => p[5]!));
    expect(rows[0]![0]).toBe('⚑ FLAG');
    expect(rows[0]![1]).toBe(maxAny.toFixed(3));
    expect(rows[0]![5]).toBe('8');
    expect(await page.textContent('#banner')).toMatch(/Research use only — not for diagnosis/);
    await page.click('#studies tbody tr');
    await page.waitForSelector('#view[data-slice="0"]');
    expect(await page.textContent('#bl')).toMatch(/^slice 1\/8/);
    expect(consoleErrors).toEqual([]);
  });

  it('the strip has one mark per slice and label with the served probabilities and the threshold', async () => {
    const marks = await page.$$eval('.strip-row', (rows) =>
      rows.map((r) => ({
        label: (r as HTMLElement).dataset.label,
        p: [...r.querySelectorAll<HTMLElement>('.mark')].map((m) => Number(m.dataset.p)),
        hot: r.querySelectorAll('.mark.hot').length,
      })),
    );
    expect(marks.map((m) => m.label)).toEqual([
      'epidural',
      'intraparenchymal',
      'intraventricular',
      'subarachnoid',
      'subdural',
      'any',
    ]);
    const ids = await page.evaluate(() =>
      (
        window as unknown as {
          ichdetView: { state: { series: { instances: { imageId: string }[] } } };
        }
      ).ichdetView.state.series.instances.map((i) => i.imageId),
    );
    expect(ids).toHaveLength(8);
    marks.forEach((row, l) => {
      expect(row.p).toEqual(ids.map((id) => served.get(id)![l]));
    });
    const hot = ids.filter((id) => served.get(id)![5]! >= threshold).length;
    expect(hot).toBe(4);
    expect(marks[5]!.hot).toBe(hot);
  });

  it("each strip row marks its own label threshold: the run's triage thresholds, predict's for any", async () => {
    const rows = await page.$$eval('.strip-row', (rs) =>
      rs.map((r) => ({
        t: Number((r as HTMLElement).dataset.threshold),
        line: (r.querySelector('.threshold') as HTMLElement).style.bottom,
        hot: r.querySelectorAll('.mark.hot').length,
      })),
    );
    expect(rows.map((r) => r.t)).toEqual([...runThresholds, threshold]);
    rows.forEach((r) => {
      expect(Number.parseFloat(r.line)).toBeCloseTo(r.t * 100, 3);
    });
    // The marks above each row's own threshold.
    const ps = [...served.values()];
    const want = rows.map((r, l) => ps.filter((p) => p[l]! >= r.t).length);
    expect(rows.map((r) => r.hot)).toEqual(want);
    expect(want[5]).toBe(4);
    // With the `any` threshold for every row, some subtype row would mark a different count.
    expect(want.slice(0, 5)).not.toEqual(
      [0, 1, 2, 3, 4].map((l) => ps.filter((p) => p[l]! >= threshold).length),
    );
  });

  it("without predictions, the strip thresholds of --model RUN are its run's (any: its triage point, as predict picks it)", async () => {
    const v = await view({
      folder: images,
      model: join(dir, 'run'),
      port: 0,
      assets: join(dir, 'web'),
    });
    try {
      const info = (await (await fetch(`${v.url}api/info`)).json()) as {
        thresholds: { stage1: number[] };
      };
      expect(info.thresholds.stage1).toEqual([...runThresholds, 0.001]);
    } finally {
      await v.close();
    }
  });

  it('a window preset changes the canvas pixels exactly as the Node windowing predicts', async () => {
    const ids = await page.evaluate(() =>
      (
        window as unknown as {
          ichdetView: { state: { series: { instances: { sopInstanceUid: string }[] } } };
        }
      ).ichdetView.state.series.instances.map((i) => i.sopInstanceUid),
    );
    const file = server.index.studies[0]!.series[0]!.instances.find(
      (i) => i.sopInstanceUid === ids[0],
    )!.file;
    const slice = await readSlice(join(images, file));
    const brain = Array.from(toUint8(windowTransform({ center: 40, width: 80 })(slice.hu)));
    expect(await canvasGrey()).toEqual(brain);
    const n = await renders();
    await page.click('button[data-preset="bone"]');
    await waitRender(n);
    const bone = Array.from(toUint8(windowTransform({ center: 600, width: 2800 })(slice.hu)));
    const got = await canvasGrey();
    expect(got).toEqual(bone);
    expect(got).not.toEqual(brain);
    expect(await page.textContent('#br')).toBe('W 2800  C 600');
    await page.click('button[data-preset="brain"]');
    await page.screenshot({ path: join(shots, 'brain-window.png') });
  });

  it('clicking the strip, the arrow keys, the wheel and the next-flagged key change the slice', async () => {
    await page.click('.strip-row[data-label="any"] .mark[data-slice="6"]');
    await page.waitForSelector('#view[data-slice="6"]');
    await page.keyboard.press('ArrowUp');
    await page.waitForSelector('#view[data-slice="5"]');
    await page.mouse.move(640, 400);
    await page.hover('#view');
    await page.mouse.wheel(0, 100);
    await page.waitForSelector('#view[data-slice="6"]');
    const flagged = await page.$$eval('.strip-row[data-label="any"] .mark.hot', (ms) =>
      ms.map((m) => Number((m as HTMLElement).dataset.slice)),
    );
    expect(flagged.length).toBeGreaterThan(0);
    const expected = flagged.find((k) => k > 6) ?? flagged[0]!;
    await page.keyboard.press('n');
    await page.waitForSelector(`#view[data-slice="${expected}"]`);
    expect(await shownSlice()).toBe(expected);
  });

  it('draws the heatmap overlay only on the slices that have one, and the mask on request', async () => {
    await page.check('#ov-heatmap');
    const seen: string[] = [];
    for (let k = 0; k < 8; k++) {
      const n = await renders();
      await page.evaluate(
        (i) => (window as unknown as { ichdetView: { go(k: number): void } }).ichdetView.go(i),
        k,
      );
      await waitRender(n);
      seen.push(await page.evaluate(() => document.getElementById('view')!.dataset.overlay ?? ''));
    }
    expect(seen).toEqual(
      Array.from({ length: 8 }, (_, k) => (HEAT_SLICES.includes(k) ? 'heatmap' : '')),
    );
    // On slice 5 the pixels differ from the plain brain window.
    await page.evaluate(() =>
      (window as unknown as { ichdetView: { go(k: number): void } }).ichdetView.go(5),
    );
    await page.waitForSelector('#view[data-slice="5"][data-overlay="heatmap"]');
    const withHeat = await canvasGrey();
    await page.screenshot({ path: join(shots, 'heatmap-overlay.png') });
    await page.uncheck('#ov-heatmap');
    await page.waitForSelector('#view[data-slice="5"][data-overlay=""]');
    expect(await canvasGrey()).not.toEqual(withHeat);
    await page.check('#ov-mask');
    await page.evaluate(
      (i) => (window as unknown as { ichdetView: { go(k: number): void } }).ichdetView.go(i),
      MASK_SLICE,
    );
    await page.waitForSelector(`#view[data-slice="${MASK_SLICE}"][data-overlay="mask"]`);
    // Inside the square the red channel is above green (translucent red); outside it is grey.
    const px = await page.evaluate(() => {
      const c = document.getElementById('view') as HTMLCanvasElement;
      const g = c.getContext('2d')!;
      const inside = g.getImageData(20 * 8 + 4, 30 * 8 + 4, 1, 1).data;
      const outside = g.getImageData(50 * 8 + 4, 30 * 8 + 4, 1, 1).data;
      return [inside[0]! - inside[1]!, outside[0]! - outside[1]!];
    });
    expect(px[0]).toBeGreaterThan(50);
    expect(px[1]).toBe(0);
    await page.screenshot({ path: join(shots, 'mask-overlay.png') });
    await page.uncheck('#ov-mask');
  });

  it('analyses the series in the browser with onnxruntime-web, equal to onnxruntime-node within 1e-4', async () => {
    const seriesUid = server.index.studies[0]!.series[0]!.seriesInstanceUid;
    const r = await page.evaluate(async (uid) => {
      const v = (
        window as unknown as {
          ichdetView: {
            analyse(): Promise<{
              p: number[][];
              backend: string;
              threads: number;
              ms: number;
              load: unknown;
            }>;
            openSeries(uid: string): Promise<void>;
            state: {
              series: { instances: { imageId: string }[] };
              analysed: Map<string, { camDims: number[] | null }>;
            };
          };
        }
      ).ichdetView;
      await v.openSeries(uid);
      const out = await v.analyse();
      const a = [...v.state.analysed.values()][0]!;
      return {
        ...out,
        ids: v.state.series.instances.map((i) => i.imageId),
        camDims: a.camDims,
        isolated: crossOriginIsolated,
      };
    }, seriesUid);
    expect(r.backend).toBe('wasm');
    expect(r.isolated).toBe(true);
    expect(r.p).toHaveLength(8);
    let max = 0;
    r.p.forEach((row, k) => {
      const want = served.get(r.ids[k]!)!;
      row.forEach((v, l) => {
        max = Math.max(max, Math.abs(v - want[l]!));
      });
    });
    expect(max).toBeLessThan(1e-4);
    // MobileNetV2 at 32² ends in a 1×1 feature map: the CAM output is [8, 1, 1, 6].
    expect(r.camDims).toEqual([8, 1, 1, 6]);
    await page.screenshot({ path: join(shots, 'analysed.png') });
    expect(consoleErrors).toEqual([]);
  });
});

/** Predict's view of the open series: its slices in order with the given probabilities. */
function slicesOf(ids: string[], positions: (number | null)[], p: number[][]): SlicePrediction[] {
  return ids.map((imageId, i) => ({
    file: imageId,
    imageId,
    patientId: 'p',
    studyUid: 's',
    seriesUid: 'x',
    index: i,
    position: positions[i] ?? null,
    p: p[i]!,
  }));
}

interface SeriesPayload {
  thresholds: number[];
  seriesAny: number | null;
  instances: { imageId: string; position: number | null; p: number[]; stage1: number[] }[];
}

/**
 * What `aggregator` makes of the served stage-1 probabilities of series `s`, and the largest
 * difference between that and the stage 2 the server sent (every probability and the series'
 * `any`).
 */
async function stageTwoGap(
  s: SeriesPayload,
  aggregator: { series: (slices: ReturnType<typeof slicesOf>) => unknown },
): Promise<{ want: { p: Float32Array | null; any: number }; max: number }> {
  const ids = s.instances.map((i) => i.imageId);
  const want = (await aggregator.series(
    slicesOf(
      ids,
      s.instances.map((i) => i.position),
      ids.map((id) => served.get(id)!),
    ),
  )) as { p: Float32Array | null; any: number };
  let max = Math.abs(want.any - s.seriesAny!);
  s.instances.forEach((inst, k) => {
    inst.p.forEach((v, l) => {
      max = Math.max(max, Math.abs(v - want.p![k * 6 + l]!));
    });
  });
  return { want, max };
}

describe('stage 2 in the viewer (--series-model)', () => {
  it("serves the series model's probabilities of the stage-1 predictions, as predict's stage 2 (tfjs) gives them", async () => {
    const uid = server2.index.studies[0]!.series[0]!.seriesInstanceUid;
    const s = (await (await fetch(`${server2.url}api/series/${uid}`)).json()) as SeriesPayload;
    const ids = s.instances.map((i) => i.imageId);
    expect(s.instances.map((i) => i.stage1)).toEqual(ids.map((id) => served.get(id)));
    const tfjs = loadSeriesAggregator(srun);
    try {
      const { want, max } = await stageTwoGap(s, tfjs);
      expect(max).toBeLessThan(1e-4);
      // Stage 2 really differs from stage 1.
      expect(s.instances[0]!.p).not.toEqual(s.instances[0]!.stage1);
      // The study flag and score are stage 2's: the series' learned `any` at SRUN's threshold.
      const t2 = seriesThreshold(srun).value;
      expect(s.thresholds).toEqual([...runThresholds, t2]);
      const rows = await page2.$$eval('#studies tbody tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      );
      expect(rows[0]![0]).toBe(want.any >= t2 ? '⚑ FLAG' : '');
      expect(rows[0]![1]).toBe(s.seriesAny!.toFixed(3));
    } finally {
      tfjs.dispose();
    }
  });

  it('the strip shows stage 2 with a toggle back to stage 1', async () => {
    await page2.click('#studies tbody tr');
    await page2.waitForSelector('#view[data-slice="0"]');
    const uid = server2.index.studies[0]!.series[0]!.seriesInstanceUid;
    const s = (await (await fetch(`${server2.url}api/series/${uid}`)).json()) as SeriesPayload;
    const strip = () =>
      page2.$$eval('.strip-row', (rs) =>
        rs.map((r) => ({
          t: Number((r as HTMLElement).dataset.threshold),
          p: [...r.querySelectorAll<HTMLElement>('.mark')].map((m) => Number(m.dataset.p)),
        })),
      );
    expect(await page2.getAttribute('#strip', 'data-stage')).toBe('2');
    expect(await page2.isVisible('#stage')).toBe(true);
    const two = await strip();
    two.forEach((row, l) => {
      expect(row.p).toEqual(s.instances.map((i) => i.p[l]));
    });
    expect(two[5]!.t).toBe(seriesThreshold(srun).value);
    await page2.selectOption('#stage', '1');
    await page2.waitForSelector('#strip[data-stage="1"]');
    const one = await strip();
    one.forEach((row, l) => {
      expect(row.p).toEqual(s.instances.map((i) => served.get(i.imageId)![l]));
    });
    expect(one.map((r) => r.t)).toEqual([...runThresholds, threshold]);
    await page2.screenshot({ path: join(shots, 'stage1-toggle.png') });
    await page2.selectOption('#stage', '2');
    await page2.waitForSelector('#strip[data-stage="2"]');
  });

  it("runs the series model's ONNX export in the browser worker after the CNN, equal to the Node-side stage 2 within 1e-4", async () => {
    const uid = server2.index.studies[0]!.series[0]!.seriesInstanceUid;
    const r = await page2.evaluate(async (u) => {
      const v = (
        window as unknown as {
          ichdetView: {
            analyse(): Promise<{ p: number[][]; p2: number[][] | null; study2: number | null }>;
            openSeries(uid: string): Promise<void>;
            state: { series: { instances: { imageId: string; position: number | null }[] } };
          };
        }
      ).ichdetView;
      await v.openSeries(u);
      const out = await v.analyse();
      const marks = [
        ...document.querySelectorAll<HTMLElement>('.strip-row[data-label="any"] .mark'),
      ].map((m) => Number(m.dataset.p));
      return {
        ...out,
        marks,
        ids: v.state.series.instances.map((i) => i.imageId),
        positions: v.state.series.instances.map((i) => i.position),
      };
    }, uid);
    expect(r.p2).toHaveLength(8);
    const tfjs = loadSeriesAggregator(srun);
    try {
      // Node's stage 2 of the browser's own stage 1.
      const want = await tfjs.series(slicesOf(r.ids, r.positions, r.p));
      let max = Math.abs(want.any - r.study2!);
      r.p2!.forEach((row, k) => {
        row.forEach((v, l) => {
          max = Math.max(max, Math.abs(v - want.p![k * 6 + l]!));
        });
      });
      expect(max).toBeLessThan(1e-4);
    } finally {
      tfjs.dispose();
    }
    expect(r.marks).toEqual(r.p2!.map((row) => row[5]));
    await page2.screenshot({ path: join(shots, 'stage2-analysed.png') });
    expect(consoleErrors).toEqual([]);
  });

  it('maps the stage-1 probabilities of a --fold-norm series run when predict ran one of its fold models', async () => {
    // A copy of SRUN whose fold-norm.json names the predictions' model as fold 0's stage-1 run.
    const cfg = JSON.parse(readFileSync(join(dir, 'pred', 'predict.json'), 'utf8')) as {
      model: string;
    };
    const normRun = join(dir, 'srun-norm');
    cpSync(srun, normRun, { recursive: true });
    const stats = (mean: number, sd: number) => ({
      rows: 8,
      mean: LABEL_NAMES.map(() => mean),
      sd: LABEL_NAMES.map(() => sd),
    });
    const norm = {
      pooled: stats(-1, 1.5),
      folds: { '0': stats(1, 0.5) },
      runs: { '0': cfg.model },
    };
    writeFileSync(join(normRun, 'fold-norm.json'), JSON.stringify(norm));
    const s3 = await startViewServer({
      folder: images,
      predictions: join(dir, 'pred'),
      seriesModel: normRun,
      port: 0,
      assets: join(dir, 'web'),
    });
    const mapped = loadSeriesAggregator(normRun, { stage1: cfg.model });
    try {
      expect(mapped.inputFold).toBe(0);
      const uid = s3.index.studies[0]!.series[0]!.seriesInstanceUid;
      const s = (await (await fetch(`${s3.url}api/series/${uid}`)).json()) as SeriesPayload;
      expect((await stageTwoGap(s, mapped)).max).toBeLessThan(1e-4);
      // Not what the unmapped probabilities give (server2: the same series run without the file).
      const plain = (await (
        await fetch(`${server2.url}api/series/${uid}`)
      ).json()) as SeriesPayload;
      expect(Math.abs(plain.seriesAny! - s.seriesAny!)).toBeGreaterThan(1e-3);
    } finally {
      mapped.dispose();
      await s3.close();
    }
  });

  it('refuses a folder without series models, and predictions that are stage 2 already, naming them', async () => {
    const assets = join(dir, 'web');
    await expect(
      startViewServer({ folder: images, seriesModel: join(dir, 'run'), port: 0, assets }),
    ).rejects.toThrow(/holds no series model .*fold0\/model\.json is missing/);
    const pred2 = join(dir, 'pred-stage2');
    mkdirSync(pred2);
    writeFileSync(join(pred2, 'slices.csv'), readFileSync(join(dir, 'pred', 'slices.csv')));
    const cfg = JSON.parse(readFileSync(join(dir, 'pred', 'predict.json'), 'utf8')) as object;
    writeFileSync(join(pred2, 'predict.json'), JSON.stringify({ ...cfg, seriesModel: srun }));
    await expect(
      startViewServer({ folder: images, predictions: pred2, seriesModel: srun, port: 0, assets }),
    ).rejects.toThrow(/holds stage-2 probabilities already \(predict --series-model /);
  });
});

describe('the cam output of export-onnx', () => {
  it('is the last feature map times the dense kernel, computed by hand, and leaves probabilities alone', async () => {
    // 2×2×1 input → 1×1 conv to 2 channels (relu) → GAP → Dense(6, sigmoid).
    const inp = input({ shape: [2, 2, 1] });
    const conv = layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'feat' });
    const f = conv.apply(inp) as SymbolicTensor;
    const gap = layers.globalAveragePooling2d({ name: 'head_pool' }).apply(f) as SymbolicTensor;
    const dense = layers.dense({ units: 6, activation: 'sigmoid', name: 'head_dense' });
    const model = functionalModel({ inputs: inp, outputs: dense.apply(gap) as SymbolicTensor });
    conv.setWeights([tf.tensor4d([1, -1], [1, 1, 1, 2]), tf.tensor1d([0, 0])]);
    const W = [1, 2, 3, 4, 5, 6, -1, 0, 1, 0, -2, 0.5]; // [2, 6], row-major
    dense.setWeights([tf.tensor2d(W, [2, 6]), tf.tensor1d([0, 0, 0, 0, 0, 0.25])]);
    const bytes = exportOnnx(model, { cam: true });
    model.dispose();
    const header = inspectModel(bytes);
    expect(header.outputs).toEqual([
      { name: 'probabilities', shape: ['N', 6] },
      { name: 'cam', shape: ['N', 2, 2, 6] },
    ]);
    const ort = (await import('onnxruntime-node')) as unknown as typeof OrtTypes;
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.of(2, -3, 0.5, 0); // pixels → features relu(x), relu(−x)
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 2, 2, 1]) });
    const cam = Array.from(out.cam!.data as Float32Array);
    const want: number[] = [];
    for (const v of x) {
      const feats = [Math.max(0, v), Math.max(0, -v)];
      for (let k = 0; k < 6; k++) want.push(feats[0]! * W[k]! + feats[1]! * W[6 + k]!);
    }
    for (const [i, v] of cam.entries()) expect(v).toBeCloseTo(want[i]!, 5);
    // probabilities = sigmoid(mean over pixels of the CAM + bias).
    const p = Array.from(out.probabilities!.data as Float32Array);
    for (let k = 0; k < 6; k++) {
      const mean = (want[k]! + want[6 + k]! + want[12 + k]! + want[18 + k]!) / 4;
      expect(p[k]).toBeCloseTo(1 / (1 + Math.exp(-(mean + (k === 5 ? 0.25 : 0)))), 5);
    }
    await session.release();
    // Without the ichdet head there is no CAM to give.
    const inp2 = input({ shape: [2, 2, 1] });
    const bare = functionalModel({
      inputs: inp2,
      outputs: layers
        .conv2d({ filters: 2, kernelSize: 1, name: 'bare' })
        .apply(inp2) as SymbolicTensor,
    });
    expect(() => exportOnnx(bare, { cam: true })).toThrow(/the cam output needs the ichdet head/);
  });
});

describe('the DICOMweb subset', () => {
  it('answers QIDO-RS for studies, series and instances as application/dicom+json', async () => {
    const st = server.index.studies[0]!;
    const se = st.series[0]!;
    const studies = await get('/dicomweb/studies');
    expect(studies.type).toBe('application/dicom+json');
    const sj = JSON.parse(studies.body.toString()) as Record<string, { Value?: unknown[] }>[];
    expect(sj).toHaveLength(1);
    expect(sj[0]!['0020000D']!.Value).toEqual([st.studyInstanceUid]);
    expect(sj[0]!['00201208']!.Value).toEqual([8]);
    const series = JSON.parse(
      (await get(`/dicomweb/studies/${st.studyInstanceUid}/series`)).body.toString(),
    ) as Record<string, { Value?: unknown[] }>[];
    expect(series.map((s) => s['0020000E']!.Value![0])).toEqual([se.seriesInstanceUid]);
    const inst = JSON.parse(
      (
        await get(
          `/dicomweb/studies/${st.studyInstanceUid}/series/${se.seriesInstanceUid}/instances`,
        )
      ).body.toString(),
    ) as Record<string, { Value?: unknown[] }>[];
    expect(inst.map((i) => i['00080018']!.Value![0])).toEqual(
      se.instances.map((i) => i.sopInstanceUid),
    );
    expect((await get('/dicomweb/studies/1.2.3.404/series')).status).toBe(404);
  });

  it('retrieves an instance with WADO-RS as multipart/related and its metadata', async () => {
    const st = server.index.studies[0]!;
    const se = st.series[0]!;
    const i = se.instances[3]!;
    const base = `/dicomweb/studies/${st.studyInstanceUid}/series/${se.seriesInstanceUid}/instances/${i.sopInstanceUid}`;
    const r = await get(base);
    expect(r.type).toMatch(/^multipart\/related; type="application\/dicom"; boundary=/);
    const boundary = /boundary=(.+)$/.exec(r.type)![1]!;
    const file = readFileSync(join(images, i.file));
    const head = Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
    expect(r.body.subarray(0, head.length).equals(head)).toBe(true);
    expect(r.body.subarray(head.length, head.length + file.length).equals(file)).toBe(true);
    expect(r.body.subarray(head.length + file.length).toString()).toBe(`\r\n--${boundary}--\r\n`);
    const meta = JSON.parse((await get(`${base}/metadata`)).body.toString()) as Record<
      string,
      { vr: string; Value?: unknown[]; BulkDataURI?: string }
    >[];
    expect(meta[0]!['00080018']!.Value).toEqual([i.sopInstanceUid]);
    expect(meta[0]!['00280010']!.Value).toEqual([64]);
    expect(meta[0]!['7FE00010']!.BulkDataURI).toBe(`${base}/frames/1`);
  });
});

describe('security and bad files', () => {
  it('answers 404 to path traversal and to a symlink that leaves the folder', async () => {
    const ok = await get(`/files/${server.index.studies[0]!.series[0]!.instances[0]!.file}`);
    expect(ok.status).toBe(200);
    for (const path of [
      '/files/../secret.txt',
      '/files/..%2Fsecret.txt',
      '/files/%2e%2e/%2e%2e/etc/passwd',
      '/files/escape.dcm',
      '/files//etc/passwd',
    ]) {
      const r = await get(path);
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.body.toString()).not.toContain('outside the served folder');
    }
    expect(server.index.studies[0]!.series[0]!.instances.map((i) => i.file)).not.toContain(
      'escape.dcm',
    );
  });

  it('refuses a non-loopback host without a token before binding, and checks the token on every request', async () => {
    expect(() => checkBinding('0.0.0.0', undefined)).toThrow(ConfigError);
    expect(() => checkBinding('192.168.1.20', undefined)).toThrow(
      /--host 192\.168\.1\.20 is reachable from other machines; it needs --token/,
    );
    expect(() => checkBinding('0.0.0.0', 'a-long-secret')).not.toThrow();
    expect(() => checkBinding('127.0.0.1', undefined)).not.toThrow();
    await expect(view({ folder: images, host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /needs --token/,
    );
    const guarded = await startViewServer({
      folder: images,
      port: 0,
      token: 'sesame-open-42',
      assets: join(dir, 'web'),
    });
    try {
      const base = guarded.url.replace(/\/\?token=.*$/, '');
      expect((await fetch(`${base}/api/studies`)).status).toBe(401);
      expect(
        (
          await fetch(`${base}/dicomweb/studies`, {
            headers: { Authorization: 'Bearer wrong-token-x' },
          })
        ).status,
      ).toBe(401);
      const ok = await fetch(`${base}/dicomweb/studies`, {
        headers: { Authorization: 'Bearer sesame-open-42' },
      });
      expect(ok.status).toBe(200);
      const first = await fetch(guarded.url);
      expect(first.status).toBe(200);
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      expect((await fetch(`${base}/api/info`, { headers: { cookie } })).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('lists a corrupt DICOM as unreadable and still serves the rest', async () => {
    const info = (await (await fetch(`${server.url}api/info`)).json()) as {
      unreadable: { file: string; reason: string }[];
    };
    expect(info.unreadable.map((u) => u.file)).toEqual(['corrupt.dcm']);
    expect(info.unreadable[0]!.reason).toMatch(/corrupt\.dcm/);
    expect(await page.textContent('#unreadable')).toBe('Unreadable (1): corrupt.dcm');
    expect(server.index.studies[0]!.series[0]!.instances).toHaveLength(8);
  });

  it('--cors lets one other origin read the DICOMweb routes (preflight included), the token still required', async () => {
    const origin = new URL(server.url).origin;
    const guarded = await startViewServer({
      folder: images,
      port: 0,
      token: 'sesame-open-42',
      cors: origin,
      assets: join(dir, 'web'),
    });
    try {
      const base = guarded.url.replace(/\/\?token=.*$/, '');
      // From the first server's page (another origin): a real browser CORS request, with the
      // Authorization header (so a preflight OPTIONS first).
      const got = await page.evaluate(async (b) => {
        const tryFetch = async (url: string, init?: RequestInit) => {
          try {
            const r = await fetch(url, init);
            return { status: r.status, body: r.status === 200 ? await r.json() : null };
          } catch (err) {
            return { status: -1, body: String(err) };
          }
        };
        return {
          ok: await tryFetch(`${b}/dicomweb/studies`, {
            headers: { Authorization: 'Bearer sesame-open-42' },
          }),
          noToken: await tryFetch(`${b}/dicomweb/studies`),
          wrong: await tryFetch(`${b}/dicomweb/studies`, {
            headers: { Authorization: 'Bearer wrong-token-x' },
          }),
          api: await tryFetch(`${b}/api/studies`, {
            headers: { Authorization: 'Bearer sesame-open-42' },
          }),
        };
      }, base);
      expect(got.ok.status).toBe(200);
      expect((got.ok.body as Record<string, { Value: string[] }>[])[0]!['0020000D']!.Value).toEqual(
        [server.index.studies[0]!.studyInstanceUid],
      );
      expect(got.noToken.status).toBe(401);
      expect(got.wrong.status).toBe(401);
      // The viewer's own API is not shared: the browser blocks the read.
      expect(got.api.status).toBe(-1);
      // The raw exchange: the preflight answers the origin only; another origin gets no header.
      const pre = await fetch(`${base}/dicomweb/studies`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'authorization',
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
      const other = await fetch(`${base}/dicomweb/studies`, {
        headers: { Origin: 'http://evil.test', Authorization: 'Bearer sesame-open-42' },
      });
      expect(other.status).toBe(200);
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      // Without --cors, no CORS header at all.
      const plain = await fetch(`${server.url}dicomweb/studies`, { headers: { Origin: origin } });
      expect(plain.headers.get('access-control-allow-origin')).toBeNull();
      await expect(
        startViewServer({
          folder: images,
          port: 0,
          cors: 'localhost:3000/x',
          assets: join(dir, 'web'),
        }),
      ).rejects.toThrow(/--cors must be an origin/);
    } finally {
      await guarded.close();
    }
  });

  it('sends COOP/COEP so the page is cross-origin isolated', async () => {
    const r = await fetch(server.url);
    expect(r.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(r.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });
});
