/** The shapes and output geometry of an NHWC convolution, shared by the wasm and native kernels. */
import * as tf from '@tensorflow/tfjs-core';

export type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
export type Rounding = 'floor' | 'round' | 'ceil' | undefined;
export type Shape4 = [number, number, number, number];

/** Leading pads (tfjs' padInfo.top / left; 'same' pads the extra row at the end) and output size. */
export interface Geometry {
  top: number;
  left: number;
  outH: number;
  outW: number;
}

export function geometry(
  inShape: Shape4,
  kh: number,
  kw: number,
  strides: [number, number],
  pad: Pad,
  rounding: Rounding,
): Geometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape,
    [kh, kw, inShape[3], 1],
    strides,
    1,
    pad,
    rounding,
    false,
    'channelsLast',
  );
  return {
    top: info.padInfo.top,
    left: info.padInfo.left,
    outH: info.outHeight,
    outW: info.outWidth,
  };
}
