/**
 * The pointing game of Grad-CAM heatmaps against label masks (masks as `ichdet synth` writes
 * them: `<image id>.png`, 8-bit grey at the slice's resolution, bit k = subtype k), for
 * `ichdet predict --masks` (heatmaps of DICOM slices) and `ichdet evaluate --masks` (heatmaps of
 * a split of a cache, so `compare` and `demo` report it per model).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Cache } from '../data/cache.js';
import { BatchLoader } from '../data/input.js';
import { type CropBox, headBox } from '../dicom/crop.js';
import { decodeSlice, withCodecs } from '../dicom/read.js';
import { InputError } from '../errors.js';
import type { CachePointing, PointingRow } from '../eval/pointing-types.js';
import { decodePng } from '../io/png.js';
import { ANY_INDEX, LABEL_NAMES } from '../labels.js';
import { inputCard } from '../run/model-card.js';
import { camToBox, GradCam, POINTING_TOLERANCE, PointingGame } from './gradcam.js';

export type { CachePointing, PointingRow } from '../eval/pointing-types.js';

/** The mask bits of a label (index into LABEL_NAMES): its subtype's bit, or all five for `any`. */
export function maskBits(label: number): number {
  return label === ANY_INDEX ? (1 << ANY_INDEX) - 1 : 1 << label;
}

/** `pointing.csv`: one row per label. */
export function pointingCsv(rows: readonly PointingRow[]): string {
  const num = (v: number | null) => (v === null ? '' : String(v));
  const lines = rows.map((r) => `${r.label},${r.slices},${r.hits},${num(r.rate)},${num(r.chance)}`);
  return `${['label,slices,hits,rate,chance', ...lines].join('\n')}\n`;
}

/** The pointing game as the CLI prints it: a line per label. */
export function formatPointing(rows: readonly PointingRow[]): string {
  return rows
    .map(
      (p) =>
        `pointing game ${p.label}: ${p.hits}/${p.slices} hits` +
        (p.rate === null || p.chance === null
          ? '\n'
          : ` (${(100 * p.rate).toFixed(1)}%, chance ${(100 * p.chance).toFixed(1)}%)\n`),
    )
    .join('');
}

/**
 * The absolute path of a `--masks` folder, or undefined without one.
 *
 * @throws InputError when it is not a folder.
 */
export function resolveMasksDir(masks: string | undefined): string | undefined {
  if (masks === undefined) return undefined;
  const dir = resolve(masks);
  if (!(existsSync(dir) && statSync(dir).isDirectory())) {
    throw new InputError(`--masks: no such folder: ${dir}`);
  }
  return dir;
}

/** A label mask. */
export interface LabelMask {
  data: Uint8Array;
  rows: number;
  cols: number;
}

/**
 * The label mask of an image, `DIR/<image id>.png`, or null when the folder has none (ichdet
 * synth writes masks for positive slices only). With `rows` and `cols`, the mask must have that
 * size.
 *
 * @throws InputError naming the file when it is not a one-channel PNG (of that size).
 */
export function readMask(
  dir: string,
  imageId: string,
  rows?: number,
  cols?: number,
): LabelMask | null {
  const file = join(dir, `${imageId}.png`);
  if (!existsSync(file)) return null;
  const png = decodePng(readFileSync(file), file);
  if (png.channels !== 1) {
    throw new InputError(`${file}: a mask must have 1 channel, received ${png.channels}`);
  }
  if ((rows !== undefined && png.height !== rows) || (cols !== undefined && png.width !== cols)) {
    throw new InputError(
      `${file}: a mask must be ${rows} × ${cols} like its slice, received ${png.height} × ${png.width}`,
    );
  }
  return { data: png.data, rows: png.height, cols: png.width };
}

export interface CachePointingOptions {
  /** Grad-CAM layer (see `camLayer`; default the architecture's feature layer). */
  layer?: string;
  /** Images per Grad-CAM batch (default 16). */
  batch?: number;
}

/**
 * The square the cache's record of `source` covers in its slice: null for a cache without a crop;
 * with `--crop head`, the head's box of the DICOM file (relative to the cache job's images
 * folder), decoded with the cache's rsnaFix as prepare did.
 */
async function cacheBox(cache: Cache, source: string): Promise<CropBox | null> {
  if (cache.config.crop !== 'head') return null;
  const file = join(cache.job.images, source);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InputError(
      `the pointing game on a --crop head cache needs its DICOM files for the crop box; cannot read ${file}: ${(err as Error).message}`,
    );
  }
  const slice = await withCodecs(() => decodeSlice(bytes, file, { rsnaFix: cache.config.rsnaFix }));
  return headBox(slice.hu, slice.rows, slice.cols);
}

/**
 * The pointing game of the model in `dir` (a tfjs backend must be initialised) on the cache
 * images at `positions` that have a mask in `masksDir`: each image's Grad-CAM maps (one per label)
 * are computed on the model's own input (the whole slice, or its crop to the head for a cache
 * prepared with `--crop head`; no augmentation), placed on the mask's grid and scored against the
 * label's bits.
 */
export async function pointingOnCache(
  dir: string,
  cache: Cache,
  positions: ArrayLike<number>,
  masksDir: string,
  o: CachePointingOptions = {},
): Promise<CachePointing> {
  const input = inputCard(dir);
  const rows = cache.rows();
  const full = cache.config.crop === 'head' ? cache.sliceRows() : null;
  const withMask: { position: number; mask: LabelMask; box: CropBox | null }[] = [];
  for (const p of Array.from(positions)) {
    const mask = readMask(masksDir, rows[p]!.imageId);
    if (mask)
      withMask.push({
        position: p,
        mask,
        box: full === null ? null : await cacheBox(cache, full[p]!.source),
      });
  }
  const game = new PointingGame(LABEL_NAMES, { tolerance: POINTING_TOLERANCE });
  const cam = await GradCam.load(dir, o.layer);
  try {
    const loader = new BatchLoader(cache, {
      size: input.size,
      context: input.context,
      preprocessing: input.preprocessing,
    });
    const batch = o.batch ?? 16;
    for (let from = 0; from < withMask.length; from += batch) {
      const part = withMask.slice(from, from + batch);
      const x = loader.load(
        part.map((e) => e.position),
        null,
      );
      const m = cam.maps(x, part.length);
      const L = m.labels.length;
      for (const [j, { mask, box }] of part.entries()) {
        for (const [li, l] of m.labels.entries()) {
          const raw = m.maps.subarray((j * L + li) * m.h * m.w, (j * L + li + 1) * m.h * m.w);
          const map = camToBox(raw, m.h, m.w, mask.rows, mask.cols, box);
          game.add(LABEL_NAMES[l]!, map, mask.data, maskBits(l), mask.rows, mask.cols);
        }
      }
    }
    return { layer: cam.layer, tolerance: game.tolerance, rows: game.rows() };
  } finally {
    cam.dispose();
  }
}
