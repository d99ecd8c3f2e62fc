/**
 * The optional native accelerator (`native/ichdet_native.c`, built at install by node-gyp
 * against OpenBLAS): the convolutions of a training step — forward, input gradient and filter
 * gradient, every kernel size, stride and padding without dilation — as patch matrices and
 * OpenBLAS matrix products, computed in place in tfjs-backend-wasm's heap (the addon reads and
 * writes at the byte offsets the backend keeps for each tensor; nothing is copied).
 *
 * The wasm backend stays the one tfjs runs; kernels.ts sends its Conv2D, FusedConv2D (linear,
 * ReLU and ReLU6 activations) and convolution-gradient kernels here while the accelerator is
 * enabled (`initBackend('native')`, or `'auto'` when the addon loads) and keeps XNNPACK and its
 * own kernels for everything else (depthwise convolutions, dilation, other activations).
 *
 * OpenBLAS' thread count is one per process: the data-parallel training workers (threads of one
 * process) each run their products on one thread, a single worker on every core.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { type Geometry, geometry, type Pad, type Rounding, type Shape4 } from './geometry.js';
import { asWasmBackend, output, ptr } from './simd.js';

/** Adam's arrays: the weights, the two slots (m, v) and the gradients to sum. */
export type AdamArrays = [
  w: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grads: readonly Float32Array[],
];

/** The addon's functions (native/ichdet_native.c). */
interface NativeAddon {
  /**
   * kind 0 forward (a = x, b = filter, bias or −1, out = y, act 0 linear / 1 ReLU / 2 ReLU6),
   * 1 input gradient (a = dy, b = filter, out = dx), 2 filter gradient (a = x, b = dy, out = dw);
   * offsets in bytes into heap; then n, h, w, c, kh, kw, cout, sh, sw, top, left, oh, ow.
   */
  conv(kind: number, heap: ArrayBuffer, ...rest: number[]): void;
  /**
   * Adam on w[lo, hi) in place (train/optim.ts' arithmetic, the same bits): arrays w, m, v, the
   * gradients, then lo, hi, alpha, c1 = 1 − β₁, c2 = 1 − β₂, ε.
   */
  adam(...args: [...AdamArrays, ...number[]]): void;
  setThreads(n: number): void;
  threads(): number;
  config(): string;
}

/** Where node-gyp puts the addon, from src/backend/ and from dist/backend/ alike. */
export const NATIVE_ADDON_PATH = new URL(
  '../../native/build/Release/ichdet_native.node',
  import.meta.url,
);

let loaded: { addon: NativeAddon } | { error: string } | undefined;

/** The addon, loaded once per thread; null when it was not built or does not load. */
export function nativeAddon(): NativeAddon | null {
  if (loaded === undefined) {
    if (process.env.ICHDET_NATIVE === '0') {
      loaded = { error: 'is disabled by ICHDET_NATIVE=0' };
    } else {
      try {
        const req = createRequire(import.meta.url);
        loaded = { addon: req(NATIVE_ADDON_PATH.pathname) as NativeAddon };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        loaded = {
          error:
            code === 'MODULE_NOT_FOUND'
              ? `is not built (${NATIVE_ADDON_PATH.pathname} is missing; with libopenblas-dev installed, npm rebuild builds it)`
              : `does not load: ${(err as Error).message}`,
        };
      }
    }
  }
  return 'addon' in loaded ? loaded.addon : null;
}

/** Why the addon is unavailable (a predicate: "is not built (…)"), or null when it loads. */
export function nativeUnavailable(): string | null {
  nativeAddon();
  return loaded && 'error' in loaded ? loaded.error : null;
}

let enabled = false;

/**
 * Turns the accelerator on or off for this thread's wasm backend (on needs the addon), with
 * `threads` OpenBLAS threads for the process. Returns OpenBLAS' description when on.
 */
export function enableNative(on: boolean, threads = 1): string | null {
  if (!on) {
    enabled = false;
    return null;
  }
  const addon = nativeAddon();
  if (!addon) throw new Error(`the native accelerator ${nativeUnavailable() ?? 'is unavailable'}`);
  addon.setThreads(Math.max(1, Math.floor(threads)));
  enabled = true;
  return addon.config().trim();
}

/** True while the accelerator takes this thread's convolutions on the wasm backend. */
export function nativeActive(): boolean {
  return enabled && tf.getBackend() === 'wasm';
}

/** OpenBLAS threads of this process (0 when the addon is not loaded). */
export function nativeThreads(): number {
  return nativeAddon()?.threads() ?? 0;
}

/** The activations the addon applies after the bias. */
export const NATIVE_ACTIVATIONS: Readonly<Record<string, number>> = {
  linear: 0,
  relu: 1,
  relu6: 2,
};

function call(
  kind: 0 | 1 | 2,
  backend: unknown,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  outShape: number[],
  x: Shape4,
  f: Shape4,
  strides: [number, number],
  g: Geometry,
  act: number,
): tf.TensorInfo {
  const addon = nativeAddon();
  if (!addon) throw new Error(`the native accelerator ${nativeUnavailable()}`);
  const be = asWasmBackend(backend);
  // Heap offsets above 2 GiB come back from wasm as negative int32s: read them unsigned.
  const pa = ptr(be, a, kind === 1 ? 'dy' : 'x') >>> 0;
  const pb = ptr(be, b, kind === 2 ? 'dy' : 'filter') >>> 0;
  const pbias = bias ? ptr(be, bias, 'bias') >>> 0 : -1;
  const [out, o] = output(be, outShape);
  const po = o >>> 0;
  // After the output is allocated: allocation may grow the heap and replace its buffer.
  const heap = be.wasm.asm.memory.buffer;
  addon.conv(
    kind,
    heap,
    pa,
    pb,
    pbias,
    po,
    ...x,
    f[0],
    f[1],
    f[3],
    ...strides,
    g.top,
    g.left,
    g.outH,
    g.outW,
    act,
  );
  return out;
}

/** y = act(conv2d(x, filter) + bias) (bias [cout] or none), or null when the addon cannot. */
export function nativeConv2d(
  backend: unknown,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  strides: [number, number],
  pad: Pad,
  rounding: Rounding,
  act: number,
): tf.TensorInfo | null {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return null;
  const f = filter.shape as Shape4;
  if (bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== f[3])) return null;
  const xs = x.shape as Shape4;
  const g = geometry(xs, f[0], f[1], strides, pad, rounding);
  return call(0, backend, x, filter, bias, [xs[0], g.outH, g.outW, f[3]], xs, f, strides, g, act);
}

/** Conv2DBackpropInput: dx [inShape] from dy and the filter. */
export function nativeConvInputGrad(
  backend: unknown,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  inShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding: Rounding,
): tf.TensorInfo {
  const f = filter.shape as Shape4;
  const g = geometry(inShape, f[0], f[1], strides, pad, rounding);
  return call(1, backend, dy, filter, undefined, [...inShape], inShape, f, strides, g, 0);
}

/** Conv2DBackpropFilter: dw [filterShape] from x and dy. */
export function nativeConvFilterGrad(
  backend: unknown,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: Shape4,
  strides: [number, number],
  pad: Pad,
  rounding: Rounding,
): tf.TensorInfo {
  const xs = x.shape as Shape4;
  const g = geometry(xs, filterShape[0], filterShape[1], strides, pad, rounding);
  return call(2, backend, x, dy, undefined, [...filterShape], xs, filterShape, strides, g, 0);
}

/**
 * Adam on `w[lo, hi)` in the accelerator when it is turned on in this thread (`enableNative`;
 * the optimiser needs no tfjs backend): the same bits as train/optim.ts' loop. False when it is
 * off, and nothing is done.
 */
export function nativeAdam(
  arrays: AdamArrays,
  lo: number,
  hi: number,
  k: { alpha: number; c1: number; c2: number; eps: number },
): boolean {
  const addon = enabled ? nativeAddon() : null;
  if (addon === null || typeof addon.adam !== 'function') return false;
  addon.adam(...arrays, lo, hi, k.alpha, k.c1, k.c2, k.eps);
  return true;
}
