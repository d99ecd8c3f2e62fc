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
      // A 1×1 convolution of dy with the transposed filter (XNNPACK), not matMul(…, transposeB),
      // which is a naive loop on wasm.
      const wt = tf.reshape(tf.transpose(tf.reshape(filter, [ci, co])), [1, 1, co, ci]);
      return tf.conv2d(dy, wt as tf.Tensor4D, 1, 'valid');
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
      // An explicit transpose and a plain matMul are twice as fast as matMul(transposeA) on wasm.
      const dw = tf.matMul(tf.transpose(tf.reshape(xs, [m, ci])), tf.reshape(dy, [m, co]));
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

/**
 * Depthwise filter gradient in plain JS over the tensors' data: one pass over dy, for each
 * output position the kh·kw input taps of every channel (channels innermost, contiguous).
 * wasm has no fast op for this reduction (strided slices and tiles are naive loops there), and
 * its cost is small: kh·kw·N·O·Q·C multiply–adds.
 */
export function depthwiseBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [kh, kw, c, mult] = filterShape;
  if (mult !== 1)
    throw new Error(`depthwise backprop supports channel multiplier 1, received ${mult}`);
  const [sh, sw] = strides;
  const [n, h, w] = x.shape;
  const g = geometry(x.shape, kh, kw, strides, pad, dimRoundingMode);
  const xd = x.dataSync() as Float32Array;
  const dyd = dy.dataSync() as Float32Array;
  const dw = new Float64Array(kh * kw * c);
  const O = g.outH;
  const Q = g.outW;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < O; o++) {
      const y0 = o * sh - g.top;
      for (let q = 0; q < Q; q++) {
        const x0 = q * sw - g.left;
        const dOff = ((b * O + o) * Q + q) * c;
        for (let i = 0; i < kh; i++) {
          const yy = y0 + i;
          if (yy < 0 || yy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const xx = x0 + j;
            if (xx < 0 || xx >= w) continue;
            const xOff = ((b * h + yy) * w + xx) * c;
            const wOff = (i * kw + j) * c;
            for (let k = 0; k < c; k++)
              dw[wOff + k] = dw[wOff + k]! + xd[xOff + k]! * dyd[dOff + k]!;
          }
        }
      }
    }
  }
  return tf.tensor4d(Float32Array.from(dw), filterShape);
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

/**
 * The FusedBatchNorm gradient of tfjs-core, with the same maths but broadcasting instead of
 * `tile` for dx (wasm's Tile is a naive loop and was the largest cost of a MobileNetV2 step).
 */
function fusedBatchNormGrad(): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const g = dy as tf.Tensor;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?];
      const scaleValue = scale ?? tf.scalar(1);
      const axes: number[] = [];
      if (mean.rank === 1) for (let i = 0; i < x.rank - 1; i++) axes.push(i);
      const reduce = (t: tf.Tensor) => (axes.length > 0 ? tf.sum(t, axes) : t);
      const xMinusMean = tf.sub(x, mean);
      const dyTimesScale = tf.mul(g, scaleValue);
      const rstd = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
      const minusHalfRCube = tf.mul(tf.mul(tf.mul(rstd, rstd), rstd), tf.scalar(-0.5));
      return {
        x: () => tf.reshape(tf.mul(g, tf.mul(rstd, scaleValue)), x.shape),
        mean: () =>
          tf.reshape(reduce(tf.mul(tf.mul(rstd, tf.scalar(-1)), dyTimesScale)), mean.shape),
        variance: () =>
          tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)), mean.shape),
        scale: () => tf.reshape(reduce(tf.mul(g, tf.mul(xMinusMean, rstd))), mean.shape),
        offset: () => tf.reshape(reduce(g), mean.shape),
      };
    },
  };
}

let registered = false;

/**
 * Registers the composites on the 'wasm' backend (once; later calls do nothing). Call after
 * importing tfjs-layers and the wasm backend.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  tf.unregisterGradient(tf.FusedBatchNorm);
  tf.registerGradient(fusedBatchNormGrad());
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
