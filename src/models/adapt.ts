/**
 * Adapting ImageNet first-convolution weights to another input channel count — timm's
 * `adapt_input_conv` (timm/models/_manipulate.py), for channels-last Keras kernels.
 */

import * as tfc from '@tensorflow/tfjs-core';
import { type Tensor4D, tidy } from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

/**
 * Maps a first-conv kernel `[kh, kw, 3, out]` to `[kh, kw, channels, out]`:
 * 1 channel: the sum over RGB; 3: unchanged; otherwise the RGB weights repeated cyclically
 * ⌈c/3⌉ times, the first c kept, scaled by 3/c (so a constant image gives the same response).
 */
export function adaptInputConv(weights3: Tensor4D, channels: number): Tensor4D {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new ConfigError(`channels must be a positive integer, received ${channels}`);
  }
  if (weights3.rank !== 4 || weights3.shape[2] !== 3) {
    throw new ConfigError(
      `first-conv kernel must be [kh, kw, 3, out], received [${weights3.shape.join(', ')}]`,
    );
  }
  return tidy(() => {
    if (channels === 3) return weights3.clone();
    if (channels === 1) return tfc.sum(weights3, 2, true) as Tensor4D;
    const reps = Math.ceil(channels / 3);
    const tiled = tfc.tile(weights3, [1, 1, reps, 1]);
    const [kh, kw, , out] = weights3.shape;
    const cut = tfc.slice(tiled, [0, 0, 0, 0], [kh, kw, channels, out]);
    return tfc.mul(cut, 3 / channels) as Tensor4D;
  });
}
