/**
 * The `--preview` montage: one tile per subtype (its largest example), then mimics (calcified
 * pineal or choroid plexus, skull-base streaks, dense falx or sinus) and a normal slice. Each
 * example is a pair side by side: the brain window (centre 40, width 80) with the label mask
 * outlined in red, and the subdural window (centre 80, width 200) without it, as a radiologist
 * reads thin extra-axial blood against the skull.
 */
import { encodePngRgb8 } from '../io/png.js';
import type { ImageRow } from './generate.js';
import { renderSlice } from './generate.js';
import type { Patient } from './patient.js';
import { buildFromPlan, type Plan, type PlanOptions } from './plan.js';
import { allocSlice, SliceRenderer } from './render.js';
import { SUBTYPES } from './subtypes.js';

export const PREVIEW_TILE = 256;
/** Examples per montage row; each is two tiles wide (brain and subdural window). */
const COLS = 2;
/** The two windows of each example: [centre, width], outline the mask. */
const WINDOWS: [number, number, boolean][] = [
  [40, 80, true],
  [80, 200, false],
];

export interface PreviewTile {
  title: string;
  id: string;
  patient: number;
  slice: number;
}

/** Picks the example slices; every pick is a written image (its id is in the CSV). */
export function pickPreviewTiles(plan: Plan, opts: PlanOptions, rows: ImageRow[][]): PreviewTile[] {
  const tiles: PreviewTile[] = [];
  for (let k = 0; k < SUBTYPES.length; k++) {
    let best: { p: number; r: ImageRow } | undefined;
    rows.forEach((list, p) => {
      for (const r of list) {
        if ((r.labels >> k) & 1 && (!best || (r.areas[k] ?? 0) > (best.r.areas[k] ?? 0))) {
          best = { p, r };
        }
      }
    });
    if (best) {
      tiles.push({ title: SUBTYPES[k]!, id: best.r.id, patient: best.p, slice: best.r.slice });
    }
  }
  const negative = (want: (pt: Patient, zh: number) => number, title: string): void => {
    let pick: { score: number; tile: PreviewTile } | undefined;
    for (let p = 0; p < Math.min(rows.length, 60); p++) {
      const list = rows[p]!;
      const plannedPatient = plan.patients[p];
      if (!plannedPatient) continue;
      const pt = buildFromPlan(opts, plannedPatient);
      for (const r of list) {
        if (r.labels !== 0) continue;
        const score = want(pt, pt.scanner.zh[r.slice] ?? 0);
        if (score > 0 && (!pick || score > pick.score)) {
          pick = { score, tile: { title, id: r.id, patient: p, slice: r.slice } };
        }
      }
    }
    if (pick) tiles.push(pick.tile);
  };
  const near = (zh: number, target: number, half: number): number =>
    Math.max(0, 1 - Math.abs(zh - target) / half);
  negative(
    (pt, zh) =>
      (pt.anatomy.pineal ? near(zh, 0, 4) * 2 : 0) + (pt.anatomy.choroid ? near(zh, 8, 5) : 0),
    'mimic: calcification',
  );
  negative((pt, zh) => near(zh, -27, 8) * (pt.anatomy.streaks.amp / 30), 'mimic: streaks');
  negative(
    (pt, zh) =>
      (pt.anatomy.falxCalc ? near(zh, 35, 25) : 0) +
      (pt.anatomy.hu.venous > 58 ? near(zh, 20, 30) : 0),
    'mimic: dense falx or sinus',
  );
  negative((_pt, zh) => near(zh, 15, 10), 'normal');
  return tiles;
}

/** Renders the examples into an RGB PNG montage, 2 examples (4 tiles) per row. */
export function renderPreview(tiles: PreviewTile[], plan: Plan, opts: PlanOptions): Buffer {
  const n = Math.max(1, tiles.length);
  const W = PREVIEW_TILE * COLS * WINDOWS.length;
  const H = PREVIEW_TILE * Math.ceil(n / COLS);
  const out = new Uint8Array(W * H * 3);
  tiles.forEach((tile, t) => {
    const planned = plan.patients[tile.patient];
    if (!planned) return;
    const patient = buildFromPlan(opts, planned);
    const renderer = new SliceRenderer(patient);
    const { rows, cols } = patient.scanner;
    const img = allocSlice(rows, cols);
    renderSlice(patient, renderer, opts.seed, tile.slice, img, new Float32Array(rows * cols));
    const oy = Math.floor(t / COLS) * PREVIEW_TILE;
    const scale = Math.max(rows, cols) / PREVIEW_TILE;
    WINDOWS.forEach(([centre, width, outline], w) => {
      const ox = ((t % COLS) * WINDOWS.length + w) * PREVIEW_TILE;
      const lo = centre - width / 2;
      for (let y = 0; y < PREVIEW_TILE; y++) {
        const sr = Math.min(rows - 1, Math.floor(y * scale));
        for (let x = 0; x < PREVIEW_TILE; x++) {
          const sc = Math.min(cols - 1, Math.floor(x * scale));
          const i = sr * cols + sc;
          const g = Math.max(0, Math.min(255, Math.round(((img.hu[i]! - lo) / width) * 255)));
          const m = img.mask[i]!;
          const edge =
            outline &&
            m !== 0 &&
            (sr === 0 ||
              sc === 0 ||
              sr === rows - 1 ||
              sc === cols - 1 ||
              img.mask[i - 1] === 0 ||
              img.mask[i + 1] === 0 ||
              img.mask[i - cols] === 0 ||
              img.mask[i + cols] === 0 ||
              (scale > 1.5 && (img.mask[i - 2] === 0 || img.mask[i + 2] === 0)));
          const o = ((oy + y) * W + ox + x) * 3;
          out[o] = edge ? 255 : g;
          out[o + 1] = edge ? 40 : g;
          out[o + 2] = edge ? 40 : g;
        }
      }
    });
  });
  return encodePngRgb8(out, H, W);
}
