/**
 * The viewer page: a triage worklist of the served studies, the series as a stack (wheel /
 * arrow keys, window presets, drag to window, shift-drag to pan, ctrl-wheel to zoom, corner
 * text), the per-slice probability strip (six rows, threshold marked, click to jump, `n` for
 * the next flagged slice), heatmap and mask overlays with an opacity, and "Analyse in browser"
 * (onnxruntime-web in worker.ts). Pixels come from render.ts, i.e. ichdet's own HU and windowing.
 * Each strip row marks its own label's threshold. With a series model (`view --series-model`) the
 * strip shows stage 2 (the served stage-2 probabilities, or the worker's stage 2 after the CNN in
 * the browser) and a toggle switches the rows to stage 1.
 */
import { type CropBox, headBox } from '../../dicom/crop.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../../labels.js';
import { seriesSliceInputs } from '../../series/slice-inputs.js';
import type { ModelCardLite, StoredSlice } from './model-input.js';
import { seriesInput } from './model-input.js';
import type { WorkerReply, WorkerRequest } from './protocol.js';
import {
  camSlice,
  greyOf,
  greyToRgba,
  heatToRgba,
  huOf,
  maskToRgba,
  storedFromBytes,
  VIEW_PRESETS,
} from './render.js';

const LABELS = LABEL_NAMES;
const ANY = ANY_INDEX;

interface Info {
  threshold: number | null;
  thresholds: { stage1: number[]; stage2: number[] | null };
  seriesModels: number;
  model: boolean;
  unreadable: { file: string; reason: string }[];
}
interface StudyRow {
  studyUid: string;
  patientId: string;
  patientName: string;
  series: { seriesUid: string; description: string; slices: number }[];
  slices: number;
  any: number | null;
  flag: boolean | null;
}
interface InstanceRow {
  sopInstanceUid: string;
  imageId: string;
  position: number | null;
  instanceNumber: number | null;
  rows: number;
  cols: number;
  p: number[] | null;
  /** The CNN's probabilities when `p` is stage 2's. */
  stage1: number[] | null;
  flag: boolean | null;
  heatmaps: string[];
  mask: boolean;
}
interface SeriesData {
  studyUid: string;
  seriesUid: string;
  patientId: string;
  threshold: number | null;
  instances: InstanceRow[];
}
interface LoadedSlice extends StoredSlice {
  hu: Float32Array;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('view');
const ctx = canvas.getContext('2d', { willReadFrequently: true })!;

const state = {
  info: null as Info | null,
  studies: [] as StudyRow[],
  sort: { key: 'flag', desc: true },
  series: null as SeriesData | null,
  index: 0,
  window: { center: 40, width: 80 },
  zoom: 1,
  pan: { x: 0, y: 0 },
  label: ANY,
  heatmap: false,
  mask: false,
  opacity: 0.45,
  /** Which probabilities the strip shows when there are two stages. */
  stage: 2 as 1 | 2,
  /** Browser results per series: probabilities per slice (stage 1, and stage 2 with a series model) and CAMs. */
  analysed: new Map<
    string,
    {
      p: number[][];
      p2: number[][] | null;
      study2: number | null;
      cam: Float32Array | null;
      camDims: number[] | null;
      /** Per slice, the square its model input covered (a `--crop head` model), else null. */
      boxes: (CropBox | null)[];
    }
  >(),
  renders: 0,
};
const slices = new Map<string, Promise<LoadedSlice>>();
const overlays = new Map<string, Promise<HTMLCanvasElement | null>>();

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

function loadSlice(sop: string): Promise<LoadedSlice> {
  let p = slices.get(sop);
  if (!p) {
    p = (async () => {
      const r = await fetch(`/api/instances/${encodeURIComponent(sop)}/stored`);
      if (!r.ok) throw new Error(`pixels of ${sop}: HTTP ${r.status}`);
      const attrs = JSON.parse(r.headers.get('X-Hu') ?? '{}') as Omit<
        StoredSlice,
        'stored' | 'rows' | 'cols'
      >;
      const stored = storedFromBytes(await r.arrayBuffer(), r.headers.get('X-Dtype') ?? '');
      const rows = Number(r.headers.get('X-Rows'));
      const cols = Number(r.headers.get('X-Cols'));
      return { ...attrs, stored, rows, cols, hu: huOf(stored, attrs) };
    })();
    slices.set(sop, p);
  }
  return p;
}

function toCanvas(
  rgba: Uint8ClampedArray<ArrayBuffer>,
  rows: number,
  cols: number,
): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = cols;
  c.height = rows;
  c.getContext('2d')!.putImageData(new ImageData(rgba, cols, rows), 0, 0);
  return c;
}

/** The overlay canvas of a slice for the current label (heatmap or mask), or null. */
function overlayOf(
  kind: 'heatmap' | 'mask',
  inst: InstanceRow,
  k: number,
): Promise<HTMLCanvasElement | null> {
  const label = LABELS[state.label]!;
  const key = `${kind}|${inst.sopInstanceUid}|${label}`;
  let p = overlays.get(key);
  if (p) return p;
  p = (async () => {
    if (kind === 'mask') {
      if (!inst.mask) return null;
      const r = await fetch(`/api/instances/${encodeURIComponent(inst.sopInstanceUid)}/mask`);
      if (!r.ok) return null;
      const bmp = await createImageBitmap(await r.blob());
      const c = document.createElement('canvas');
      c.width = bmp.width;
      c.height = bmp.height;
      const g = c.getContext('2d', { willReadFrequently: true })!;
      g.drawImage(bmp, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const bits = new Uint8Array(c.width * c.height);
      for (let i = 0; i < bits.length; i++) bits[i] = d[i * 4]!;
      return toCanvas(maskToRgba(bits, state.label === ANY ? -1 : state.label), c.height, c.width);
    }
    if (inst.heatmaps.includes(label)) {
      const r = await fetch(
        `/api/instances/${encodeURIComponent(inst.sopInstanceUid)}/heatmap/${label}`,
      );
      if (!r.ok) return null;
      const map = new Float32Array(await r.arrayBuffer());
      return toCanvas(
        heatToRgba(map),
        Number(r.headers.get('X-Rows')),
        Number(r.headers.get('X-Cols')),
      );
    }
    const a = state.series && state.analysed.get(state.series.seriesUid);
    if (a?.cam && a.camDims) {
      const box = a.boxes[k] ?? null;
      const sl = box === null ? undefined : await loadSlice(inst.sopInstanceUid);
      const m = camSlice(
        a.cam,
        a.camDims,
        k,
        state.label,
        sl && { rows: sl.rows, cols: sl.cols, box },
      );
      return toCanvas(heatToRgba(m.map), m.rows, m.cols);
    }
    return null;
  })();
  overlays.set(key, p);
  return p;
}

/** Whether the open series has stage-2 probabilities (served, or from the browser's analysis). */
function hasStage2(): boolean {
  const s = state.series;
  if (!s) return false;
  const a = state.analysed.get(s.seriesUid);
  if (a) return a.p2 !== null;
  return s.instances.some((i) => i.stage1 !== null);
}

/** The stage the strip shows: 2 when there is one and the toggle says so. */
function shownStage(): 1 | 2 {
  return state.stage === 2 && hasStage2() ? 2 : 1;
}

function probabilities(k: number): number[] | null {
  const s = state.series;
  if (!s) return null;
  const two = shownStage() === 2;
  const a = state.analysed.get(s.seriesUid);
  if (a) return (two ? a.p2?.[k] : a.p[k]) ?? null;
  const inst = s.instances[k];
  if (!inst) return null;
  return two ? inst.p : (inst.stage1 ?? inst.p);
}

/** Windowed images of the current window, by instance: scrolling back and forth redraws them. */
const windowed = new Map<string, HTMLCanvasElement>();
let windowedKey = '';

function windowedCanvas(sop: string, slice: LoadedSlice): HTMLCanvasElement {
  const key = `${state.window.center}/${state.window.width}`;
  if (key !== windowedKey) {
    windowed.clear();
    windowedKey = key;
  }
  let c = windowed.get(sop);
  if (!c) {
    c = toCanvas(greyToRgba(greyOf(slice.hu, state.window)), slice.rows, slice.cols);
    windowed.set(sop, c);
  }
  return c;
}

/**
 * Fetches the series' pixels in the background, six at a time (the browser's connections per
 * host over HTTP/1.1), so scrolling finds them ready; then, when the page can analyse, schedules
 * the preload of the inference worker (see `schedulePreload`).
 */
async function prefetch(s: SeriesData): Promise<void> {
  const queue = s.instances.map((i) => i.sopInstanceUid);
  const worker = async () => {
    for (let sop = queue.shift(); sop !== undefined; sop = queue.shift()) {
      if (state.series !== s) return;
      await loadSlice(sop).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: PREFETCH }, worker));
  if (state.series === s) schedulePreload();
}

/**
 * Loads the inference worker (runtime, wasm compile, model session: most of a first analysis)
 * once the page has been still for PRELOAD_IDLE_MS — no render — so it does not compete with
 * scrolling, and "Analyse in browser" then finds the session ready. Every render postpones it.
 */
let preloadTimer: ReturnType<typeof setTimeout> | null = null;
let preloadWanted = false;
const PRELOAD_IDLE_MS = 1000;
function schedulePreload(): void {
  if (!state.info?.model || loaded !== null) return;
  preloadWanted = true;
  if (preloadTimer !== null) clearTimeout(preloadTimer);
  preloadTimer = setTimeout(() => {
    preloadTimer = null;
    preloadWanted = false;
    startWorker().catch(() => {
      // Reported when the user asks for the analysis, which starts a fresh worker.
      worker?.terminate();
      worker = null;
      loaded = null;
    });
  }, PRELOAD_IDLE_MS);
}

const PREFETCH = 6;
let drawing = 0;
async function render(): Promise<void> {
  const s = state.series;
  if (!s) return;
  const k = state.index;
  const inst = s.instances[k]!;
  const ticket = ++drawing;
  const slice = await loadSlice(inst.sopInstanceUid);
  const heat = state.heatmap ? await overlayOf('heatmap', inst, k) : null;
  const mask = state.mask ? await overlayOf('mask', inst, k) : null;
  if (ticket !== drawing) return;
  const img = windowedCanvas(inst.sopInstanceUid, slice);
  const scale = Math.min(canvas.width / slice.cols, canvas.height / slice.rows) * state.zoom;
  const w = slice.cols * scale;
  const h = slice.rows * scale;
  const x = (canvas.width - w) / 2 + state.pan.x;
  const y = (canvas.height - h) / 2 + state.pan.y;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, x, y, w, h);
  let shown = '';
  if (heat) {
    ctx.globalAlpha = state.opacity;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heat, x, y, w, h);
    shown += 'heatmap ';
  }
  if (mask) {
    ctx.globalAlpha = state.opacity;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(mask, x, y, w, h);
    shown += 'mask';
  }
  ctx.globalAlpha = 1;
  canvas.dataset.slice = String(k);
  canvas.dataset.window = `${state.window.center}/${state.window.width}`;
  canvas.dataset.overlay = shown.trim();
  canvas.dataset.renders = String(++state.renders);
  if (preloadWanted) schedulePreload();
  const p = probabilities(k);
  $('tl').textContent = `${s.patientId}\nseries ${s.seriesUid}`;
  $('tr').textContent = `zoom ${state.zoom.toFixed(2)}×${p ? `\nany ${p[ANY]!.toFixed(3)}` : ''}`;
  $('bl').textContent =
    `slice ${k + 1}/${s.instances.length}` +
    (inst.position === null ? '' : `\npos ${inst.position.toFixed(1)} mm`);
  $('br').textContent = `W ${state.window.width}  C ${state.window.center}`;
  for (const m of document.querySelectorAll<HTMLElement>('.mark')) {
    m.classList.toggle('current', Number(m.dataset.slice) === k);
  }
}

function go(k: number): Promise<void> {
  const s = state.series;
  if (!s) return Promise.resolve();
  state.index = Math.max(0, Math.min(s.instances.length - 1, k));
  return render();
}

/** The threshold of label `l` in the shown stage (stage 2: the series run's `any`, else stage 1's). */
function threshold(l: number = ANY): number {
  const t = state.info?.thresholds;
  const row = shownStage() === 2 ? (t?.stage2 ?? t?.stage1) : t?.stage1;
  return row?.[l] ?? 0.5;
}

function nextFlagged(): void {
  const s = state.series;
  if (!s) return;
  const n = s.instances.length;
  for (let d = 1; d <= n; d++) {
    const k = (state.index + d) % n;
    const p = probabilities(k);
    if (p && p[ANY]! >= threshold()) {
      void go(k);
      return;
    }
  }
}

function buildStrip(): void {
  const strip = $('strip');
  strip.textContent = '';
  const s = state.series;
  if (!s) return;
  strip.dataset.stage = String(shownStage());
  $('stage-pick').hidden = !hasStage2();
  LABELS.forEach((label, l) => {
    const t = threshold(l);
    const row = document.createElement('div');
    row.className = 'strip-row';
    row.dataset.label = label;
    row.dataset.threshold = String(t);
    const name = document.createElement('div');
    name.className = 'strip-label';
    name.textContent = label;
    const marks = document.createElement('div');
    marks.className = 'marks';
    s.instances.forEach((_, k) => {
      const p = probabilities(k)?.[l];
      const m = document.createElement('div');
      m.className = 'mark';
      m.dataset.slice = String(k);
      if (p !== undefined) {
        m.dataset.p = String(p);
        m.style.height = `${Math.max(4, p * 100)}%`;
        m.title = `slice ${k + 1}: ${label} ${p.toFixed(3)}`;
        if (p >= t) m.classList.add('hot');
      } else m.style.height = '4%';
      m.addEventListener('click', () => void go(k));
      marks.append(m);
    });
    const line = document.createElement('div');
    line.className = 'threshold';
    line.style.bottom = `${t * 100}%`;
    line.title = `threshold ${t}`;
    marks.append(line);
    row.append(name, marks);
    strip.append(row);
  });
}

async function openSeries(seriesUid: string): Promise<void> {
  state.series = await getJson<SeriesData>(`/api/series/${encodeURIComponent(seriesUid)}`);
  state.index = 0;
  state.zoom = 1;
  state.pan = { x: 0, y: 0 };
  overlays.clear();
  windowed.clear();
  buildStrip();
  await render();
  void prefetch(state.series);
}

function sortStudies(): StudyRow[] {
  const { key, desc } = state.sort;
  const val = (s: StudyRow): number | string => {
    switch (key) {
      case 'flag':
        return (s.flag ? 2 : s.flag === false ? 1 : 0) + (s.any ?? 0) / 2;
      case 'any':
        return s.any ?? -1;
      case 'patient':
        return s.patientId;
      case 'study':
        return s.studyUid;
      case 'series':
        return s.series.length;
      default:
        return s.slices;
    }
  };
  return [...state.studies].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return desc ? -c : c;
  });
}

function buildWorklist(): void {
  const body = document.querySelector('#studies tbody')!;
  body.textContent = '';
  for (const st of sortStudies()) {
    const tr = document.createElement('tr');
    tr.className = 'study';
    tr.dataset.study = st.studyUid;
    const cells = [
      st.flag === null ? '–' : st.flag ? '⚑ FLAG' : '',
      st.any === null ? '–' : st.any.toFixed(3),
      st.patientName || st.patientId,
      st.studyUid,
      String(st.series.length),
      String(st.slices),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 0 && st.flag) td.className = 'flag';
      tr.append(td);
    });
    tr.addEventListener('click', () => {
      for (const r of body.querySelectorAll('tr')) r.classList.remove('open');
      tr.classList.add('open');
      const pick = $<HTMLSelectElement>('series');
      pick.textContent = '';
      for (const se of st.series) {
        const o = document.createElement('option');
        o.value = se.seriesUid;
        o.textContent = `${se.description || se.seriesUid} (${se.slices})`;
        pick.append(o);
      }
      pick.hidden = st.series.length < 2;
      void openSeries(st.series[0]!.seriesUid);
    });
    body.append(tr);
  }
  const bad = state.info?.unreadable ?? [];
  $('unreadable').textContent = bad.length
    ? `Unreadable (${bad.length}): ${bad.map((u) => u.file).join(', ')}`
    : '';
  $('unreadable').dataset.files = JSON.stringify(bad.map((u) => u.file));
}

let worker: Worker | null = null;
let loaded: Promise<Extract<WorkerReply, { type: 'loaded' }>> | null = null;
const pending = new Map<number, (r: WorkerReply) => void>();
let nextId = 1;

function startWorker(): Promise<Extract<WorkerReply, { type: 'loaded' }>> {
  if (loaded) return loaded;
  worker = new Worker('/static/worker.js', { type: 'module' });
  loaded = new Promise((resolve, reject) => {
    worker!.onmessage = (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (m.type === 'loaded') resolve(m);
      else if (m.type === 'error' && m.id < 0) reject(new Error(m.message));
      else pending.get(m.id)?.(m);
    };
  });
  const threads = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
  worker.postMessage({
    type: 'load',
    modelUrl: '/api/model.onnx',
    threads,
    seriesUrls: Array.from(
      { length: state.info?.seriesModels ?? 0 },
      (_, k) => `/api/series-model/${k}`,
    ),
  } satisfies WorkerRequest);
  return loaded;
}

function runWorker(
  x: Float32Array,
  dims: number[],
): Promise<Extract<WorkerReply, { type: 'result' }>> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (m) => {
      pending.delete(id);
      if (m.type === 'result') resolve(m);
      else reject(new Error(m.type === 'error' ? m.message : 'unexpected reply'));
    });
    worker!.postMessage({ type: 'run', id, x, dims } satisfies WorkerRequest, [x.buffer]);
  });
}

function runSeries(
  x: Float32Array,
  xr: Float32Array,
  length: number,
): Promise<Extract<WorkerReply, { type: 'series-result' }>> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (m) => {
      pending.delete(id);
      if (m.type === 'series-result') resolve(m);
      else reject(new Error(m.type === 'error' ? m.message : 'unexpected reply'));
    });
    worker!.postMessage({ type: 'series', id, x, xr, length } satisfies WorkerRequest, [
      x.buffer,
      xr.buffer,
    ]);
  });
}

/** Runs the served model on the open series in the browser; returns n × 6 probabilities. */
async function analyse(batch = 8): Promise<{
  p: number[][];
  /** Stage 2 per slice (null without a series model), and the series' learned `any`. */
  p2: number[][] | null;
  study2: number | null;
  backend: string;
  threads: number;
  ms: number;
  load: { import: number; adapter: number; session: number };
}> {
  const s = state.series;
  if (!s) throw new Error('no series open');
  const t0 = performance.now();
  const info = await startWorker();
  const card = await getJson<ModelCardLite>('/api/model-card');
  const stored = await Promise.all(s.instances.map((i) => loadSlice(i.sopInstanceUid)));
  const x = seriesInput(stored, card);
  const c = x.length / (stored.length * card.size * card.size);
  const per = card.size * card.size * c;
  const p: number[][] = [];
  let cam: Float32Array | null = null;
  let camDims: number[] | null = null;
  for (let i = 0; i < stored.length; i += batch) {
    const n = Math.min(batch, stored.length - i);
    const r = await runWorker(x.slice(i * per, (i + n) * per), [n, card.size, card.size, c]);
    for (let j = 0; j < n; j++) p.push(Array.from(r.p.subarray(j * 6, j * 6 + 6)));
    if (r.cam && r.camDims) {
      const [, h, w, k] = r.camDims as [number, number, number, number];
      if (!cam) {
        cam = new Float32Array(stored.length * h * w * k);
        camDims = [stored.length, h, w, k];
      }
      cam.set(r.cam, i * h * w * k);
    }
  }
  let p2: number[][] | null = null;
  let study2: number | null = null;
  if (info.seriesModels > 0) {
    const flat = Float32Array.from(p.flat());
    const z = s.instances.map((i) => i.position);
    const r = await runSeries(
      seriesSliceInputs(flat, z),
      seriesSliceInputs(flat, z, true),
      p.length,
    );
    p2 = p.map((_, k) => Array.from(r.slices.subarray(k * LABEL_COUNT, (k + 1) * LABEL_COUNT)));
    study2 = r.study;
  }
  // The box each slice's input covered, from its HU with the same rule as prepare --crop head.
  const boxes = stored.map((sl) =>
    card.crop === 'head' ? headBox(sl.hu, sl.rows, sl.cols) : null,
  );
  state.analysed.set(s.seriesUid, { p, p2, study2, cam, camDims, boxes });
  overlays.clear();
  buildStrip();
  await render();
  const ms = performance.now() - t0;
  $('status').textContent =
    `analysed ${p.length} slices in ${(ms / 1000).toFixed(2)} s (${info.backend}, ${info.threads} thread${info.threads > 1 ? 's' : ''})`;
  return { p, p2, study2, backend: info.backend, threads: info.threads, ms, load: info.ms };
}

function wire(): void {
  const presets = $('presets');
  for (const pr of VIEW_PRESETS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `${pr.name} ${pr.center}/${pr.width}`;
    b.dataset.preset = pr.name;
    b.addEventListener('click', () => {
      state.window = { center: pr.center, width: pr.width };
      for (const o of presets.querySelectorAll('button')) o.classList.toggle('on', o === b);
      void render();
    });
    presets.append(b);
  }
  const sel = $<HTMLSelectElement>('label');
  LABELS.forEach((l, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = l;
    sel.append(o);
  });
  sel.value = String(ANY);
  sel.addEventListener('change', () => {
    state.label = Number(sel.value);
    void render();
  });
  $<HTMLInputElement>('ov-heatmap').addEventListener('change', (e) => {
    state.heatmap = (e.target as HTMLInputElement).checked;
    void render();
  });
  $<HTMLInputElement>('ov-mask').addEventListener('change', (e) => {
    state.mask = (e.target as HTMLInputElement).checked;
    void render();
  });
  $<HTMLInputElement>('opacity').addEventListener('input', (e) => {
    state.opacity = Number((e.target as HTMLInputElement).value);
    void render();
  });
  $('next-flagged').addEventListener('click', nextFlagged);
  $<HTMLSelectElement>('stage').addEventListener('change', (e) => {
    state.stage = Number((e.target as HTMLSelectElement).value) === 1 ? 1 : 2;
    buildStrip();
    void render();
  });
  $<HTMLSelectElement>('series').addEventListener('change', (e) => {
    void openSeries((e.target as HTMLSelectElement).value);
  });
  $('analyse').addEventListener('click', () => {
    analyse().catch((err: unknown) => {
      $('status').textContent = `analysis failed: ${(err as Error).message}`;
    });
  });
  for (const th of document.querySelectorAll<HTMLElement>('#studies th')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort!;
      state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : true };
      buildWorklist();
    });
  }
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      if (e.ctrlKey) {
        state.zoom = Math.max(0.25, Math.min(16, state.zoom * (e.deltaY < 0 ? 1.25 : 0.8)));
        void render();
      } else void go(state.index + (e.deltaY > 0 ? 1 : -1));
    },
    { passive: false },
  );
  let drag: { x: number; y: number; pan: boolean } | null = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 1 };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    drag.x = e.clientX;
    drag.y = e.clientY;
    if (drag.pan) state.pan = { x: state.pan.x + dx, y: state.pan.y + dy };
    else {
      state.window = {
        center: Math.round(state.window.center + dy),
        width: Math.max(1, Math.round(state.window.width + dx * 2)),
      };
    }
    void render();
  });
  canvas.addEventListener('pointerup', () => {
    drag = null;
  });
  window.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowRight') void go(state.index + 1);
    else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') void go(state.index - 1);
    else if (e.key === 'n') nextFlagged();
    else if (e.key === '+' || e.key === '=') {
      state.zoom = Math.min(16, state.zoom * 1.25);
      void render();
    } else if (e.key === '-') {
      state.zoom = Math.max(0.25, state.zoom * 0.8);
      void render();
    } else if (e.key === 'r') {
      state.zoom = 1;
      state.pan = { x: 0, y: 0 };
      void render();
    } else return;
    e.preventDefault();
  });
}

async function main(): Promise<void> {
  wire();
  state.info = await getJson<Info>('/api/info');
  state.studies = await getJson<StudyRow[]>('/api/studies');
  ($('analyse') as HTMLButtonElement).disabled = !state.info.model;
  buildWorklist();
  document.body.dataset.ready = '1';
}

/** For tests and the bench: the page's state and actions. */
(window as unknown as { ichdetView: unknown }).ichdetView = {
  state,
  go,
  openSeries,
  analyse,
  renders: () => state.renders,
  /** Resolves once the inference worker is loaded (preloaded, or by an analysis); null before it starts. */
  workerReady: () => loaded,
};

main().catch((err: unknown) => {
  $('status').textContent = `failed to start: ${(err as Error).message}`;
  throw err;
});
