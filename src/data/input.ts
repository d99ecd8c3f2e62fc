/**
 * From cache records to model input batches: 2.5D context from neighbouring slices, the
 * geometric transform of each example (crop → resize → flips; training draws them, inference
 * uses none) and the input scaling the ImageNet weights expect. Training, evaluation, predict
 * and Grad-CAM all build their input here, so a slice gets the same numbers everywhere. No tfjs.
 *
 * Channel layout (NHWC, float32): for context k the slices z−k … z+k of the same series, each
 * slice's cache channels (windows) in cache order. A neighbour that does not exist (the end of a
 * series, or a slice missing from the cache) repeats the nearest slice that does — at worst the
 * centre slice (edge replication), so every example has all its channels.
 *
 * Geometry: an optional square crop of the cache image, resized to the input size, else the
 * whole image resized (when the sizes differ); both bilinear with half-pixel centres, as
 * `resize(..., 'bilinear')` in dicom/resize.ts (no area averaging: caches are made at or near
 * the input size). Flips come last. Everything works on the uint8 records directly, one pass per
 * slice, with the scaling folded in.
 *
 * Scaling (x = v/255 ∈ [0, 1] for a cache byte v), per Keras `preprocess_input`:
 * - `tf` (MobileNetV2, InceptionV3, Xception): 2x − 1 ∈ [−1, 1];
 * - `none` (EfficientNet rescales and normalises inside the model): 255x;
 * - `caffe` (VGG16, ResNet50): 255x − mean, with Keras' ImageNet means (B, G, R) =
 *   (103.939, 116.779, 123.68) given to channels 0, 1, 2, 0, 1, 2… Our channels are CT windows,
 *   not colours, so there is no RGB → BGR flip: the ImageNet first-conv weights are adapted to
 *   the channel count anyway.
 */
import { ConfigError } from '../errors.js';
import type { Preprocessing } from '../models/registry.js';
import type { Cache } from './cache.js';
import { contextWindow } from './series.js';

/**
 * The geometric transform of one example: flips and an integer crop window in cache pixels
 * (null: the whole image). Training draws them at random (train/augment.ts); inference uses
 * none, or a horizontal flip for test-time augmentation.
 */
export interface AugmentDraw {
  hflip: boolean;
  vflip: boolean;
  crop: { y: number; x: number; side: number } | null;
}

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

/**
 * Per-channel scale a and offset b: input = a·v + b for a cache byte v (float64, so the only
 * rounding is the final one to float32).
 */
export function channelAffine(
  p: Preprocessing,
  channels: number,
): { a: Float64Array; b: Float64Array } {
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
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

/** Sampling along one axis: output pixel d blends input pixels i0[d] and i1[d], weight w[d] on i1. */
interface AxisTable {
  i0: Int32Array;
  i1: Int32Array;
  w: Float64Array;
}

/**
 * Bilinear with half-pixel centres over the window [from, from + len) of the input, clamped to
 * the window — what `resize` (dicom/resize.ts) does to the cropped image alone — with `out`
 * samples; `flip` mirrors the output. Indices are multiplied by `stride`.
 */
function axisTable(from: number, len: number, out: number, flip: boolean, stride: number) {
  const t: AxisTable = {
    i0: new Int32Array(out),
    i1: new Int32Array(out),
    w: new Float64Array(out),
  };
  const scale = len / out;
  for (let d = 0; d < out; d++) {
    const dd = flip ? out - 1 - d : d;
    let s = (dd + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > len - 1) s = len - 1;
    const f = Math.floor(s);
    t.i0[d] = (from + f) * stride;
    t.i1[d] = (from + Math.min(f + 1, len - 1)) * stride;
    t.w[d] = s - f;
  }
  return t;
}

const PREPROCESSING: readonly Preprocessing[] = ['caffe', 'tf', 'none'];

/** Checks an input spec; ConfigError names the field and the value received. */
export function validateInputSpec(spec: InputSpec): void {
  if (!Number.isInteger(spec.size) || spec.size <= 0) {
    throw new ConfigError(`input size must be a positive integer, received ${spec.size}`);
  }
  if (spec.context !== 0 && spec.context !== 1 && spec.context !== 2) {
    throw new ConfigError(`context must be 0, 1 or 2, received ${String(spec.context)}`);
  }
  if (!PREPROCESSING.includes(spec.preprocessing)) {
    throw new ConfigError(
      `preprocessing must be one of ${PREPROCESSING.join(', ')}, received "${String(spec.preprocessing)}"`,
    );
  }
}

/**
 * Turns cache positions into model input batches. Configured once (cache, input spec, augment
 * options); `load` is pure given its positions and draws and never changes the cache records.
 */
export class BatchLoader {
  readonly channels: number;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly cacheSize: number;
  private readonly cacheChannels: number;

  /** @throws ConfigError for an input size, context or preprocessing out of range. */
  constructor(
    private readonly cache: Cache,
    private readonly spec: InputSpec,
  ) {
    validateInputSpec(spec);
    this.cacheSize = cache.config.size;
    this.cacheChannels = cache.config.channels;
    this.channels = inputChannels(this.cacheChannels, spec.context);
    const rows = cache.sliceRows();
    const pos = new Map<string, number>();
    for (const [i, r] of rows.entries()) pos.set(r.image_id, i);
    const at = (id: string | null) => (id === null ? -1 : (pos.get(id) ?? -1));
    this.prev = Int32Array.from(rows, (r) => at(r.prev_id));
    this.next = Int32Array.from(rows, (r) => at(r.next_id));
  }

  /**
   * Cache positions of the slices z−k … z+k around position `p` (k = context), following the
   * series' prev/next chain; past the end of the chain (series edge, or a neighbour missing from
   * the cache) the nearest slice found is repeated, the centre at worst.
   */
  contextOf(p: number): number[] {
    return contextWindow(
      p,
      this.spec.context,
      (i) => this.prev[i]!,
      (i) => this.next[i]!,
    );
  }

  /**
   * The model input for the examples at cache `positions`: n × size × size × channels float32
   * (NHWC), preprocessed. `draws[e]` is example e's augmentation (`null`, or `draws` null: none,
   * as for validation): crop (a square of the cache image, resized to `size`), else a resize from
   * the cache size when it differs, then the flips. `out` is filled when it has the batch's
   * length, else a new array is returned.
   *
   * @throws RangeError when `draws` has another length than `positions` or a crop leaves the
   *   cache image.
   */
  load(
    positions: ArrayLike<number>,
    draws: readonly (AugmentDraw | null)[] | null,
    out?: Float32Array,
  ): Float32Array {
    const n = positions.length;
    if (draws !== null && draws.length !== n) {
      throw new RangeError(
        `load needs one draw per position: ${n} positions, ${draws.length} draws`,
      );
    }
    const slices = Array.from(positions, (p) => this.contextOf(p));
    const unique = [...new Set(slices.flat())];
    const records = this.cache.readBatch(unique);
    const recordOf = new Map(unique.map((p, i) => [p, records[i]!]));
    return inputFromRecords(
      slices.map((ps) => ps.map((p) => recordOf.get(p)!)),
      { size: this.cacheSize, channels: this.cacheChannels },
      this.spec,
      draws,
      out,
    );
  }
}

/**
 * The model input (n × size × size × channels float32, NHWC, preprocessed) of examples given as
 * their cache records: `examples[e]` holds the 2·context + 1 records z−k … z+k of example e, each
 * `cache.size`² × `cache.channels` uint8 (a cache record, or `readWindowedUint8` of a DICOM file
 * at the cache's size and windows, which is the same bytes). What `BatchLoader.load` does once it
 * has read the records; `ichdet predict` calls it on slices read from DICOM files.
 *
 * @throws RangeError when `draws` has another length than `examples`, an example has another
 *   record count than the context needs, or a crop leaves the cache image.
 */
export function inputFromRecords(
  examples: readonly (readonly Uint8Array[])[],
  cache: { size: number; channels: number },
  spec: InputSpec,
  draws: readonly (AugmentDraw | null)[] | null,
  out?: Float32Array,
): Float32Array {
  const n = examples.length;
  const { size } = spec;
  const S = cache.size;
  const cc = cache.channels;
  const C = inputChannels(cc, spec.context);
  const per = size * size * C;
  if (draws !== null && draws.length !== n) {
    throw new RangeError(`load needs one draw per position: ${n} positions, ${draws.length} draws`);
  }
  const affine = channelAffine(spec.preprocessing, C);
  const x = out !== undefined && out.length === n * per ? out : new Float32Array(n * per);
  for (let e = 0; e < n; e++) {
    const recs = examples[e]!;
    if (recs.length !== 2 * spec.context + 1) {
      throw new RangeError(
        `example ${e} has ${recs.length} records, context ${spec.context} needs ${2 * spec.context + 1}`,
      );
    }
    const d = draws?.[e] ?? null;
    const crop = d?.crop ?? { y: 0, x: 0, side: S };
    if (
      !Number.isInteger(crop.y) ||
      !Number.isInteger(crop.x) ||
      !Number.isInteger(crop.side) ||
      crop.side < 1 ||
      crop.y < 0 ||
      crop.x < 0 ||
      crop.y + crop.side > S ||
      crop.x + crop.side > S
    ) {
      throw new RangeError(
        `crop ${JSON.stringify(crop)} of example ${e} is not a square inside the ${S}² cache image`,
      );
    }
    const ty = axisTable(crop.y, crop.side, size, d?.vflip ?? false, S * cc);
    const tx = axisTable(crop.x, crop.side, size, d?.hflip ?? false, cc);
    for (const [s, rec] of recs.entries()) {
      if (rec.length !== S * S * cc) {
        throw new RangeError(
          `record ${s} of example ${e} has ${rec.length} bytes, a ${S}² × ${cc} record has ${S * S * cc}`,
        );
      }
      sample(rec, ty, tx, x, e * per, s * cc, size, C, cc, affine);
    }
  }
  return x;
}

/** Bilinear samples of one record into channels c0… of the example at `base` of `x`. */
function sample(
  rec: Uint8Array,
  ty: AxisTable,
  tx: AxisTable,
  x: Float32Array,
  base: number,
  c0: number,
  size: number,
  C: number,
  cc: number,
  affine: { a: Float64Array; b: Float64Array },
): void {
  const { a, b } = affine;
  const { i0: x0s, i1: x1s, w: wxs } = tx;
  for (let oy = 0; oy < size; oy++) {
    const r0 = ty.i0[oy]!;
    const r1 = ty.i1[oy]!;
    const wy = ty.w[oy]!;
    let o = base + oy * size * C + c0;
    if (cc === 3) {
      // The three-window cache, unrolled.
      const a0 = a[c0]!;
      const a1 = a[c0 + 1]!;
      const a2 = a[c0 + 2]!;
      const b0 = b[c0]!;
      const b1 = b[c0 + 1]!;
      const b2 = b[c0 + 2]!;
      for (let ox = 0; ox < size; ox++, o += C) {
        const x0 = x0s[ox]!;
        const x1 = x1s[ox]!;
        const wx = wxs[ox]!;
        const p00 = r0 + x0;
        const p01 = r0 + x1;
        const p10 = r1 + x0;
        const p11 = r1 + x1;
        let t = rec[p00]! + (rec[p01]! - rec[p00]!) * wx;
        let u = rec[p10]! + (rec[p11]! - rec[p10]!) * wx;
        x[o] = a0 * (t + (u - t) * wy) + b0;
        t = rec[p00 + 1]! + (rec[p01 + 1]! - rec[p00 + 1]!) * wx;
        u = rec[p10 + 1]! + (rec[p11 + 1]! - rec[p10 + 1]!) * wx;
        x[o + 1] = a1 * (t + (u - t) * wy) + b1;
        t = rec[p00 + 2]! + (rec[p01 + 2]! - rec[p00 + 2]!) * wx;
        u = rec[p10 + 2]! + (rec[p11 + 2]! - rec[p10 + 2]!) * wx;
        x[o + 2] = a2 * (t + (u - t) * wy) + b2;
      }
      continue;
    }
    for (let ox = 0; ox < size; ox++, o += C) {
      const x0 = x0s[ox]!;
      const x1 = x1s[ox]!;
      const wx = wxs[ox]!;
      for (let c = 0; c < cc; c++) {
        const p00 = r0 + x0 + c;
        const p10 = r1 + x0 + c;
        const t = rec[p00]! + (rec[r0 + x1 + c]! - rec[p00]!) * wx;
        const u = rec[p10]! + (rec[r1 + x1 + c]! - rec[p10]!) * wx;
        x[o + c] = a[c0 + c]! * (t + (u - t) * wy) + b[c0 + c]!;
      }
    }
  }
}
