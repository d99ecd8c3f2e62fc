/**
 * Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
 * Gradient-based Localization", ICCV 2017) on one layer of a saved model: for label l with
 * score y_l (the sigmoid output) and the layer's feature maps A_k (h × w × K),
 *   w_k = mean over (i, j) of ∂y_l / ∂A_k(i, j),   map = ReLU(Σ_k w_k · A_k),
 * upsampled bilinearly (half-pixel centres) to the slice's size and divided by its maximum, so
 * it lies in [0, 1] (all zero when the ReLU leaves nothing).
 *
 * The layer is the architecture's feature layer (the last convolutional block, as in the paper
 * and in Keras' Grad-CAM example) unless another is named: any layer with a 4-D output, or
 * `1/8`, `1/16`, `1/32` for the last layer at that fraction of the input's resolution (finer
 * maps, as pytorch-grad-cam's and MONAI's `target_layers`). The gradient is taken through the
 * model's own graph from that layer to the outputs (skip connections that bypass the layer are
 * constants), run eagerly layer by layer with `tf.grad`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { CropBox } from '../dicom/crop.js';
import { normaliseMap, placeMap } from '../dicom/place.js';
import { resize } from '../dicom/resize.js';
import { ConfigError } from '../errors.js';
import type { PointingRow } from '../eval/pointing-types.js';
import { encodePngRgb8 } from '../io/png.js';
import { LABEL_COUNT } from '../labels.js';
import { archSpec } from '../models/index.js';
import { loadSavedModel } from '../run/checkpoint.js';
import { inputCard } from '../run/model-card.js';

export type { PointingRow } from '../eval/pointing-types.js';

type Layer = LayersModel['layers'][number];

/** Raw Grad-CAM maps at the layer's resolution. */
export interface CamMaps {
  /** n × labels × h × w, ReLU applied, not normalised. */
  maps: Float32Array;
  n: number;
  labels: number[];
  h: number;
  w: number;
}

/** One step of the model's graph: a layer applied to tensors, giving tensors (by id). */
interface GraphStep {
  layer: Layer;
  inputs: number[];
  outputs: number[];
}

/** Images per Grad-CAM pass (bounds the activations kept for the gradient). */
const CAM_CHUNK = 8;

/** Every output index, 0 … LABEL_COUNT − 1 (the default labels of `GradCam.maps`). */
const ALL_LABELS: readonly number[] = Array.from({ length: LABEL_COUNT }, (_, l) => l);

/** The model's layers as steps in topological order (model.layers is ordered by depth). */
function graphSteps(model: LayersModel): GraphStep[] {
  const inputIds = new Set(model.inputs.map((t) => t.id));
  const steps: GraphStep[] = [];
  for (const layer of model.layers) {
    const nodes = layer.inboundNodes;
    if (nodes.length !== 1) {
      throw new ConfigError(
        `Grad-CAM needs each layer used once, layer ${layer.name} has ${nodes.length} inbound nodes`,
      );
    }
    const node = nodes[0]!;
    const outputs = node.outputTensors.map((t: SymbolicTensor) => t.id);
    if (outputs.every((id) => inputIds.has(id))) continue;
    steps.push({ layer, inputs: node.inputTensors.map((t: SymbolicTensor) => t.id), outputs });
  }
  return steps;
}

/** Applies one step to the tensors in `values` (by id) and stores its outputs there. */
function applyStep(s: GraphStep, values: Map<number, tf.Tensor>): void {
  const ins = s.inputs.map((id) => values.get(id)!);
  const out = s.layer.apply(ins.length === 1 ? ins[0]! : ins) as tf.Tensor | tf.Tensor[];
  for (const [k, t] of (Array.isArray(out) ? out : [out]).entries()) values.set(s.outputs[k]!, t);
}

/** Zero padding before a strided convolution: a map with a border of zeros, never a target. */
function isPadding(l: Layer): boolean {
  return l.getClassName() === 'ZeroPadding2D';
}

/** The side below which the feature layer's map is too coarse to point with. */
export const MIN_CAM_SIDE = 7;

/**
 * The default Grad-CAM layer: the architecture's feature layer (its last convolutional block)
 * when its map is at least {@link MIN_CAM_SIDE} pixels wide, as at 224² and above; for smaller
 * inputs, whose last block is 2×2 to 4×4, the last block output (a layer every path from
 * the input to the output passes through) whose map is at least min(7, ⌈size / 16⌉) wide — the
 * stride-16 block at 64² and 128². Measured on the demo's
 * MobileNetV2 at 64² (cropped synthetic CT, 272 test slices with a lesion): the pointing game of
 * `any` is 0% at the 2×2 feature layer, 20% at 4×4 (stride 16) and 17% at 8×8 (stride 8).
 */
export function defaultCamLayer(model: LayersModel, arch: string, size: number): string {
  const feature = archSpec(arch).featureLayer;
  const sideOf = (l: Layer): number | undefined => {
    const s = l.outputShape;
    return Array.isArray(s) && s.length === 4 && typeof s[1] === 'number' ? s[1] : undefined;
  };
  const f = model.layers.find((l) => l.name === feature);
  const fSide = f === undefined ? undefined : sideOf(f);
  if (fSide === undefined || fSide >= MIN_CAM_SIDE) return feature;
  const want = Math.min(MIN_CAM_SIDE, Math.ceil(size / 16));
  // Only layers every path from the input to the output passes through (block outputs: not a
  // branch inside an Inception module, nor a layer a residual shortcut bypasses).
  const layers = model.layers;
  const index = new Map(layers.map((l, i) => [l, i]));
  const minIn = layers.map((l) => {
    let m = Number.POSITIVE_INFINITY;
    for (const node of l.inboundNodes) {
      for (const src of node.inboundLayers) m = Math.min(m, index.get(src) ?? m);
    }
    return m;
  });
  let found: string | undefined;
  let laterMin = Number.POSITIVE_INFINITY;
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const side = sideOf(l);
    const cut = laterMin >= i;
    if (found === undefined && cut && side !== undefined && side >= want && !isPadding(l)) {
      found = l.name;
    }
    laterMin = Math.min(laterMin, minIn[i]!);
  }
  return found ?? feature;
}

/**
 * Resolves a Grad-CAM layer: a layer name, `1/N` (the last layer whose output is the input's
 * size / N, rounded up), or undefined ({@link defaultCamLayer}).
 *
 * @throws ConfigError naming the value and the layers that could be chosen.
 */
export function camLayer(model: LayersModel, arch: string, size: number, layer?: string): string {
  const candidates = (): string => {
    const seen = new Map<number, string>();
    for (const l of model.layers) {
      const s = l.outputShape;
      if (Array.isArray(s) && s.length === 4 && typeof s[1] === 'number' && !isPadding(l)) {
        seen.set(s[1], l.name);
      }
    }
    return [...seen.entries()]
      .filter(([h]) => h > 1 && h < size)
      .sort((a, b) => b[0] - a[0])
      .map(([h, name]) => `${name} (${h}×${h})`)
      .join(', ');
  };
  if (layer === undefined) return defaultCamLayer(model, arch, size);
  const frac = /^1\/(\d+)$/.exec(layer);
  if (frac) {
    const h = Math.ceil(size / Number(frac[1]));
    let found: string | undefined;
    for (const l of model.layers) {
      const s = l.outputShape;
      if (Array.isArray(s) && s.length === 4 && s[1] === h && s[2] === h) found = l.name;
    }
    if (found === undefined) {
      throw new ConfigError(
        `--cam-layer ${layer}: no layer of ${arch} at ${h}×${h} for a ${size}×${size} input; last layer at each size: ${candidates()}`,
      );
    }
    return found;
  }
  const l = model.layers.find((x) => x.name === layer);
  const s = l?.outputShape;
  if (!l || !Array.isArray(s) || s.length !== 4 || Array.isArray(s[0])) {
    throw new ConfigError(
      `--cam-layer "${layer}" is not a layer of ${arch} with one 4-D output; last layer at each size: ${candidates()}`,
    );
  }
  return layer;
}

/** A saved model prepared for Grad-CAM on one of its layers. Call `dispose` when done. */
export class GradCam {
  private readonly steps: GraphStep[];
  private readonly at: number;
  /** Steps that depend on the layer's output (the gradient's path), in order. */
  private readonly downstream: GraphStep[];

  private constructor(
    private readonly model: LayersModel,
    readonly size: number,
    readonly channels: number,
    /** The layer whose maps are weighted. */
    readonly layer: string,
  ) {
    this.steps = graphSteps(model);
    this.at = this.steps.findIndex((s) => s.layer.name === layer);
    const target = this.steps[this.at];
    if (target?.outputs.length !== 1) {
      throw new ConfigError(`Grad-CAM layer ${layer} must have one output`);
    }
    const dependent = new Set(target.outputs);
    this.downstream = [];
    for (const s of this.steps.slice(this.at + 1)) {
      if (s.inputs.some((id) => dependent.has(id))) {
        this.downstream.push(s);
        for (const id of s.outputs) dependent.add(id);
      }
    }
    const outs = model.outputs.map((t) => t.id);
    if (outs.length !== 1 || !dependent.has(outs[0]!)) {
      throw new ConfigError(`the output of ${model.name} does not depend on layer ${layer}`);
    }
  }

  /**
   * Loads the model saved in `dir` (a backend must be initialised).
   *
   * @param layer see `camLayer` (default: the architecture's feature layer).
   */
  static async load(dir: string, layer?: string): Promise<GradCam> {
    const input = inputCard(dir);
    const model = await loadSavedModel(dir);
    try {
      return GradCam.fromModel(model, input.arch, input.size, input.channels, layer);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Grad-CAM of a model built by `buildModel` (or any single-input, single-output model). */
  static fromModel(
    model: LayersModel,
    arch: string,
    size: number,
    channels: number,
    layer?: string,
  ): GradCam {
    return new GradCam(model, size, channels, camLayer(model, arch, size, layer));
  }

  /**
   * Runs the steps before and including the layer on x; returns the layer's output and the
   * other tensors the downstream steps read (by id). Tensors nothing needs any more are freed.
   */
  private forwardTo(x: tf.Tensor): Map<number, tf.Tensor> {
    const needed = new Map<number, number>();
    for (const s of this.steps) {
      for (const id of s.inputs) needed.set(id, (needed.get(id) ?? 0) + 1);
    }
    const values = new Map<number, tf.Tensor>([[this.model.inputs[0]!.id, x]]);
    const down = new Set(this.downstream);
    for (const s of this.steps) {
      if (down.has(s)) continue;
      applyStep(s, values);
      for (const id of s.inputs) {
        const left = needed.get(id)! - 1;
        needed.set(id, left);
        if (left === 0 && values.get(id) !== x) {
          values.get(id)!.dispose();
          values.delete(id);
        }
      }
    }
    return values;
  }

  /** Raw maps of n inputs (NHWC, preprocessed) for `labels` (indices into the six outputs). */
  maps(x: Float32Array, n: number, labels: readonly number[] = ALL_LABELS): CamMaps {
    const per = this.size * this.size * this.channels;
    if (x.length !== n * per) {
      throw new RangeError(`Grad-CAM needs ${n} × ${per} inputs, received ${x.length}`);
    }
    let out: Float32Array | undefined;
    let h = 0;
    let w = 0;
    const targetId = this.steps[this.at]!.outputs[0]!;
    const outputId = this.model.outputs[0]!.id;
    for (let e0 = 0; e0 < n; e0 += CAM_CHUNK) {
      const m = Math.min(CAM_CHUNK, n - e0);
      tf.tidy(() => {
        const xt = tf.tensor4d(x.subarray(e0 * per, (e0 + m) * per), [
          m,
          this.size,
          this.size,
          this.channels,
        ]);
        const fixed = this.forwardTo(xt);
        const a = fixed.get(targetId) as tf.Tensor4D;
        const [, ah, aw, k] = a.shape;
        if (out === undefined) {
          h = ah;
          w = aw;
          out = new Float32Array(n * labels.length * h * w);
        }
        for (const [li, l] of labels.entries()) {
          const score = (t: tf.Tensor): tf.Tensor => {
            const values = new Map(fixed);
            values.set(targetId, t);
            for (const s of this.downstream) applyStep(s, values);
            return tf.sum(tf.slice(values.get(outputId)!, [0, l], [m, 1]));
          };
          const g = tf.grad(score)(a);
          const weights = tf.reshape(tf.mean(g, [1, 2]), [m, 1, 1, k]);
          const cam = tf.relu(tf.sum(tf.mul(a, weights), 3)).dataSync() as Float32Array;
          for (let e = 0; e < m; e++) {
            out!.set(
              cam.subarray(e * h * w, (e + 1) * h * w),
              ((e0 + e) * labels.length + li) * h * w,
            );
          }
        }
      });
    }
    return { maps: out ?? new Float32Array(0), n, labels: [...labels], h, w };
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * One raw map (h × w) upsampled bilinearly (half-pixel centres) to rows × cols and divided by
 * its maximum, so it lies in [0, 1]; all zeros when the map is.
 */
export function camToSlice(
  map: Float32Array,
  h: number,
  w: number,
  rows: number,
  cols: number,
): Float32Array {
  const up = h === rows && w === cols ? map.slice() : resize(map, h, w, 1, rows, cols, 'bilinear');
  let max = 0;
  for (let i = 0; i < up.length; i++) if (up[i]! > max) max = up[i]!;
  if (max > 0) for (let i = 0; i < up.length; i++) up[i] = Math.max(0, up[i]! / max);
  else up.fill(0);
  return up;
}

/**
 * A raw map (h × w, on the model's input grid) placed on its slice (rows × cols): upsampled to
 * the crop box's side and put at the box (clipped, zero outside), then normalised like
 * {@link camToSlice}, which it equals when `box` is null (the input was the whole slice).
 */
export function camToBox(
  map: Float32Array,
  h: number,
  w: number,
  rows: number,
  cols: number,
  box: CropBox | null,
): Float32Array {
  if (box === null) return camToSlice(map, h, w, rows, cols);
  return normaliseMap(placeMap(map, h, w, rows, cols, box));
}

/** Index of the first maximum of a map (row-major). */
export function argmax(map: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i]! > map[best]!) best = i;
  return best;
}

/**
 * The pointing game's tolerance as a share of the slice's larger side: Zhang et al. count a hit
 * within 15 pixels of the object at their 224-pixel inputs.
 */
export const POINTING_TOLERANCE = 15 / 224;

/** The geometry of a tolerant pointing game: the grid and the tolerance in its pixels. */
export interface PointingShape {
  rows: number;
  cols: number;
  /** Largest Euclidean distance, in pixels, from the lesion that still counts as a hit. */
  tolerance: number;
}

/**
 * The pointing game: whether the map's maximum falls on a mask pixel with `bit` set, or, with a
 * shape, within `shape.tolerance` pixels of one. Map and mask have the same rows × cols.
 */
export function pointingHit(
  map: ArrayLike<number>,
  mask: ArrayLike<number>,
  bit: number,
  shape?: PointingShape,
): boolean {
  if (map.length !== mask.length) {
    throw new RangeError(`map has ${map.length} pixels, mask ${mask.length}`);
  }
  const peak = argmax(map);
  if ((mask[peak]! & bit) !== 0) return true;
  if (shape === undefined || shape.tolerance <= 0) return false;
  const { rows, cols, tolerance } = shape;
  const pr = Math.floor(peak / cols);
  const pc = peak % cols;
  const t = Math.floor(tolerance);
  for (let r = Math.max(0, pr - t); r <= Math.min(rows - 1, pr + t); r++) {
    for (let c = Math.max(0, pc - t); c <= Math.min(cols - 1, pc + t); c++) {
      const d2 = (r - pr) ** 2 + (c - pc) ** 2;
      if (d2 <= tolerance * tolerance && (mask[r * cols + c]! & bit) !== 0) return true;
    }
  }
  return false;
}

/**
 * The pixels within `tolerance` (Euclidean) of a mask pixel with `bit` set: 1 there, else 0.
 * The exact squared distance transform of Felzenszwalb and Huttenlocher, one pass per axis.
 */
export function nearMask(
  mask: ArrayLike<number>,
  bit: number,
  rows: number,
  cols: number,
  tolerance: number,
): Uint8Array {
  const INF = 1e20;
  const d = new Float64Array(rows * cols);
  for (let i = 0; i < d.length; i++) d[i] = (mask[i]! & bit) !== 0 ? 0 : INF;
  const n = Math.max(rows, cols);
  const f = new Float64Array(n);
  const out1 = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const pass = (len: number, get: (i: number) => number, set: (i: number, x: number) => void) => {
    for (let i = 0; i < len; i++) f[i] = get(i);
    let k = 0;
    v[0] = 0;
    z[0] = -INF;
    z[1] = INF;
    for (let q = 1; q < len; q++) {
      let s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      while (s <= z[k]!) {
        k--;
        s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = INF;
    }
    k = 0;
    for (let q = 0; q < len; q++) {
      while (z[k + 1]! < q) k++;
      out1[q] = (q - v[k]!) ** 2 + f[v[k]!]!;
    }
    for (let i = 0; i < len; i++) set(i, out1[i]!);
  };
  for (let c = 0; c < cols; c++) {
    pass(
      rows,
      (r) => d[r * cols + c]!,
      (r, x) => {
        d[r * cols + c] = x;
      },
    );
  }
  for (let r = 0; r < rows; r++) {
    pass(
      cols,
      (c) => d[r * cols + c]!,
      (c, x) => {
        d[r * cols + c] = x;
      },
    );
  }
  const near = new Uint8Array(d.length);
  const t2 = tolerance * tolerance;
  for (let i = 0; i < d.length; i++) near[i] = d[i]! <= t2 ? 1 : 0;
  return near;
}

/**
 * The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016)
 * tallied per label: a slice counts for a label when its mask holds that label's bits, and is a
 * hit when the map's maximum falls on one of those pixels — or, with a tolerance (Zhang et al.'s
 * 15 pixels at 224, {@link POINTING_TOLERANCE}), within that share of the slice's larger side
 * of one. Chance is the mean share of the slice a uniformly random point would hit: the lesion
 * with its tolerance band.
 */
export class PointingGame {
  private readonly tally = new Map<string, { slices: number; hits: number; area: number }>();
  /** The tolerance as a share of the slice's larger side (0: strict). */
  readonly tolerance: number;

  /** `labels`: rows to report even when no slice counts for them, in this order. */
  constructor(labels: readonly string[] = [], o: { tolerance?: number } = {}) {
    this.tolerance = o.tolerance ?? 0;
    for (const l of labels) this.tally.set(l, { slices: 0, hits: 0, area: 0 });
  }

  /**
   * Adds one map (rows × cols) against its mask; `bits`: the mask bits of the label. A tolerant
   * game needs the grid (`rows`, `cols`).
   */
  add(
    label: string,
    map: ArrayLike<number>,
    mask: ArrayLike<number>,
    bits: number,
    rows?: number,
    cols?: number,
  ): void {
    let area = 0;
    for (let i = 0; i < mask.length; i++) if ((mask[i]! & bits) !== 0) area++;
    const t = this.tally.get(label) ?? { slices: 0, hits: 0, area: 0 };
    this.tally.set(label, t);
    if (area === 0) return;
    t.slices++;
    if (this.tolerance <= 0) {
      t.area += area / mask.length;
      if (pointingHit(map, mask, bits)) t.hits++;
      return;
    }
    if (rows === undefined || cols === undefined || rows * cols !== mask.length) {
      throw new RangeError(`a tolerant pointing game needs the mask's rows × cols`);
    }
    const tolerance = this.tolerance * Math.max(rows, cols);
    const near = nearMask(mask, bits, rows, cols, tolerance);
    let nearArea = 0;
    for (let i = 0; i < near.length; i++) nearArea += near[i]!;
    t.area += nearArea / mask.length;
    if (near[argmax(map)] === 1) t.hits++;
  }

  /** One row per label (the constructor's, then others in the order first seen). */
  rows(): PointingRow[] {
    return [...this.tally.entries()].map(([label, t]) => ({
      label,
      slices: t.slices,
      hits: t.hits,
      rate: t.slices > 0 ? t.hits / t.slices : null,
      chance: t.slices > 0 ? t.area / t.slices : null,
    }));
  }
}

/** The "jet" colour map at t ∈ [0, 1] as 0…255 RGB. */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/**
 * The heatmap blended over a grey image (both rows × cols, values in [0, 1]) as a PNG: each
 * pixel is grey·(1 − α) + jet(m)·α with α = 0.5·m, so cold regions show the image alone.
 */
export function overlayPng(
  gray: Float32Array,
  map: Float32Array,
  rows: number,
  cols: number,
): Buffer {
  const n = rows * cols;
  if (gray.length !== n || map.length !== n) {
    throw new RangeError(`overlay needs ${n} pixels, received ${gray.length} and ${map.length}`);
  }
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const m = map[i]!;
    const g = 255 * Math.min(1, Math.max(0, gray[i]!));
    const alpha = 0.5 * m;
    const [r, gg, b] = jet(m);
    rgb[3 * i] = Math.round(g * (1 - alpha) + r * alpha);
    rgb[3 * i + 1] = Math.round(g * (1 - alpha) + gg * alpha);
    rgb[3 * i + 2] = Math.round(g * (1 - alpha) + b * alpha);
  }
  return encodePngRgb8(rgb, rows, cols);
}
