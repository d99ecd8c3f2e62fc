/**
 * Training kernels for the wasm backend. tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter` or `DepthwiseConv2dNativeBackpropInput` (tfjs issue
 * #8474), and its `Conv2DBackpropInput` is a naive loop, so no CNN trains on it as shipped.
 * Here each is registered as a composite of fast wasm ops (XNNPACK convolutions, matmuls,
 * slices). Kernels, not gradients, are replaced: the fused convolutions' gradients call these
 * kernels directly. Shapes are NHWC, filters [kh, kw, in, out] (depthwise: [kh, kw, C, 1]).
 *
 * Notation: forward y[o] = Σᵢ x[o·s − p + i]·w[i] along each spatial axis (stride s, leading pad
 * p, kernel k, input length L, output length O).
 *
 * - Input gradient: dx[h] = Σᵢ dy↑[h + p − i]·w[i] where dy↑ is dy with s − 1 zeros inserted
 *   between samples — a stride-1 valid convolution of dy↑ padded by k − 1 − p before and
 *   L + p − (O − 1)s − 1 after, with the spatially flipped filter (in/out swapped for
 *   Conv2D). 1×1 stride-1 convolutions are one matmul dy·wᵀ.
 * - Conv2D filter gradient: dw[i, j, a, b] = Σ_{n,o,q} x[n, o·s − p + i, q·s − p' + j, a]·dy[n, o, q, b]
 *   — one convolution with batch and channel axes swapped: input xᵀ = [Cin, H, W, N], filter
 *   dyᵀ = [O, Q, N, Cout], dilation s, padding (p, k + (O − 1)s − L − p), output [Cin, kh, kw, Cout].
 *   1×1 kernels are one matmul xᵀ·dy over the (strided) positions.
 * - Depthwise filter gradient: for each of the kh·kw taps, Σ over n, o, q of the strided window of
 *   x times dy — elementwise products reduced over batch and space.
 */
import * as tf from '@tensorflow/tfjs-core';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface ConvGeometry {
  /** Leading and trailing pads per spatial axis. */
  top: number;
  left: number;
  outH: number;
  outW: number;
}

function geometry(
  inShape: readonly number[],
  kh: number,
  kw: number,
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    [kh, kw, inShape[3]!, 1],
    strides,
    1,
    pad,
    dimRoundingMode,
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

function pair(v: number | [number, number]): [number, number] {
  return Array.isArray(v) ? v : [v, v];
}

/** dy with s − 1 zeros between samples along H and W: [N, (O−1)s+1, (Q−1)s+1, C]. */
function dilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, o, q, c] = dy.shape;
  const r = tf.reshape(dy, [n, o, 1, q, 1, c]);
  const padded = tf.pad(r, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  const flat = tf.reshape(padded, [n, o * sh, q * sw, c]);
  return tf.slice(flat, [0, 0, 0, 0], [n, (o - 1) * sh + 1, (q - 1) * sw + 1, c]) as tf.Tensor4D;
}

/** Pads (positive) or crops (negative) the spatial axes of x. */
function padOrCrop(x: tf.Tensor4D, t: number, b: number, l: number, r: number): tf.Tensor4D {
  let y = x;
  const [, h, w] = y.shape;
  if (t < 0 || b < 0 || l < 0 || r < 0) {
    const ct = Math.max(0, -t);
    const cl = Math.max(0, -l);
    y = tf.slice(y, [0, ct, cl, 0], [-1, h - ct - Math.max(0, -b), w - cl - Math.max(0, -r), -1]);
  }
  const pt = Math.max(0, t);
  const pb = Math.max(0, b);
  const pl = Math.max(0, l);
  const pr = Math.max(0, r);
  if (pt || pb || pl || pr) {
    y = tf.pad(y, [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ]);
  }
  return y;
}

/** The padded, zero-inserted dy that a stride-1 valid convolution turns into dx. */
function backpropInputSource(
  dy: tf.Tensor4D,
  inShape: readonly number[],
  kh: number,
  kw: number,
  strides: [number, number],
  g: ConvGeometry,
): tf.Tensor4D {
  const [sh, sw] = strides;
  const [, h, w] = inShape as [number, number, number, number];
  const up = dilate(dy, sh, sw);
  const t = kh - 1 - g.top;
  const b = h + g.top - (g.outH - 1) * sh - 1;
  const l = kw - 1 - g.left;
  const r = w + g.left - (g.outW - 1) * sw - 1;
  return padOrCrop(up, t, b, l, r);
}

export function conv2dBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filter.shape;
    if (kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1) {
      const [n, h, w] = inShape;
      const dx = tf.matMul(
        tf.reshape(dy, [n * h * w, co]),
        tf.reshape(filter, [ci, co]),
        false,
        true,
      );
      return tf.reshape(dx, inShape);
    }
    const g = geometry(inShape, kh, kw, strides, pad, dimRoundingMode);
    const src = backpropInputSource(dy, inShape, kh, kw, strides, g);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(src, flipped, 1, 'valid');
  });
}

export function conv2dBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filterShape;
    const [sh, sw] = strides;
    const [n, h, w] = x.shape;
    const g = geometry(x.shape, kh, kw, strides, pad, dimRoundingMode);
    if (kh === 1 && kw === 1) {
      let xs: tf.Tensor4D = x;
      if (g.top !== 0 || g.left !== 0 || sh !== 1 || sw !== 1) {
        xs = tf.stridedSlice(
          padOrCrop(x, g.top, 0, g.left, 0),
          [0, 0, 0, 0],
          [n, (g.outH - 1) * sh + 1, (g.outW - 1) * sw + 1, ci],
          [1, sh, sw, 1],
        ) as tf.Tensor4D;
      }
      const m = n * g.outH * g.outW;
      const dw = tf.matMul(tf.reshape(xs, [m, ci]), tf.reshape(dy, [m, co]), true, false);
      return tf.reshape(dw, filterShape);
    }
    const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D;
    const padded = padOrCrop(
      xt,
      g.top,
      kh + (g.outH - 1) * sh - h - g.top,
      g.left,
      kw + (g.outW - 1) * sw - w - g.left,
    );
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const out = tf.conv2d(padded, dyt, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

export function depthwiseBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, mult] = filter.shape;
    if (mult !== 1)
      throw new Error(`depthwise backprop supports channel multiplier 1, received ${mult}`);
    const g = geometry(inShape, kh, kw, strides, pad, dimRoundingMode);
    const src = backpropInputSource(dy, inShape, kh, kw, strides, g);
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(src, flipped, 1, 'valid');
  });
}

export function depthwiseBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, mult] = filterShape;
    if (mult !== 1)
      throw new Error(`depthwise backprop supports channel multiplier 1, received ${mult}`);
    const [sh, sw] = strides;
    const [n, h, w] = x.shape;
    const g = geometry(x.shape, kh, kw, strides, pad, dimRoundingMode);
    const padded = padOrCrop(
      x,
      g.top,
      kh + (g.outH - 1) * sh - h - g.top,
      g.left,
      kw + (g.outW - 1) * sw - w - g.left,
    );
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const win = tf.stridedSlice(
          padded,
          [0, i, j, 0],
          [n, i + (g.outH - 1) * sh + 1, j + (g.outW - 1) * sw + 1, c],
          [1, sh, sw, 1],
        );
        taps.push(tf.sum(tf.mul(win, dy), [0, 1, 2]));
      }
    }
    return tf.reshape(tf.stack(taps), filterShape);
  });
}

type Attrs = Record<string, unknown>;

/**
 * Kernel inputs are TensorInfos; ops need Tensors. The wrapper shares the data; its own
 * reference is counted so that disposing it (at the end of the composite's tidy) leaves the
 * caller's tensor alive.
 */
function asTensor(info: tf.TensorInfo | undefined): tf.Tensor4D {
  if (!info) throw new Error('missing kernel input');
  const engine = tf.engine();
  engine.backend.incRef(info.dataId);
  return engine.makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

function twoInputs(
  inputs: tf.NamedTensorInfoMap,
  a: string,
  b: string,
): [tf.Tensor4D, tf.Tensor4D] {
  return [asTensor(inputs[a]), asTensor(inputs[b])];
}

/** Runs a composite: wraps the inputs, frees the wrappers and every intermediate. */
function composite(fn: () => tf.Tensor): tf.Tensor {
  return tf.tidy(fn);
}

function attrsOf(a: Attrs) {
  return {
    strides: pair(a.strides as number | [number, number]),
    pad: a.pad as Pad,
    dimRoundingMode: a.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    dilations: pair((a.dilations as number | [number, number] | undefined) ?? 1),
  };
}

function requireUndilated(name: string, d: [number, number]): void {
  if (d[0] !== 1 || d[1] !== 1) {
    throw new Error(
      `${name} on wasm: dilated convolutions are not supported, received ${d.join('×')}`,
    );
  }
}

let registered = false;

/**
 * Registers the composites on the 'wasm' backend (once; later calls do nothing). Call after
 * importing tfjs-layers and the wasm backend.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  const wasm = 'wasm';
  const replace = (kernelName: string, kernelFunc: tf.KernelFunc) => {
    if (tf.getKernel(kernelName, wasm)) tf.unregisterKernel(kernelName, wasm);
    tf.registerKernel({ kernelName, backendName: wasm, kernelFunc });
  };
  replace(tf.Conv2DBackpropInput, ({ inputs, attrs }) => {
    const a = attrsOf(attrs as Attrs);
    requireUndilated('Conv2DBackpropInput', a.dilations);
    const inputShape = (attrs as Attrs).inputShape as [number, number, number, number];
    return composite(() => {
      const [dy, filter] = twoInputs(inputs, 'dy', 'filter');
      return conv2dBackpropInput(dy, filter, inputShape, a.strides, a.pad, a.dimRoundingMode);
    });
  });
  replace(tf.Conv2DBackpropFilter, ({ inputs, attrs }) => {
    const a = attrsOf(attrs as Attrs);
    requireUndilated('Conv2DBackpropFilter', a.dilations);
    const filterShape = (attrs as Attrs).filterShape as [number, number, number, number];
    return composite(() => {
      const [x, dy] = twoInputs(inputs, 'x', 'dy');
      return conv2dBackpropFilter(x, dy, filterShape, a.strides, a.pad, a.dimRoundingMode);
    });
  });
  replace(tf.DepthwiseConv2dNativeBackpropInput, ({ inputs, attrs }) => {
    const a = attrsOf(attrs as Attrs);
    requireUndilated('DepthwiseConv2dNativeBackpropInput', a.dilations);
    const inputShape = (attrs as Attrs).inputShape as [number, number, number, number];
    return composite(() => {
      const [dy, filter] = twoInputs(inputs, 'dy', 'filter');
      return depthwiseBackpropInput(dy, filter, inputShape, a.strides, a.pad, a.dimRoundingMode);
    });
  });
  replace(tf.DepthwiseConv2dNativeBackpropFilter, ({ inputs, attrs }) => {
    const a = attrsOf(attrs as Attrs);
    requireUndilated('DepthwiseConv2dNativeBackpropFilter', a.dilations);
    const filterShape = (attrs as Attrs).filterShape as [number, number, number, number];
    return composite(() => {
      const [x, dy] = twoInputs(inputs, 'x', 'dy');
      return depthwiseBackpropFilter(x, dy, filterShape, a.strides, a.pad, a.dimRoundingMode);
    });
  });
}
