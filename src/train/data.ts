/**
 * From cache records to model input batches: 2.5D context from neighbouring slices, the seeded
 * augmentation (crop → resize → flips), and the input scaling the ImageNet weights expect.
 * Runs in the main thread and feeds the model workers; no tfjs here.
 *
 * Channel layout (NHWC, float32): for context k the slices z−k … z+k of the same series, each
 * slice's cache channels (windows) in cache order. A neighbour that does not exist (the end of a
 * series, or a slice missing from the cache) repeats the nearest slice that does — at worst the
 * centre slice — as MONAI's and most RSNA solutions' edge padding does.
 *
 * Scaling (x = v/255 ∈ [0, 1] for a cache byte v), per Keras `preprocess_input`:
 * - `tf` (MobileNetV2, InceptionV3, Xception): 2x − 1 ∈ [−1, 1];
 * - `none` (EfficientNet rescales and normalises inside the model): 255x;
 * - `caffe` (VGG16, ResNet50): 255x − mean, with Keras' ImageNet means (B, G, R) =
 *   (103.939, 116.779, 123.68) given to channels 0, 1, 2, 0, 1, 2… Our channels are CT windows,
 *   not colours, so there is no RGB → BGR flip: the ImageNet first-conv weights are adapted to
 *   the channel count anyway.
 */
import type { Cache } from '../data/cache.js';
import type { Preprocessing } from '../models/registry.js';
import { Rng } from '../util/rng.js';
import { type AugmentDraw, type AugmentOptions, drawAugment } from './augment.js';

export interface InputSpec {
  size: number;
  context: 0 | 1 | 2;
  preprocessing: Preprocessing;
}

export const CAFFE_MEANS = [103.939, 116.779, 123.68] as const;

/** Input channels for `cacheChannels` windows and `context` neighbours each side. */
export function inputChannels(cacheChannels: number, context: number): number {
  return cacheChannels * (2 * context + 1);
}

/** Per-channel scale a and offset b: input = a·v + b for a cache byte v. */
export function channelAffine(
  p: Preprocessing,
  channels: number,
): { a: Float32Array; b: Float32Array } {
  const a = new Float32Array(channels);
  const b = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    if (p === 'tf') {
      a[c] = 2 / 255;
      b[c] = -1;
    } else if (p === 'none') {
      a[c] = 1;
      b[c] = 0;
    } else {
      a[c] = 1;
      b[c] = -CAFFE_MEANS[c % 3]!;
    }
  }
  return { a, b };
}

/**
 * Source sampling along one axis: output pixel d of `out` reads input pixels i0[d], i1[d] with
 * weight w[d] on i1 — bilinear with half-pixel centres over the window [from, from + len) of
 * the input, clamped to the window, as `resize` (dicom/resize.ts) does for a whole image;
 * `flip` mirrors the output.
 */
function axisTable(from: number, len: number, out: number, flip: boolean) {
  const i0 = new Int32Array(out);
  const i1 = new Int32Array(out);
  const w = new Float32Array(out);
  const scale = len / out;
  for (let d = 0; d < out; d++) {
    const dd = flip ? out - 1 - d : d;
    let s = (dd + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > len - 1) s = len - 1;
    const f = Math.floor(s);
    const f1 = Math.min(f + 1, len - 1);
    i0[d] = from + f;
    i1[d] = from + f1;
    w[d] = s - f;
  }
  return { i0, i1, w };
}

/** The augmentation of the example at `position` of epoch `epoch`, independent of batching. */
export function exampleDraw(
  o: AugmentOptions,
  seed: number,
  epoch: number,
  position: number,
  size: number,
): AugmentDraw {
  return drawAugment(o, new Rng(seed, epoch, position), size);
}

/** A seeded Fisher–Yates shuffle of the training positions for one epoch. */
export function epochOrder(train: Int32Array, seed: number, epoch: number): Int32Array {
  const order = train.slice();
  const rng = new Rng(seed, 0x0e0c, epoch);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

export class BatchLoader {
  readonly channels: number;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly cacheSize: number;
  private readonly cacheChannels: number;
  private readonly affine: { a: Float32Array; b: Float32Array };

  constructor(
    private readonly cache: Cache,
    private readonly spec: InputSpec,
    readonly augment: AugmentOptions,
  ) {
    this.cacheSize = cache.config.size;
    this.cacheChannels = cache.config.channels;
    this.channels = inputChannels(this.cacheChannels, spec.context);
    const rows = cache.sliceRows();
    const pos = new Map<string, number>();
    for (const [i, r] of rows.entries()) pos.set(r.image_id, i);
    this.prev = Int32Array.from(rows, (r) =>
      r.prev_id === null ? -1 : (pos.get(r.prev_id) ?? -1),
    );
    this.next = Int32Array.from(rows, (r) =>
      r.next_id === null ? -1 : (pos.get(r.next_id) ?? -1),
    );
    this.affine = channelAffine(spec.preprocessing, this.channels);
  }

  /** Cache positions of the slices z−k … z+k around `p`, edges repeating the nearest slice. */
  contextOf(p: number): number[] {
    const k = this.spec.context;
    const out = new Array<number>(2 * k + 1).fill(p);
    let cur = p;
    for (let d = 1; d <= k; d++) {
      const n = this.prev[cur]!;
      if (n >= 0) cur = n;
      out[k - d] = cur;
    }
    cur = p;
    for (let d = 1; d <= k; d++) {
      const n = this.next[cur]!;
      if (n >= 0) cur = n;
      out[k + d] = cur;
    }
    return out;
  }

  /**
   * The model input for the examples at cache `positions` (n × size × size × channels), with
   * each example's augmentation draw (`null`: none, e.g. for validation).
   */
  load(
    positions: ArrayLike<number>,
    draws: readonly (AugmentDraw | null)[] | null,
    out?: Float32Array,
  ): Float32Array {
    const n = positions.length;
    const { size } = this.spec;
    const C = this.channels;
    const cc = this.cacheChannels;
    const S = this.cacheSize;
    const per = size * size * C;
    const x = out !== undefined && out.length === n * per ? out : new Float32Array(n * per);
    const slices = Array.from(positions, (p) => this.contextOf(p));
    const unique = [...new Set(slices.flat())];
    const records = this.cache.readBatch(unique);
    const recordOf = new Map(unique.map((p, i) => [p, records[i]!]));
    const { a, b } = this.affine;
    for (let e = 0; e < n; e++) {
      const d = draws?.[e] ?? null;
      const crop = d?.crop ?? { y: 0, x: 0, side: S };
      const ty = axisTable(crop.y, crop.side, size, d?.vflip ?? false);
      const tx = axisTable(crop.x, crop.side, size, d?.hflip ?? false);
      const base = e * per;
      for (const [s, p] of slices[e]!.entries()) {
        const rec = recordOf.get(p)!;
        const c0 = s * cc;
        for (let oy = 0; oy < size; oy++) {
          const r0 = ty.i0[oy]! * S;
          const r1 = ty.i1[oy]! * S;
          const wy = ty.w[oy]!;
          const rowBase = base + oy * size * C;
          for (let ox = 0; ox < size; ox++) {
            const x0 = tx.i0[ox]!;
            const x1 = tx.i1[ox]!;
            const wx = tx.w[ox]!;
            const o = rowBase + ox * C + c0;
            const p00 = (r0 + x0) * cc;
            const p01 = (r0 + x1) * cc;
            const p10 = (r1 + x0) * cc;
            const p11 = (r1 + x1) * cc;
            for (let c = 0; c < cc; c++) {
              const top = rec[p00 + c]! + (rec[p01 + c]! - rec[p00 + c]!) * wx;
              const bot = rec[p10 + c]! + (rec[p11 + c]! - rec[p10 + c]!) * wx;
              const v = top + (bot - top) * wy;
              x[o + c] = a[c0 + c]! * v + b[c0 + c]!;
            }
          }
        }
      }
    }
    return x;
  }
}
