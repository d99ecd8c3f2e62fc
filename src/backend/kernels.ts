/**
 * Training on tfjs-backend-wasm. As shipped (4.22) it has no `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter` or `DepthwiseConv2dNativeBackpropInput` (tfjs issue
 * #8474), and its `Conv2DBackpropInput` is a naive loop, so no CNN trains on it; and several
 * kernels a training step leans on are slow there (reductions over the leading axes transpose
 * first; comparisons, `Tile` and `StridedSlice` are scalar loops). `registerWasmTrainingKernels`
 * registers, on 'wasm' only:
 *
 * - the four convolution gradient kernels, as compositions of XNNPACK convolutions and matrix
 *   products with ichdet's SIMD kernels (simd.ts, kernels.wat) for the layout changes and the
 *   depthwise cases;
 * - `Sum` and `Mean` over all axes but the last (bias and broadcast gradients) or all but the
 *   first and last (global average pooling) as one SIMD pass; other reductions keep the shipped
 *   kernels;
 * - gradients (registered for every backend, the SIMD path taken only on wasm) of `Relu`,
 *   `Relu6` and `ClipByValue` as one masking pass instead of 3–5 comparison/select ops;
 * - training-mode batch norm as one fused kernel forward and backward, and the fix that lets
 *   tfjs-layers' `BatchNormalization({scale: false})` train at all (batchnorm.ts);
 * - tfjs-layers' Swish activation as one op with a one-pass gradient;
 * - max- and average-pooling gradients, the slices and splits of padding and concatenation
 *   gradients, and copy-free Identity and same-type Cast (tensors are immutable).
 *
 * Kernels, not only gradients, are replaced: the fused convolutions' gradients (FusedConv2D,
 * FusedDepthwiseConv2D) call the backprop kernels directly. Shapes are NHWC; filters are
 * [kh, kw, in, out], depthwise [kh, kw, c, 1] (channel multiplier 1, no dilation).
 *
 * Notation, per spatial axis: the forward convolution is y[o] = Σᵢ x[o·s − p + i]·w[i] with
 * stride s, leading pad p (tfjs' padInfo.top / left; 'same' pads asymmetrically, the extra row at
 * the end), kernel length k, input length L, output length O.
 */
import * as tf from '@tensorflow/tfjs-core';
import { patchBatchNormTraining } from './batchnorm.js';
import { type Geometry, geometry, type Pad, type Rounding, type Shape4 } from './geometry.js';
import { markNativeWeight, markPackedWeight } from './heap.js';
import {
  NATIVE_ACTIVATIONS,
  nativeActive,
  nativeConv2d,
  nativeConvFilterGrad,
  nativeConvInputGrad,
} from './native.js';
import {
  avgPoolGrad,
  col2im,
  colSlice,
  colSum,
  copyRange,
  dwFilterGrad,
  dwInputGrad,
  flipFilter,
  gather,
  groupColSum,
  im2col,
  maskGrad,
  maxPoolGrad,
  onWasm,
  registerSimdKernels,
  scatter,
  swap01,
  swishGrad,
  toCHWN,
  transpose2d,
} from './simd.js';

/**
 * The largest patch matrix (im2col: images × O·Q × kh·kw·C floats, 128 MiB) a convolution
 * gradient builds at once; the filter gradient takes the batch in chunks of images under it, and
 * beyond one image both gradients run as convolutions, which need no patches.
 */
export const MAX_PATCH_ELEMENTS = 1 << 25;

/** True when the convolution reads x one to one: stride 1, no padding, same size. */
function isIdentityGrid(inShape: Shape4, g: Geometry, strides: [number, number]): boolean {
  return (
    strides[0] === 1 &&
    strides[1] === 1 &&
    g.top === 0 &&
    g.left === 0 &&
    g.outH === inShape[1] &&
    g.outW === inShape[2]
  );
}

/**
 * Conv2DBackpropInput: dx[h] = Σ_{o,i : o·s − p + i = h} dy[o]·w[i].
 * - 1×1: dx = dy·wᵀ at the positions the forward read (o·s − p), zero elsewhere: one matrix
 *   product (XNNPACK, both operands untransposed) and, unless stride 1 and no padding, a scatter.
 * - k×k, strided, small (≤ 8×8 outputs) or with few input channels: dx = col2im(dy·Wᵀ), W the
 *   filter as a (kh·kw·Cin) × Cout matrix: the product gives every tap's contribution
 *   [N, O, Q, kh, kw, Cin], col2im adds each at x[o·s − p + i, q·s' − p' + j]. This does the
 *   forward's multiply–adds exactly, where the convolution below would multiply the s² − 1 of
 *   s² zeros of a zero-inserted dy (and XNNPACK is slow with few output channels).
 * - Otherwise a stride-1 'valid' convolution of dy placed at o + k − 1 − p in a zero tensor of
 *   length L + k − 1 (a scatter), with the filter flipped in space and in/out swapped:
 *   dx[h] = Σ_{i'} dy↑[h + i']·w[k − 1 − i'].
 */
export function conv2dBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding?: Rounding,
  maxPatchElements = MAX_PATCH_ELEMENTS,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filter.shape;
    const [n, h, w] = inShape;
    const g = geometry(inShape, kh, kw, strides, pad, rounding);
    if (kh === 1 && kw === 1) {
      const wt = transpose2d(tf.reshape(filter, [ci, co]) as tf.Tensor2D);
      const dxs = tf.matMul(tf.reshape(dy, [n * g.outH * g.outW, co]), wt);
      const grid = tf.reshape(dxs, [n, g.outH, g.outW, ci]) as tf.Tensor4D;
      if (isIdentityGrid(inShape, g, strides)) return grid;
      return scatter(grid, [h, w], strides, g.top, g.left);
    }
    const patches = n * g.outH * g.outW * kh * kw * ci;
    const strided = strides[0] !== 1 || strides[1] !== 1;
    if ((strided || g.outH * g.outW <= 64 || ci < 8) && patches <= maxPatchElements) {
      const wt = transpose2d(tf.reshape(filter, [kh * kw * ci, co]) as tf.Tensor2D);
      const cols = tf.matMul(tf.reshape(dy, [n * g.outH * g.outW, co]), wt);
      return col2im(
        tf.reshape(cols, [n, g.outH, g.outW, kh, kw, ci]),
        [h, w],
        strides,
        g.top,
        g.left,
      );
    }
    const up = scatter(dy, [h + kh - 1, w + kw - 1], strides, g.top - kh + 1, g.left - kw + 1);
    return tf.conv2d(up, flipFilter(filter), 1, 'valid');
  });
}

/**
 * Conv2DBackpropFilter:
 * dw[i, j, a, b] = Σ_{n,o,q} x[n, o·s − p + i, q·s' − p' + j, a]·dy[n, o, q, b].
 * - 1×1: dw = xₛᵀ·dy with xₛ the strided, padded positions the forward read (a gather), as rows
 *   of an M × Cin matrix (M = N·O·Q); the transposed operand is formed explicitly (SIMD
 *   transpose) so that XNNPACK's untransposed product runs — xₛᵀ·dy, or (dyᵀ·xₛ)ᵀ when dy has
 *   fewer channels.
 * - k×k: dw = Pᵀ·dy with P = im2col(x), the M × (kh·kw·Cin) patch matrix, transposed explicitly;
 *   summed over chunks of images when P would exceed 128 MiB.
 * - k×k with one image's patch matrix over 128 MiB: one convolution with batch and channel
 *   axes swapped, input xᵀ [Cin, Hₚ, Wₚ, N] (x shifted by p and cropped or zero-padded to
 *   Hₚ = (O − 1)s + k), filter dyᵀ [O, Q, N, Cout], dilation s, 'valid': [Cin, kh, kw, Cout],
 *   then reordered.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding?: Rounding,
  maxPatchElements = MAX_PATCH_ELEMENTS,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filterShape;
    const [sh, sw] = strides;
    const n = x.shape[0];
    const g = geometry(x.shape, kh, kw, strides, pad, rounding);
    if (kh === 1 && kw === 1) {
      const xs = isIdentityGrid(x.shape, g, strides)
        ? x
        : gather(x, [g.outH, g.outW], strides, g.top, g.left);
      const m = n * g.outH * g.outW;
      const x2 = tf.reshape(xs, [m, ci]) as tf.Tensor2D;
      const dy2 = tf.reshape(dy, [m, co]) as tf.Tensor2D;
      // XNNPACK packs the right operand: the one with fewer channels packs and multiplies faster.
      const dw = ci >= co ? tf.matMul(transpose2d(x2), dy2) : tf.matMul(transpose2d(dy2), x2);
      return tf.reshape(ci >= co ? dw : transpose2d(dw as tf.Tensor2D), filterShape) as tf.Tensor4D;
    }
    // Patches of as many images at a time as fit the cap; dw sums over the chunks.
    const perImage = g.outH * g.outW * kh * kw * ci;
    const chunk = Math.min(n, Math.floor(maxPatchElements / perImage));
    if (chunk >= 1) {
      let dw: tf.Tensor | null = null;
      for (let first = 0; first < n; first += chunk) {
        const count = Math.min(chunk, n - first);
        const m = count * g.outH * g.outW;
        const patches = tf.reshape(
          im2col(x, [g.outH, g.outW], [kh, kw], strides, g.top, g.left, [first, count]),
          [m, kh * kw * ci],
        ) as tf.Tensor2D;
        const dyPart = count === n ? dy : tf.slice(dy, [first, 0, 0, 0], [count, -1, -1, -1]);
        const part = tf.matMul(transpose2d(patches), tf.reshape(dyPart, [m, co]));
        dw = dw ? tf.add(dw, part) : part;
      }
      return tf.reshape(dw as tf.Tensor, filterShape) as tf.Tensor4D;
    }
    const hp = (g.outH - 1) * sh + kh;
    const wp = (g.outW - 1) * sw + kw;
    const xt = toCHWN(x, [hp, wp], g.top, g.left);
    const dyt = tf.reshape(swap01(tf.reshape(dy, [n, g.outH * g.outW, co])), [
      g.outH,
      g.outW,
      n,
      co,
    ]) as tf.Tensor4D;
    const out = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.reshape(swap01(tf.reshape(out, [ci, kh * kw, co])), filterShape) as tf.Tensor4D;
  });
}

/**
 * DepthwiseConv2dNativeBackpropInput (multiplier 1):
 * dx[h, c] = Σ_{o,i : o·s − p + i = h} dy[o, c]·w[i, c].
 * Stride 1: a depthwise convolution of dy padded by k − 1 − p before (XNNPACK) with the flipped
 * filter. Larger strides: the SIMD scatter-accumulate kernel, which skips the (s² − 1)/s² zeros
 * a zero-inserted dy would hold.
 */
export function depthwiseBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding?: Rounding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, mult] = filter.shape;
    requireMultiplierOne(mult);
    const [, h, w] = inShape;
    const g = geometry(inShape, kh, kw, strides, pad, rounding);
    if (strides[0] !== 1 || strides[1] !== 1) {
      return dwInputGrad(dy, filter, [h, w], strides, g.top, g.left);
    }
    const up = scatter(dy, [h + kh - 1, w + kw - 1], strides, g.top - kh + 1, g.left - kw + 1);
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(up, flipped, 1, 'valid');
  });
}

/**
 * DepthwiseConv2dNativeBackpropFilter (multiplier 1):
 * dw[i, j, c] = Σ_{n,o,q} x[n, o·s − p + i, q·s' − p' + j, c]·dy[n, o, q, c], one SIMD pass over
 * the output positions, each adding its kh·kw taps, summed per image in float32 and over images
 * in float64.
 */
export function depthwiseBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding?: Rounding,
): tf.Tensor4D {
  const [kh, kw, , mult] = filterShape;
  requireMultiplierOne(mult);
  const g = geometry(x.shape, kh, kw, strides, pad, rounding);
  return dwFilterGrad(x, dy, [kh, kw], strides, g.top, g.left);
}

function requireMultiplierOne(mult: number): void {
  if (mult !== 1) {
    throw new Error(
      `depthwise convolution gradients on wasm support channel multiplier 1, received ${mult}`,
    );
  }
}

// ------------------------------------------------------------------------------ registration

type Attrs = Record<string, unknown>;

function pair(v: unknown, name: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((e) => typeof e === 'number')) {
    return v as [number, number];
  }
  throw new Error(`${name} must be a number or a pair, received ${JSON.stringify(v)}`);
}

function shape4(v: unknown, name: string): Shape4 {
  if (Array.isArray(v) && v.length === 4 && v.every((e) => typeof e === 'number')) {
    return v as Shape4;
  }
  throw new Error(`${name} must be a rank-4 shape, received ${JSON.stringify(v)}`);
}

interface ConvAttrs {
  strides: [number, number];
  pad: Pad;
  rounding: Rounding;
}

function convAttrs(kernel: string, attrs: Attrs): ConvAttrs {
  const dilations = pair(attrs.dilations ?? 1, 'dilations');
  if (dilations[0] !== 1 || dilations[1] !== 1) {
    throw new Error(`${kernel} on wasm: dilation must be 1, received ${dilations.join('×')}`);
  }
  const format = attrs.dataFormat;
  if (format !== undefined && format !== 'NHWC' && format !== 'channelsLast') {
    throw new Error(`${kernel} on wasm: data format must be NHWC, received ${String(format)}`);
  }
  return {
    strides: pair(attrs.strides, 'strides'),
    pad: attrs.pad as Pad,
    rounding: attrs.dimRoundingMode as Rounding,
  };
}

/**
 * A forward convolution's attributes when the native accelerator can run it (NHWC, no
 * dilation), else null (the shipped XNNPACK kernel runs it).
 */
function nativeConvAttrs(attrs: Attrs): ConvAttrs | null {
  const dilations = pair(attrs.dilations ?? 1, 'dilations');
  const format = attrs.dataFormat;
  if (dilations[0] !== 1 || dilations[1] !== 1) return null;
  if (format !== undefined && format !== 'NHWC' && format !== 'channelsLast') return null;
  return {
    strides: pair(attrs.strides, 'strides'),
    pad: attrs.pad as Pad,
    rounding: attrs.dimRoundingMode as Rounding,
  };
}

/**
 * A kernel input as a Tensor. The engine passes the op's Tensors; anything else (a bare
 * TensorInfo from a backend-internal call) is wrapped, with a reference of its own that the
 * enclosing tidy releases.
 */
function asTensor(info: tf.TensorInfo | undefined, name: string): tf.Tensor4D {
  if (!info) throw new Error(`missing kernel input ${name}`);
  if (info instanceof tf.Tensor) return info as tf.Tensor4D;
  const engine = tf.engine();
  engine.backend.incRef(info.dataId);
  return engine.makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

/** The next float32 below v, so that x > below(v) ⟺ x ≥ v for float32 x. */
function below(v: number): number {
  if (!Number.isFinite(v)) return v;
  const f = new Float32Array([v]);
  const i = new Int32Array(f.buffer);
  if (f[0] === 0) return -1.401298464324817e-45;
  i[0] = (i[0] ?? 0) + ((f[0] ?? 0) > 0 ? -1 : 1);
  return f[0] ?? v;
}

/**
 * Which SIMD sum a reduction is: 'rows' over all axes but the last, 'middle' over all but the
 * first and the last (per image, e.g. global average pooling), or null (another reduction).
 */
function reductionKind(axis: unknown, shape: readonly number[]): 'rows' | 'middle' | null {
  const r = shape.length;
  if (r < 2) return null;
  const axes = tf.util.parseAxisParam(axis as number | number[], [...shape]);
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  if (sorted.length === r - 1 && sorted.every((a, i) => a === i)) return 'rows';
  if (r >= 3 && sorted.length === r - 2 && sorted.every((a, i) => a === i + 1)) return 'middle';
  return null;
}

/**
 * Sum and Mean over all axes but the last (bias, batch-norm gradients) or all but the first and
 * last (global average pooling, squeeze-and-excitation) as one SIMD pass; the shipped kernels
 * transpose the reduced axes innermost first. Other reductions: shipped.
 */
function reduction(kind: 'Sum' | 'Mean', shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x;
    const attrs = args.attrs as Attrs;
    const which = x?.dtype === 'float32' ? reductionKind(attrs.axis, x.shape) : null;
    if (!x || which === null) return shipped(args);
    return tf.tidy(() => {
      const shape = x.shape;
      const c = shape[shape.length - 1] ?? 1;
      const n = shape[0] ?? 1;
      const xt = asTensor(x, 'x');
      let s: tf.Tensor = which === 'rows' ? colSum(xt) : tf.reshape(groupColSum(xt, n), [n, c]);
      if (kind === 'Mean')
        s = tf.div(s, tf.util.sizeFromShape([...shape]) / (which === 'rows' ? c : n * c));
      if (attrs.keepDims !== true) return s;
      const last = shape.length - 1;
      return tf.reshape(
        s,
        shape.map((d, i) => (i === last || (which === 'middle' && i === 0) ? d : 1)),
      );
    });
  };
}

/**
 * Identity without a copy: tensors are immutable, so the output shares the input's data, as the
 * cpu backend's Identity does. The shipped wasm kernel copies — every tensor tfjs saves for
 * backprop is cloned through it.
 */
function identity(shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x;
    if (!x || x.dtype === 'string') return shipped(args);
    (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** Cast to the dtype a tensor already has (every Multiply gradient does it): Identity. */
function cast(shipped: tf.KernelFunc): tf.KernelFunc {
  const same = identity(shipped);
  return (args) => {
    const x = args.inputs.x;
    return x && x.dtype === (args.attrs as Attrs).dtype ? same(args) : shipped(args);
  };
}

/**
 * Slice in the heap: a contiguous run is one memory copy and a slice of the spatial axes of an
 * NHWC tensor (the gradient of zero padding) one gather; the shipped kernel first copies the
 * whole input out of the heap, then slices row by row in JavaScript. Others: shipped.
 */
function slice(shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x;
    const attrs = args.attrs as Attrs;
    if (x?.dtype !== 'float32') return shipped(args);
    const [begin, size] = tf.slice_util.parseSliceParams(
      x,
      attrs.begin as number | number[],
      attrs.size as number | number[] | undefined,
    ) as [number[], number[]];
    if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
      const offset = tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape));
      return tf.tidy(() => copyRange(asTensor(x, 'x'), offset, size));
    }
    const [n, , , c] = x.shape;
    if (
      x.shape.length === 4 &&
      begin[0] === 0 &&
      size[0] === n &&
      begin[3] === 0 &&
      size[3] === c
    ) {
      const [, bh = 0, bw = 0] = begin;
      const [, sh = 0, sw = 0] = size;
      return tf.tidy(() => gather(asTensor(x, 'x'), [sh, sw], [1, 1], -bh, -bw));
    }
    return shipped(args);
  };
}

/** MaxPoolGrad (NHWC, no dilation) with the SIMD kernel; the shipped one is a scalar loop. */
function maxPoolGradKernel(shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs as Attrs;
    if (input?.dtype !== 'float32' || input.shape.length !== 4 || dy?.dtype !== 'float32') {
      return shipped(args);
    }
    const info = tf.backend_util.computePool2DInfo(
      input.shape as Shape4,
      pair(attrs.filterSize, 'filterSize'),
      pair(attrs.strides, 'strides'),
      1,
      attrs.pad as Pad,
      attrs.dimRoundingMode as Rounding,
    );
    return tf.tidy(() =>
      maxPoolGrad(
        asTensor(input, 'input'),
        asTensor(dy, 'dy'),
        [info.filterHeight, info.filterWidth],
        [info.strideHeight, info.strideWidth],
        info.padInfo.top,
        info.padInfo.left,
      ),
    );
  };
}

/** AvgPoolGrad (NHWC, no dilation) with the SIMD kernel, tfjs' semantics (dy/(kh·kw)). */
function avgPoolGradKernel(shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs as Attrs;
    if (input?.shape.length !== 4 || dy?.dtype !== 'float32') return shipped(args);
    const info = tf.backend_util.computePool2DInfo(
      input.shape as Shape4,
      pair(attrs.filterSize, 'filterSize'),
      pair(attrs.strides, 'strides'),
      1,
      attrs.pad as Pad,
    );
    return tf.tidy(() =>
      avgPoolGrad(
        asTensor(dy, 'dy'),
        [info.inHeight, info.inWidth],
        [info.filterHeight, info.filterWidth],
        [info.strideHeight, info.strideWidth],
        info.padInfo.top,
        info.padInfo.left,
      ),
    );
  };
}

/**
 * The gradient of AvgPool, corrected. tfjs-core's forward average (every backend) divides each
 * window's sum by the number of its taps inside the input — TF's AvgPool — but its AvgPoolGrad
 * kernels (cpu, wasm, webgl) divide dy by kh·kw everywhere, which is wrong at the borders of a
 * 'same' pooling (InceptionV3's 3×3 stride-1 pools): the corner of a 3×3 input gets 4/9 instead
 * of 1/4 + 2/6 + 1/9. Here dy is first scaled by kh·kw / count per output position, so the
 * kernel's 1/(kh·kw) leaves dy/count: dx[p] = Σ_{windows w ∋ p} dy[w] / count(w). 'valid'
 * pooling (count = kh·kw everywhere) is unchanged. Only on the cpu and wasm backends: native
 * TensorFlow's AvgPoolGrad (tfjs-node) already divides by the count.
 */
function registerAvgPoolGradient(): void {
  const shipped = tf.getGradient(tf.AvgPool);
  if (!shipped) throw new Error('tfjs-core has no gradient for AvgPool');
  tf.registerGradient({
    kernelName: tf.AvgPool,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const backend = tf.getBackend();
      if (backend !== 'wasm' && backend !== 'cpu') return shipped.gradFunc(dy, saved, attrs);
      const [x] = saved;
      if (!x || Array.isArray(dy)) throw new Error('AvgPool gradient: the input was not saved');
      const a = attrs as Attrs;
      const rank3 = x.rank === 3;
      const to4 = (t: tf.Tensor) => {
        const r: tf.Tensor = rank3 ? tf.reshape(t, [1, ...t.shape]) : t;
        return r as tf.Tensor4D;
      };
      const x4 = to4(x);
      const dy4 = to4(dy);
      const filterSize = pair(a.filterSize, 'filterSize');
      const strides = pair(a.strides, 'strides');
      const info = tf.backend_util.computePool2DInfo(
        x4.shape,
        filterSize,
        strides,
        1,
        a.pad as Pad,
      );
      const scale = avgPoolScale(info);
      return {
        x: () => {
          const g = tf
            .engine()
            .runKernel(
              tf.AvgPoolGrad,
              { dy: scale ? tf.mul(dy4, scale) : dy4, input: x4 },
              { filterSize, strides, pad: a.pad as tf.NamedAttrMap[string] },
            ) as tf.Tensor;
          return rank3 ? tf.reshape(g, x.shape) : g;
        },
      };
    },
  });
}

/** kh·kw / count of each output window, [1, oh, ow, 1]; null when every count is kh·kw. */
function avgPoolScale(info: tf.backend_util.Conv2DInfo): tf.Tensor4D | null {
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const inside = (o: number, s: number, p: number, k: number, len: number) =>
    Math.min(len, o * s - p + k) - Math.max(0, o * s - p);
  const v = new Float32Array(oh * ow);
  let partial = false;
  for (let o = 0; o < oh; o++) {
    const rows = inside(o, info.strideHeight, info.padInfo.top, kh, info.inHeight);
    for (let q = 0; q < ow; q++) {
      const count = rows * inside(q, info.strideWidth, info.padInfo.left, kw, info.inWidth);
      v[o * ow + q] = (kh * kw) / count;
      if (count !== kh * kw) partial = true;
    }
  }
  return partial ? tf.tensor4d(v, [1, oh, ow, 1]) : null;
}

/**
 * SplitV (the gradient of a concatenation) in the heap: pieces along the last axis are
 * row-by-row copies, other pieces go through Slice. The shipped kernel copies the whole input
 * out of the heap once per piece.
 */
function splitV(shipped: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x;
    const attrs = args.attrs as Attrs;
    if (x?.dtype !== 'float32') return shipped(args);
    const axis = tf.util.parseAxisParam(attrs.axis as number, [...x.shape])[0] ?? 0;
    const sizes = tf.backend_util.prepareSplitSize(
      x as tf.Tensor,
      attrs.numOrSizeSplits as number | number[],
      axis,
    );
    const begin = x.shape.map(() => 0);
    return sizes.map((size) =>
      tf.tidy(() => {
        const xt = asTensor(x, 'x');
        const b = [...begin];
        begin[axis] = (begin[axis] ?? 0) + size;
        if (axis === x.shape.length - 1) return colSlice(xt, b[axis] ?? 0, size);
        return tf.slice(
          xt,
          b,
          x.shape.map((d, i) => (i === axis ? size : d)),
        );
      }),
    );
  };
}

/** Replaces an elementwise mask gradient by the SIMD kernel on wasm; elsewhere tfjs' own. */
function registerMaskGradient(
  kernelName: string,
  bounds: (attrs: Attrs) => [number, number],
): void {
  const shipped = tf.getGradient(kernelName);
  if (!shipped) throw new Error(`tfjs-core has no gradient for ${kernelName}`);
  tf.registerGradient({
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (!onWasm() || Array.isArray(dy) || dy.dtype !== 'float32') {
        return shipped.gradFunc(dy, saved, attrs);
      }
      const [x] = saved;
      if (!x) throw new Error(`${kernelName} gradient: the input was not saved`);
      const [lo, hi] = bounds(attrs as Attrs);
      return { x: () => maskGrad(dy, x, lo, hi) };
    },
  });
}

/**
 * Swish, x·σ(x), as one op whose gradient is one SIMD pass, on wasm: tfjs-layers' Swish
 * activation (EfficientNet's) computes x·σ(1·x) as three ops, and its gradient through them
 * takes some ten passes over the tensor. The forward values are the same (σ then one product).
 */
const fusedSwish = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const s = tf.sigmoid(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ss] = saved;
      if (!xs || !ss) throw new Error('swish gradient: the input was not saved');
      return swishGrad(dy, xs, ss);
    },
  };
});

type Apply = (this: unknown, x: tf.Tensor, alpha?: number) => tf.Tensor;

/** Routes tfjs-layers' Swish activation (alpha 1, float32, on wasm) through fusedSwish. */
function patchSwish(): void {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.swish;
  const proto = (entry?.[0] as { prototype?: { apply?: Apply } } | undefined)?.prototype;
  const original = proto?.apply;
  if (!proto || !original) throw new Error('tfjs-layers has no swish activation to patch');
  proto.apply = function (this: unknown, x: tf.Tensor, alpha = 1) {
    if (alpha !== 1 || x.dtype !== 'float32' || !onWasm()) return original.call(this, x, alpha);
    return fusedSwish(x);
  };
}

let gradientsRegistered = false;

/**
 * Registers the training fixes every backend gets (once; later calls do nothing): the
 * BatchNormalization training fix (batchnorm.ts), the corrected AvgPool gradient (cpu and wasm),
 * and the gradients of Relu, Relu6 and ClipByValue and the Swish activation, which take their
 * SIMD paths only while 'wasm' is the active backend and are tfjs' own elsewhere. Call after
 * importing tfjs-layers: it re-registers tfjs-core's gradients when imported (kernels.ts imports
 * it, through batchnorm.ts, before this can run).
 */
export function registerTrainingGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  patchBatchNormTraining();
  registerAvgPoolGradient();
  registerMaskGradient(tf.Relu, () => [0, Number.POSITIVE_INFINITY]);
  registerMaskGradient(tf.Relu6, () => [0, 6]);
  registerMaskGradient(tf.ClipByValue, (attrs) => [
    below(Number(attrs.clipValueMin)),
    Number(attrs.clipValueMax),
  ]);
  patchSwish();
}

let registered = false;

/**
 * Registers the training kernels on the 'wasm' backend (once; later calls do nothing), and
 * registerTrainingGradients. Call after importing the wasm backend (its kernels are replaced
 * here; the shipped ones serve the cases these do not take).
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  registerTrainingGradients();
  registerSimdKernels();
  const wasm = 'wasm';
  const replace = (kernelName: string, kernelFunc: (shipped: tf.KernelFunc) => tf.KernelFunc) => {
    const old = tf.getKernel(kernelName, wasm);
    const shipped: tf.KernelFunc =
      old?.kernelFunc ??
      (() => {
        throw new Error(`${kernelName} has no wasm kernel`);
      });
    if (old) tf.unregisterKernel(kernelName, wasm);
    tf.registerKernel({
      kernelName,
      backendName: wasm,
      kernelFunc: kernelFunc(shipped),
      ...(old?.setupFunc ? { setupFunc: old.setupFunc } : {}),
      ...(old?.disposeFunc ? { disposeFunc: old.disposeFunc } : {}),
    });
  };
  // Which weights each path read (backend/heap.ts: a training worker writes new weights in
  // place only where no XNNPACK operator holds a packed copy).
  const viaNative = (r: tf.TensorInfo, ...weights: (tf.TensorInfo | undefined)[]) => {
    for (const w of weights) if (w) markNativeWeight(w.dataId);
    return r;
  };
  const viaShipped = (shipped: tf.KernelFunc, args: Parameters<tf.KernelFunc>[0]) => {
    for (const w of [args.inputs.filter, args.inputs.bias]) if (w) markPackedWeight(w.dataId);
    return shipped(args);
  };
  replace(tf.Conv2D, (shipped) => (args) => {
    const { x, filter } = args.inputs;
    const a = nativeActive() && x && filter ? nativeConvAttrs(args.attrs as Attrs) : null;
    const r =
      a && nativeConv2d(args.backend, x!, filter!, undefined, a.strides, a.pad, a.rounding, 0);
    return r ? viaNative(r, filter) : viaShipped(shipped, args);
  });
  replace(tf.FusedConv2D, (shipped) => (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs as Attrs;
    const act = NATIVE_ACTIVATIONS[String(attrs.activation ?? 'linear')];
    const a =
      nativeActive() && x && filter && act !== undefined && !preluActivationWeights
        ? nativeConvAttrs(attrs)
        : null;
    const r =
      a &&
      act !== undefined &&
      nativeConv2d(args.backend, x!, filter!, bias, a.strides, a.pad, a.rounding, act);
    return r ? viaNative(r, filter, bias) : viaShipped(shipped, args);
  });
  replace(tf.Conv2DBackpropInput, () => ({ inputs, attrs, backend }) => {
    const a = convAttrs('Conv2DBackpropInput', attrs as Attrs);
    const inShape = shape4((attrs as Attrs).inputShape, 'inputShape');
    const { dy, filter } = inputs;
    if (nativeActive() && dy?.dtype === 'float32' && filter?.dtype === 'float32') {
      return nativeConvInputGrad(backend, dy, filter, inShape, a.strides, a.pad, a.rounding);
    }
    return tf.tidy(() =>
      conv2dBackpropInput(
        asTensor(inputs.dy, 'dy'),
        asTensor(inputs.filter, 'filter'),
        inShape,
        a.strides,
        a.pad,
        a.rounding,
      ),
    );
  });
  replace(tf.Conv2DBackpropFilter, () => ({ inputs, attrs, backend }) => {
    const a = convAttrs('Conv2DBackpropFilter', attrs as Attrs);
    const filterShape = shape4((attrs as Attrs).filterShape, 'filterShape');
    const { x, dy } = inputs;
    if (nativeActive() && x?.dtype === 'float32' && dy?.dtype === 'float32') {
      return nativeConvFilterGrad(backend, x, dy, filterShape, a.strides, a.pad, a.rounding);
    }
    return tf.tidy(() =>
      conv2dBackpropFilter(
        asTensor(inputs.x, 'x'),
        asTensor(inputs.dy, 'dy'),
        filterShape,
        a.strides,
        a.pad,
        a.rounding,
      ),
    );
  });
  replace(tf.DepthwiseConv2dNativeBackpropInput, () => ({ inputs, attrs }) => {
    const a = convAttrs('DepthwiseConv2dNativeBackpropInput', attrs as Attrs);
    const inShape = shape4((attrs as Attrs).inputShape, 'inputShape');
    return tf.tidy(() =>
      depthwiseBackpropInput(
        asTensor(inputs.dy, 'dy'),
        asTensor(inputs.filter, 'filter'),
        inShape,
        a.strides,
        a.pad,
        a.rounding,
      ),
    );
  });
  replace(tf.DepthwiseConv2dNativeBackpropFilter, () => ({ inputs, attrs }) => {
    const a = convAttrs('DepthwiseConv2dNativeBackpropFilter', attrs as Attrs);
    const filterShape = shape4((attrs as Attrs).filterShape, 'filterShape');
    return tf.tidy(() =>
      depthwiseBackpropFilter(
        asTensor(inputs.x, 'x'),
        asTensor(inputs.dy, 'dy'),
        filterShape,
        a.strides,
        a.pad,
        a.rounding,
      ),
    );
  });
  replace(tf.Sum, (shipped) => reduction('Sum', shipped));
  replace(tf.Identity, (shipped) => identity(shipped));
  replace(tf.Cast, (shipped) => cast(shipped));
  replace(tf.Slice, (shipped) => slice(shipped));
  replace(tf.MaxPoolGrad, (shipped) => maxPoolGradKernel(shipped));
  replace(tf.AvgPoolGrad, (shipped) => avgPoolGradKernel(shipped));
  replace(tf.SplitV, (shipped) => splitV(shipped));
  replace(tf.Mean, (shipped) => reduction('Mean', shipped));
}
