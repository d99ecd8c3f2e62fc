/**
 * Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
 * Gradient-based Localization", ICCV 2017) on the registry's feature layer of a saved model:
 * for label l with score y_l (the sigmoid output) and the feature maps A_k (h × w × K),
 *   w_k = mean over (i, j) of ∂y_l / ∂A_k(i, j),   map = ReLU(Σ_k w_k · A_k),
 * upsampled bilinearly (half-pixel centres) to the slice's size and divided by its maximum, so
 * it lies in [0, 1] (all zero when the ReLU leaves nothing).
 *
 * The gradient is taken through the model's own layers after the feature layer (the ichdet
 * head: pooling, dropout (identity at inference), dense + sigmoid), with `tf.grad`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { resize } from '../dicom/resize.js';
import { ConfigError } from '../errors.js';
import { encodePngRgb8 } from '../io/png.js';
import { archSpec, backbone } from '../models/index.js';
import { loadSavedModel } from '../train/checkpoint.js';
import { modelInput } from '../train/predict.js';

type Layer = LayersModel['layers'][number];

/** Raw Grad-CAM maps at the feature layer's resolution. */
export interface CamMaps {
  /** n × labels × h × w, ReLU applied, not normalised. */
  maps: Float32Array;
  n: number;
  labels: number[];
  h: number;
  w: number;
}

/** A saved model split at its feature layer, for Grad-CAM. Call `dispose` when done. */
export class GradCam {
  private constructor(
    private readonly model: LayersModel,
    private readonly features: LayersModel,
    private readonly head: Layer[],
    readonly size: number,
    readonly channels: number,
    readonly featureLayer: string,
  ) {}

  /**
   * Loads the model saved in `dir` (a backend must be initialised).
   *
   * @throws ConfigError when the layers after the feature layer are not an ichdet head.
   */
  static async load(dir: string): Promise<GradCam> {
    const input = modelInput(dir);
    const model = await loadSavedModel(dir);
    return GradCam.fromModel(model, input.arch, input.size, input.channels);
  }

  /** Grad-CAM of a model built by `buildModel` (its head: the layers after the feature layer). */
  static fromModel(model: LayersModel, arch: string, size: number, channels: number): GradCam {
    const featureLayer = archSpec(arch).featureLayer;
    const features = backbone(model, arch);
    const at = model.layers.findIndex((l) => l.name === featureLayer);
    const head = model.layers.slice(at + 1);
    if (at < 0 || head.length === 0 || !head.every((l) => l.name.startsWith('head_'))) {
      throw new ConfigError(
        `Grad-CAM needs the ichdet head after ${featureLayer}, found layers ${head.map((l) => l.name).join(', ') || 'none'}`,
      );
    }
    return new GradCam(model, features, head, size, channels, featureLayer);
  }

  /** Raw maps of n inputs (NHWC, preprocessed) for `labels` (indices into the six outputs). */
  maps(x: Float32Array, n: number, labels: readonly number[] = [0, 1, 2, 3, 4, 5]): CamMaps {
    const per = this.size * this.size * this.channels;
    if (x.length !== n * per) {
      throw new RangeError(`Grad-CAM needs ${n} × ${per} inputs, received ${x.length}`);
    }
    return tf.tidy(() => {
      const xt = tf.tensor4d(x, [n, this.size, this.size, this.channels]);
      const a = this.features.predict(xt) as tf.Tensor4D;
      const [, h, w, k] = a.shape;
      const out = new Float32Array(n * labels.length * h * w);
      for (const [li, l] of labels.entries()) {
        const score = (t: tf.Tensor): tf.Tensor => {
          let y: tf.Tensor = t;
          for (const layer of this.head) y = layer.apply(y) as tf.Tensor;
          return tf.sum(tf.slice(y, [0, l], [n, 1]));
        };
        const g = tf.grad(score)(a);
        const weights = tf.reshape(tf.mean(g, [1, 2]), [n, 1, 1, k]);
        const cam = tf.relu(tf.sum(tf.mul(a, weights), 3)).dataSync() as Float32Array;
        for (let e = 0; e < n; e++) {
          out.set(cam.subarray(e * h * w, (e + 1) * h * w), (e * labels.length + li) * h * w);
        }
      }
      return { maps: out, n, labels: [...labels], h, w };
    });
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

/** Index of the first maximum of a map (row-major). */
export function argmax(map: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i]! > map[best]!) best = i;
  return best;
}

/**
 * The pointing game: whether the map's maximum falls on a mask pixel with `bit` set. Map and
 * mask have the same rows × cols.
 */
export function pointingHit(map: ArrayLike<number>, mask: ArrayLike<number>, bit: number): boolean {
  if (map.length !== mask.length) {
    throw new RangeError(`map has ${map.length} pixels, mask ${mask.length}`);
  }
  return (mask[argmax(map)]! & bit) !== 0;
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
