/**
 * ichdet's WebAssembly SIMD training kernels (kernels.wat, assembled into kernels.wasm.ts),
 * registered as tfjs kernels of the 'wasm' backend under `Ichdet*` names, and the ops that call
 * them. The module imports tfjs-backend-wasm's own memory, so a kernel reads its inputs and
 * writes its outputs in place, at the byte offsets the backend keeps for each tensor; outputs are
 * allocated by the backend (`makeOutput`), scratch with its `malloc`. One instance per backend
 * (each worker thread has its own backend and heap).
 *
 * These ops run only while 'wasm' is the active backend; kernels.ts and batchnorm.ts choose them
 * there and fall back to tfjs ops elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TRAIN_KERNELS_WASM_BASE64 } from './kernels.wasm.js';

/** Node's WebAssembly global, declared here because the project's `lib` has no DOM types. */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernels use. */
export interface WasmBackend {
  wasm: {
    asm: { memory: { buffer: ArrayBuffer } };
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

type Fn = (...args: number[]) => void;

interface Exports {
  colSum: Fn;
  bnForward: Fn;
  bnBackward: Fn;
  maskGrad: Fn;
  gather: Fn;
  scatter: Fn;
  swap01: Fn;
  toCHWN: Fn;
  transpose: Fn;
  copy: Fn;
  flipFilter: Fn;
  im2col: Fn;
  col2im: Fn;
  maxPoolGrad: Fn;
  avgPoolGrad: Fn;
  colSlice: Fn;
  swishGrad: Fn;
  dwFilterGrad: Fn;
  dwInputGrad: Fn;
}

const EXPORTS: readonly (keyof Exports)[] = [
  'colSum',
  'bnForward',
  'bnBackward',
  'maskGrad',
  'gather',
  'scatter',
  'swap01',
  'toCHWN',
  'transpose',
  'copy',
  'flipFilter',
  'im2col',
  'col2im',
  'maxPoolGrad',
  'avgPoolGrad',
  'colSlice',
  'swishGrad',
  'dwFilterGrad',
  'dwInputGrad',
];

export function asWasmBackend(backend: unknown): WasmBackend {
  const b = backend as Partial<WasmBackend> | null;
  if (
    !b ||
    typeof b.makeOutput !== 'function' ||
    !b.dataIdMap ||
    !b.wasm?.asm?.memory ||
    typeof b.wasm._malloc !== 'function'
  ) {
    throw new Error('ichdet SIMD kernels need the tfjs wasm backend (BackendWasm)');
  }
  return b as WasmBackend;
}

let moduleBytes: object | undefined;
const instances = new WeakMap<object, Exports>();

/** The kernels instantiated on this backend's memory (once per backend). */
function kernelsOf(backend: WasmBackend): Exports {
  const known = instances.get(backend);
  if (known) return known;
  moduleBytes ??= new WebAssembly.Module(Buffer.from(TRAIN_KERNELS_WASM_BASE64, 'base64'));
  const { exports } = new WebAssembly.Instance(moduleBytes, {
    env: { memory: backend.wasm.asm.memory },
  });
  for (const name of EXPORTS) {
    if (typeof exports[name] !== 'function') throw new Error(`kernels.wasm lacks ${name}`);
  }
  const k = exports as unknown as Exports;
  instances.set(backend, k);
  return k;
}

export function ptr(backend: WasmBackend, t: tf.TensorInfo | undefined, what: string): number {
  if (!t) throw new Error(`missing kernel input ${what}`);
  if (t.dtype !== 'float32') throw new Error(`${what} must be float32, received ${t.dtype}`);
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error(`${what} has no data on the wasm backend`);
  return data.memoryOffset;
}

/** A float32 output of the given shape, allocated in the backend's heap, and its address. */
export function output(backend: WasmBackend, shape: number[]): [tf.TensorInfo, number] {
  const info = backend.makeOutput(shape, 'float32');
  return [info, ptr(backend, info, 'output')];
}

/**
 * Runs fn with scratch memory: `tot` (doubles, 8-byte aligned) then `acc` (floats), freed after.
 */
function withScratch<T>(
  backend: WasmBackend,
  doubles: number,
  floats: number,
  fn: (acc: number, tot: number) => T,
): T {
  const base = backend.wasm._malloc(doubles * 8 + floats * 4 + 16);
  try {
    const tot = (base + 7) & ~7;
    return fn(tot + doubles * 8, tot);
  } finally {
    backend.wasm._free(base);
  }
}

type Attrs = Record<string, unknown>;

function num(attrs: Attrs, key: string): number {
  const v = attrs[key];
  if (typeof v !== 'number') throw new Error(`kernel attribute ${key} must be a number`);
  return v;
}

function nums(attrs: Attrs, key: string): number[] {
  const v = attrs[key];
  if (!Array.isArray(v) || !v.every((e) => typeof e === 'number')) {
    throw new Error(`kernel attribute ${key} must be a number array`);
  }
  return v as number[];
}

/** The size of all but the last axis, and the last. */
function rowsCols(shape: readonly number[]): [number, number] {
  const c = shape[shape.length - 1] ?? 1;
  return [shape.length === 0 ? 1 : tf.util.sizeFromShape([...shape]) / Math.max(c, 1), c];
}

/** NHWC dimensions of a rank-4 shape. */
function nhwc(shape: readonly number[], what: string): [number, number, number, number] {
  if (shape.length !== 4) throw new Error(`${what} must be rank 4, received [${shape.join(', ')}]`);
  return shape as [number, number, number, number];
}

type KernelFn = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: Attrs;
}) => tf.TensorInfo | tf.TensorInfo[];

const KERNELS: Record<string, KernelFn> = {
  /** x [..., c] → Σ over all other axes, [c]. */
  IchdetColSum: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const x = inputs.x;
    const [rows, c] = rowsCols(x?.shape ?? []);
    const groups = attrs.groups === undefined ? 1 : num(attrs, 'groups');
    if (!Number.isInteger(rows / groups)) {
      throw new Error(`colSum: ${rows} rows do not split into ${groups} groups`);
    }
    const m = rows / groups;
    const [out, o] = output(be, groups === 1 ? [c] : [groups, c]);
    const k = kernelsOf(be);
    const x0 = ptr(be, x, 'x');
    withScratch(be, c, c, (acc, tot) => {
      for (let g = 0; g < groups; g++) k.colSum(x0 + g * m * c * 4, m, c, acc, tot, o + g * c * 4);
    });
    return out;
  },
  /** Training batch norm over the last axis: [y, stats = [mean; variance] (2 × c)]. */
  IchdetBatchNorm: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const { x, gamma, beta } = inputs;
    const [m, c] = rowsCols(x?.shape ?? []);
    const [y, yp] = output(be, [...(x?.shape ?? [])]);
    const [stats, sp] = output(be, [2, c]);
    withScratch(be, c, 2 * c, (acc, tot) => {
      kernelsOf(be).bnForward(
        ptr(be, x, 'x'),
        gamma ? ptr(be, gamma, 'gamma') : 0,
        beta ? ptr(be, beta, 'beta') : 0,
        m,
        c,
        num(attrs, 'epsilon'),
        acc,
        tot,
        yp,
        sp,
      );
    });
    return [y, stats];
  },
  /** Its gradient: [dx, [dgamma; dbeta] (2 × c)]. */
  IchdetBatchNormGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const { dy, x, stats, gamma } = inputs;
    const [m, c] = rowsCols(x?.shape ?? []);
    const [dx, dxp] = output(be, [...(x?.shape ?? [])]);
    const [dgb, gp] = output(be, [2, c]);
    withScratch(be, 2 * c, 3 * c, (acc, tot) => {
      kernelsOf(be).bnBackward(
        ptr(be, dy, 'dy'),
        ptr(be, x, 'x'),
        ptr(be, stats, 'stats'),
        gamma ? ptr(be, gamma, 'gamma') : 0,
        m,
        c,
        num(attrs, 'epsilon'),
        acc,
        tot,
        dxp,
        gp,
      );
    });
    return [dx, dgb];
  },
  /** dy where lo < x ≤ hi, else 0. */
  IchdetMaskGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const { dy, x } = inputs;
    const shape = [...(x?.shape ?? [])];
    const [out, o] = output(be, shape);
    kernelsOf(be).maskGrad(
      ptr(be, dy, 'dy'),
      ptr(be, x, 'x'),
      num(attrs, 'lo'),
      num(attrs, 'hi'),
      tf.util.sizeFromShape(shape),
      o,
    );
    return out;
  },
  /** dy·s·(1 + x·(1 − s)), the swish gradient given s = σ(x). */
  IchdetSwishGrad: ({ inputs, backend }) => {
    const be = asWasmBackend(backend);
    const { dy, x, s } = inputs;
    const shape = [...(x?.shape ?? [])];
    const [out, o] = output(be, shape);
    kernelsOf(be).swishGrad(
      ptr(be, dy, 'dy'),
      ptr(be, x, 'x'),
      ptr(be, s, 's'),
      tf.util.sizeFromShape(shape),
      o,
    );
    return out;
  },
  /** out[b, o, q] = x[b, o·sh − top, q·sw − left] (0 outside), out [n, oh, ow, c]. */
  IchdetGather: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, h, w, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [oh, ow] = nums(attrs, 'size');
    const [sh, sw] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, oh ?? 0, ow ?? 0, c]);
    kernelsOf(be).gather(
      ptr(be, inputs.x, 'x'),
      n,
      h,
      w,
      c,
      oh ?? 0,
      ow ?? 0,
      sh ?? 1,
      sw ?? 1,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
  /** Gather's adjoint: out [n, h, w, c] = 0, out[b, o·sh − top, q·sw − left] = x[b, o, q]. */
  IchdetScatter: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, oh, ow, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [h, w] = nums(attrs, 'size');
    const [sh, sw] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, h ?? 0, w ?? 0, c]);
    kernelsOf(be).scatter(
      ptr(be, inputs.x, 'x'),
      n,
      oh,
      ow,
      c,
      h ?? 0,
      w ?? 0,
      sh ?? 1,
      sw ?? 1,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
  /** x [a, b, ...rest] → [b, a, ...rest]. */
  IchdetSwap01: ({ inputs, backend }) => {
    const be = asWasmBackend(backend);
    const shape = inputs.x?.shape ?? [];
    const [a = 1, b = 1, ...rest] = shape;
    const [out, o] = output(be, [b, a, ...rest]);
    kernelsOf(be).swap01(ptr(be, inputs.x, 'x'), a, b, tf.util.sizeFromShape(rest), o);
    return out;
  },
  /** x [n, h, w, c] → [c, hp, wp, n], shifted by (top, left), 0 outside x. */
  IchdetToCHWN: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, h, w, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [hp = 0, wp = 0] = nums(attrs, 'size');
    const [out, o] = output(be, [c, hp, wp, n]);
    kernelsOf(be).toCHWN(
      ptr(be, inputs.x, 'x'),
      n,
      h,
      w,
      c,
      hp,
      wp,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
  /** x [rows, cols] → xᵀ [cols, rows]. */
  IchdetTranspose: ({ inputs, backend }) => {
    const be = asWasmBackend(backend);
    const [rows = 1, cols = 1] = inputs.x?.shape ?? [];
    const [out, o] = output(be, [cols, rows]);
    kernelsOf(be).transpose(ptr(be, inputs.x, 'x'), rows, cols, o);
    return out;
  },
  /** `size` elements of x from flat offset `begin`, shaped `shape`. */
  IchdetCopy: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const shape = nums(attrs, 'shape');
    const [out, o] = output(be, shape);
    kernelsOf(be).copy(
      ptr(be, inputs.x, 'x') + 4 * num(attrs, 'begin'),
      o,
      4 * tf.util.sizeFromShape(shape),
    );
    return out;
  },
  /** A filter [kh, kw, ci, co] flipped in space, channels swapped: [kh, kw, co, ci]. */
  IchdetFlipFilter: ({ inputs, backend }) => {
    const be = asWasmBackend(backend);
    const [kh, kw, ci, co] = nhwc(inputs.filter?.shape ?? [], 'filter');
    const [out, o] = output(be, [kh, kw, co, ci]);
    kernelsOf(be).flipFilter(ptr(be, inputs.filter, 'filter'), kh * kw, ci, co, o);
    return out;
  },
  /** Patches [count, oh, ow, kh, kw, c] of images first … first + count − 1 of x [n, h, w, c]. */
  IchdetIm2col: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, h, w, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [oh = 0, ow = 0] = nums(attrs, 'size');
    const [kh = 1, kw = 1] = nums(attrs, 'kernel');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [first = 0, count = n] = nums(attrs, 'images');
    if (first < 0 || count < 0 || first + count > n) {
      throw new Error(`im2col images [${first}, ${first + count}) outside a batch of ${n}`);
    }
    const [out, o] = output(be, [count, oh, ow, kh, kw, c]);
    kernelsOf(be).im2col(
      ptr(be, inputs.x, 'x') + first * h * w * c * 4,
      count,
      h,
      w,
      c,
      oh,
      ow,
      kh,
      kw,
      sh,
      sw,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
  /** im2col's adjoint: patches [n, oh, ow, kh, kw, c] summed into [n, h, w, c]. */
  IchdetCol2im: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const shape = inputs.x?.shape ?? [];
    if (shape.length !== 6) throw new Error(`col2im needs rank-6 patches, received [${shape}]`);
    const [n = 0, oh = 0, ow = 0, kh = 0, kw = 0, c = 0] = shape;
    const [h = 0, w = 0] = nums(attrs, 'size');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, h, w, c]);
    kernelsOf(be).col2im(
      ptr(be, inputs.x, 'x'),
      n,
      h,
      w,
      c,
      oh,
      ow,
      kh,
      kw,
      sh,
      sw,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
  /** Max-pooling gradient [n, h, w, c] from x and dy. */
  IchdetMaxPoolGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, h, w, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [, oh, ow] = nhwc(inputs.dy?.shape ?? [], 'dy');
    const [kh = 1, kw = 1] = nums(attrs, 'kernel');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, h, w, c]);
    withScratch(be, 0, 2 * c, (scratch) => {
      kernelsOf(be).maxPoolGrad(
        ptr(be, inputs.x, 'x'),
        ptr(be, inputs.dy, 'dy'),
        n,
        h,
        w,
        c,
        oh,
        ow,
        kh,
        kw,
        sh,
        sw,
        num(attrs, 'top'),
        num(attrs, 'left'),
        scratch,
        o,
      );
    });
    return out;
  },
  /** tfjs' AvgPoolGrad: each dy/(kh·kw) added over its window, [n, h, w, c]. */
  IchdetAvgPoolGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, oh, ow, c] = nhwc(inputs.dy?.shape ?? [], 'dy');
    const [h = 0, w = 0] = nums(attrs, 'size');
    const [kh = 1, kw = 1] = nums(attrs, 'kernel');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, h, w, c]);
    kernelsOf(be).avgPoolGrad(
      ptr(be, inputs.dy, 'dy'),
      n,
      h,
      w,
      c,
      oh,
      ow,
      kh,
      kw,
      sh,
      sw,
      num(attrs, 'top'),
      num(attrs, 'left'),
      1 / (kh * kw),
      o,
    );
    return out;
  },
  /** Columns begin … begin + width − 1 of x viewed as rows × (last axis). */
  IchdetColSlice: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const shape = inputs.x?.shape ?? [];
    const [rows, cols] = rowsCols(shape);
    const begin = num(attrs, 'begin');
    const width = num(attrs, 'width');
    if (begin < 0 || width < 0 || begin + width > cols) {
      throw new Error(`column slice [${begin}, ${begin + width}) outside ${cols} columns`);
    }
    const [out, o] = output(be, [...shape.slice(0, -1), width]);
    kernelsOf(be).colSlice(ptr(be, inputs.x, 'x'), rows, cols, begin, width, o);
    return out;
  },
  /** Depthwise (multiplier 1) filter gradient, [kh, kw, c, 1]. */
  IchdetDwFilterGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, h, w, c] = nhwc(inputs.x?.shape ?? [], 'x');
    const [, oh, ow] = nhwc(inputs.dy?.shape ?? [], 'dy');
    const [kh = 1, kw = 1] = nums(attrs, 'kernel');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [out, o] = output(be, [kh, kw, c, 1]);
    const taps = kh * kw * c;
    withScratch(be, taps, taps, (acc, tot) => {
      kernelsOf(be).dwFilterGrad(
        ptr(be, inputs.x, 'x'),
        ptr(be, inputs.dy, 'dy'),
        n,
        h,
        w,
        c,
        oh,
        ow,
        kh,
        kw,
        sh,
        sw,
        num(attrs, 'top'),
        num(attrs, 'left'),
        acc,
        tot,
        o,
      );
    });
    return out;
  },
  /** Depthwise (multiplier 1) input gradient, [n, h, w, c]. */
  IchdetDwInputGrad: ({ inputs, backend, attrs = {} }) => {
    const be = asWasmBackend(backend);
    const [n, oh, ow, c] = nhwc(inputs.dy?.shape ?? [], 'dy');
    const [kh, kw] = nhwc(inputs.filter?.shape ?? [], 'filter');
    const [h = 0, w = 0] = nums(attrs, 'size');
    const [sh = 1, sw = 1] = nums(attrs, 'strides');
    const [out, o] = output(be, [n, h, w, c]);
    kernelsOf(be).dwInputGrad(
      ptr(be, inputs.dy, 'dy'),
      ptr(be, inputs.filter, 'filter'),
      n,
      h,
      w,
      c,
      oh,
      ow,
      kh,
      kw,
      sh,
      sw,
      num(attrs, 'top'),
      num(attrs, 'left'),
      o,
    );
    return out;
  },
};

let registered = false;

/** Registers the `Ichdet*` kernels on 'wasm' (once). */
export function registerSimdKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, kernelFunc] of Object.entries(KERNELS)) {
    if (!tf.getKernel(kernelName, 'wasm')) {
      tf.registerKernel({
        kernelName,
        backendName: 'wasm',
        kernelFunc: kernelFunc as tf.KernelFunc,
      });
    }
  }
}

/** True when the active backend is tfjs' wasm backend (the SIMD ops can run). */
export function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}

function run(name: string, inputs: tf.NamedTensorMap, attrs: Attrs = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

function runMany(name: string, inputs: tf.NamedTensorMap, attrs: Attrs = {}): tf.Tensor[] {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];
}

/** Σ of x over every axis but the last: [c]. */
export function colSum(x: tf.Tensor): tf.Tensor1D {
  return run('IchdetColSum', { x }) as tf.Tensor1D;
}

/** Σ of x [g, …, c] over every axis but the first and the last: [g, c]. */
export function groupColSum(x: tf.Tensor, groups: number): tf.Tensor2D {
  return run('IchdetColSum', { x }, { groups }) as tf.Tensor2D;
}

/** The kernel name of the fused training batch norm, for its registered gradient. */
export const BATCH_NORM_KERNEL = 'IchdetBatchNorm';

/**
 * Training batch norm over the last axis (see kernels.wat): y, and stats = [μ; σ²] as 2 × c.
 * γ and β are always given (ones and zeros stand for missing ones): the gradient saves γ.
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): [tf.Tensor, tf.Tensor2D] {
  const [y, stats] = runMany(BATCH_NORM_KERNEL, { x, gamma, beta }, { epsilon });
  return [y as tf.Tensor, stats as tf.Tensor2D];
}

/** The gradient of batchNormTrain: dx and [dγ; dβ] as 2 × c. */
export function batchNormTrainGrad(
  dy: tf.Tensor,
  x: tf.Tensor,
  stats: tf.Tensor,
  gamma: tf.Tensor,
  epsilon: number,
): [tf.Tensor, tf.Tensor2D] {
  const [dx, dgb] = runMany('IchdetBatchNormGrad', { dy, x, stats, gamma }, { epsilon });
  return [dx as tf.Tensor, dgb as tf.Tensor2D];
}

/** dy where lo < x ≤ hi, else 0 (ReLU: (0, ∞); ReLU6: (0, 6]). */
export function maskGrad<T extends tf.Tensor>(dy: T, x: tf.Tensor, lo: number, hi: number): T {
  return run('IchdetMaskGrad', { dy, x }, { lo, hi }) as T;
}

/** The gradient of swish x·σ(x) given s = σ(x): dy·s·(1 + x·(1 − s)). */
export function swishGrad<T extends tf.Tensor>(dy: T, x: tf.Tensor, s: tf.Tensor): T {
  return run('IchdetSwishGrad', { dy, x, s }) as T;
}

/** out [n, oh, ow, c]: out[b, o, q] = x[b, o·sh − top, q·sw − left], 0 outside x. */
export function gather(
  x: tf.Tensor4D,
  size: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetGather', { x }, { size, strides, top, left }) as tf.Tensor4D;
}

/** Gather's adjoint: out [n, h, w, c] zero but out[b, o·sh − top, q·sw − left] = x[b, o, q]. */
export function scatter(
  x: tf.Tensor4D,
  size: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetScatter', { x }, { size, strides, top, left }) as tf.Tensor4D;
}

/** Swaps the first two axes: [a, b, ...] → [b, a, ...]. */
export function swap01<T extends tf.Tensor>(x: T): T {
  return run('IchdetSwap01', { x }) as T;
}

/** x [n, h, w, c] → [c, hp, wp, n]: out[ch, i, j, b] = x[b, i − top, j − left, ch], 0 outside. */
export function toCHWN(
  x: tf.Tensor4D,
  size: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetToCHWN', { x }, { size, top, left }) as tf.Tensor4D;
}

/** The transpose of a matrix. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  return run('IchdetTranspose', { x }) as tf.Tensor2D;
}

/** The `shape`-sized run of x's elements that starts at flat offset `begin`, as a new tensor. */
export function copyRange(x: tf.Tensor, begin: number, shape: number[]): tf.Tensor {
  return run('IchdetCopy', { x }, { begin, shape });
}

/** The input-gradient filter: f [kh, kw, ci, co] flipped in space, in/out swapped. */
export function flipFilter(filter: tf.Tensor4D): tf.Tensor4D {
  return run('IchdetFlipFilter', { filter }) as tf.Tensor4D;
}

/**
 * Convolution patches [count, oh, ow, kh, kw, c] of images [first, first + count) of x
 * (0 outside x; default: all images).
 */
export function im2col(
  x: tf.Tensor4D,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  top: number,
  left: number,
  images: [number, number] = [0, x.shape[0]],
): tf.Tensor {
  return run('IchdetIm2col', { x }, { size, kernel, strides, top, left, images });
}

/** im2col's adjoint: patches [n, oh, ow, kh, kw, c] added into a zero [n, h, w, c]. */
export function col2im(
  patches: tf.Tensor,
  size: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetCol2im', { x: patches }, { size, strides, top, left }) as tf.Tensor4D;
}

/** Max-pooling gradient: dy routed to each window's first maximum of x. */
export function maxPoolGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kernel: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetMaxPoolGrad', { x, dy }, { kernel, strides, top, left }) as tf.Tensor4D;
}

/** tfjs' AvgPoolGrad semantics: dy/(kh·kw) added over each window, out [n, h, w, c]. */
export function avgPoolGrad(
  dy: tf.Tensor4D,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetAvgPoolGrad', { dy }, { size, kernel, strides, top, left }) as tf.Tensor4D;
}

/** The last-axis slice [begin, begin + width) of x. */
export function colSlice(x: tf.Tensor, begin: number, width: number): tf.Tensor {
  return run('IchdetColSlice', { x }, { begin, width });
}

/** Depthwise (multiplier 1) filter gradient [kh, kw, c, 1]; pads (top, left) lead. */
export function dwFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kernel: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetDwFilterGrad', { x, dy }, { kernel, strides, top, left }) as tf.Tensor4D;
}

/** Depthwise (multiplier 1) input gradient [n, h, w, c]. */
export function dwInputGrad(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  size: [number, number],
  strides: [number, number],
  top: number,
  left: number,
): tf.Tensor4D {
  return run('IchdetDwInputGrad', { dy, filter }, { size, strides, top, left }) as tf.Tensor4D;
}
