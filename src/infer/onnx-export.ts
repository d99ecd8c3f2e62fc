/**
 * Exports a trained tfjs layers model to ONNX: the Keras graph is walked from the model's output
 * back to its input (`SymbolicTensor.inputs`), and each layer becomes one or a few standard ONNX
 * operators (opset 17 by default). The ONNX graph keeps the tfjs interface — input `input`
 * [N, H, W, C] float32 with a dynamic batch, output `probabilities` [N, classes] — and works in
 * NCHW inside (one Transpose after the input), the layout every ONNX runtime's convolutions are
 * fastest in. Conv → BatchNormalization → Relu/Clip chains are left for the runtime to fuse (ONNX
 * Runtime does at load). ichdet's preprocessing config (the model's `ichdet` metadata) goes into
 * `metadata_props` under the key `ichdet`, so the file alone says how to feed it.
 */
import { readFileSync } from 'node:fs';
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';
import { ConfigError } from '../errors.js';
import { HEAD_DENSE, HEAD_POOL } from '../models/common.js';
import { loadSavedModel, readModelMetadata } from '../run/checkpoint.js';
import { resolveModelDir } from '../run/run.js';
import { writeFileAtomic } from '../util/files.js';
import { attrFloat, attrInt, attrInts, floatValueInfo, OnnxGraph } from './onnx-graph.js';
import {
  encodeModel,
  IR_VERSION,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'probabilities';
/**
 * The optional second output (`cam: true`): class activation maps [N, h, w, classes] of a model
 * with the ichdet head (GAP → [dropout] → dense): the last feature map times the dense kernel,
 * CAM_k(y, x) = Σ_c f_c(y, x) · W[c, k] (Zhou et al. 2016). For this head Grad-CAM at the last
 * layer is ReLU(CAM) up to a positive factor per image and label, so a viewer can draw it
 * without gradients. Consumers that read `probabilities` by name are unaffected.
 */
export const ONNX_CAM_OUTPUT = 'cam';
/** The metadata_props key holding ichdet's preprocessing config (JSON). */
export const ONNX_METADATA_KEY = 'ichdet';
export const DEFAULT_OPSET = 17;
const MIN_OPSET = 13;
const MAX_OPSET = 21;

export interface ExportOnnxOptions {
  /** Stored as JSON in metadata_props under `ichdet` (the model's preprocessing config). */
  metadata?: Record<string, unknown>;
  /** ONNX opset of the default domain, 13…21 (default 17). */
  opset?: number;
  /** Add the `cam` output (ONNX_CAM_OUTPUT); ConfigError when the model has no ichdet head. */
  cam?: boolean;
}

/** Layer classes the exporter maps, for the error message on any other. */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'Softmax',
  'ZeroPadding2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Reshape',
  'Flatten',
  'Add',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
  'Concatenate',
  'Dense',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Rescaling',
  'Normalization',
  'ChannelRescaling',
] as const;

/** A value in the ONNX graph: its name and its Keras (NHWC) shape; rank-4 values are NCHW in ONNX. */
interface Val {
  name: string;
  shape: readonly (number | null)[];
}

type Config = Record<string, unknown>;

/** Reads a layer's config fields with their types checked. */
class Cfg {
  constructor(
    private readonly c: Config,
    private readonly layer: string,
    private readonly cls: string,
  ) {}
  private bad(key: string, expected: string): ConfigError {
    return new ConfigError(
      `layer "${this.layer}" (${this.cls}): config ${key} must be ${expected}, received ${JSON.stringify(this.c[key])}`,
    );
  }
  num(key: string, dflt?: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'number') throw this.bad(key, 'a number');
    return v;
  }
  optNum(key: string): number | null {
    const v = this.c[key];
    return v === null || v === undefined ? null : this.num(key);
  }
  str(key: string, dflt?: string): string {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'string') throw this.bad(key, 'a string');
    return v;
  }
  bool(key: string, dflt?: boolean): boolean {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'boolean') throw this.bad(key, 'true or false');
    return v;
  }
  pair(key: string, dflt?: [number, number]): [number, number] {
    const v = this.c[key] ?? dflt;
    if (typeof v === 'number') return [v, v];
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) {
      return [v[0] as number, v[1] as number];
    }
    throw this.bad(key, 'a number or two numbers');
  }
  nums(key: string): number[] {
    const v = this.c[key];
    if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
    throw this.bad(key, 'a list of numbers');
  }
  raw(key: string): unknown {
    return this.c[key];
  }
  channelsLast(): void {
    const f = this.c.dataFormat;
    if (f !== undefined && f !== 'channelsLast') throw this.bad('dataFormat', '"channelsLast"');
  }
}

/** TF/Keras 'same' padding of one spatial axis: [before, after], the extra pixel after. */
function samePads(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride);
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function spatial(v: Val, layer: string, cls: string): [number, number, number] {
  const [, h, w, c] = v.shape;
  if (
    v.shape.length !== 4 ||
    typeof h !== 'number' ||
    typeof w !== 'number' ||
    typeof c !== 'number'
  ) {
    throw new ConfigError(
      `layer "${layer}" (${cls}): expected a 4-D input of known size, received [${v.shape.join(', ')}]`,
    );
  }
  return [h, w, c];
}

/** Conv kernel [kh, kw, cin, cout] (tfjs) → [cout, cin, kh, kw] (ONNX). */
function convKernel(
  k: Float32Array,
  kh: number,
  kw: number,
  cin: number,
  cout: number,
): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) w[((o * cin + i) * kh + y) * kw + x] = k[src + o] as number;
      }
    }
  }
  return w;
}

/** Depthwise kernel [kh, kw, c, m] (tfjs) → [c·m, 1, kh, kw] (ONNX grouped conv, group = c). */
function depthwiseKernel(
  k: Float32Array,
  kh: number,
  kw: number,
  c: number,
  m: number,
): Float32Array {
  const w = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < c; i++) {
        for (let j = 0; j < m; j++) {
          w[((i * m + j) * kh + y) * kw + x] = k[((y * kw + x) * c + i) * m + j] as number;
        }
      }
    }
  }
  return w;
}

/** The shape that broadcasts a per-channel vector against a value of this rank in ONNX layout. */
function channelDims(rank: number, c: number): number[] {
  return rank === 4 ? [1, c, 1, 1] : [...Array.from({ length: rank - 1 }, () => 1), c];
}

/** Keras axis of a rank-r value → the ONNX axis (NHWC → NCHW for rank 4). */
function onnxAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? ([0, 2, 3, 1][a] ?? a) : a;
}

class Converter {
  readonly b = new OnnxGraph([ONNX_INPUT, ONNX_OUTPUT, ONNX_CAM_OUTPUT]);

  constructor(private readonly weights: (layer: string) => Float32Array[]) {}

  activation(x: string, act: string, base: string, rank: number, layer: string): string {
    const b = this.b;
    switch (act) {
      case 'linear':
        return x;
      case 'relu':
        return b.op('Relu', [x], base);
      case 'relu6':
        return b.op('Clip', [x, b.scalar(`${base}/min`, 0), b.scalar(`${base}/max`, 6)], base);
      case 'sigmoid':
        return b.op('Sigmoid', [x], base);
      case 'tanh':
        return b.op('Tanh', [x], base);
      case 'swish':
        return b.op('Mul', [x, b.op('Sigmoid', [x], `${base}/sigmoid`)], base);
      case 'softmax':
        return b.op('Softmax', [x], base, [attrInt('axis', rank === 4 ? 1 : -1)]);
      case 'elu':
        return b.op('Elu', [x], base);
      case 'selu':
        return b.op('Selu', [x], base);
      case 'softplus':
        return b.op('Softplus', [x], base);
      case 'softsign':
        return b.op('Softsign', [x], base);
      case 'hardSigmoid':
        return b.op('HardSigmoid', [x], base, [attrFloat('alpha', 0.2), attrFloat('beta', 0.5)]);
      default:
        throw new ConfigError(
          `layer "${layer}": activation "${act}" has no ONNX conversion; supported: linear, relu, relu6, sigmoid, tanh, swish, softmax, elu, selu, softplus, softsign, hardSigmoid`,
        );
    }
  }

  conv(
    name: string,
    x: Val,
    kernel: Float32Array,
    bias: Float32Array | undefined,
    k: [number, number],
    strides: [number, number],
    dilations: [number, number],
    padding: string,
    cout: number,
    group: number,
    out: string,
  ): string {
    const [h, w, c] = spatial(x, name, 'Conv2D');
    let pads = [0, 0, 0, 0];
    if (padding === 'same') {
      const [t, bt] = samePads(h, k[0], strides[0], dilations[0]);
      const [l, r] = samePads(w, k[1], strides[1], dilations[1]);
      pads = [t, l, bt, r];
    } else if (padding !== 'valid') {
      throw new ConfigError(
        `layer "${name}": padding must be same or valid, received "${padding}"`,
      );
    }
    const inputs = [x.name, this.b.floats(`${name}/W`, [cout, c / group, k[0], k[1]], kernel)];
    if (bias) inputs.push(this.b.floats(`${name}/B`, [cout], bias));
    return this.b.op('Conv', inputs, out, [
      attrInts('kernel_shape', k),
      attrInts('strides', strides),
      attrInts('dilations', dilations),
      attrInts('pads', pads),
      attrInt('group', group),
    ]);
  }

  /** Converts one layer applied to `inputs`; returns the ONNX name of its output. */
  layer(
    l: SymbolicTensor['sourceLayer'],
    inputs: Val[],
    outShape: readonly (number | null)[],
  ): string {
    const b = this.b;
    const name = l.name;
    const cls = l.getClassName();
    const cfg = new Cfg(l.getConfig() as Config, name, cls);
    const x = inputs[0];
    if (!x) throw new ConfigError(`layer "${name}" (${cls}) has no input`);
    const rank = x.shape.length;
    const one = () => {
      if (inputs.length !== 1) {
        throw new ConfigError(
          `layer "${name}" (${cls}) expects one input, received ${inputs.length}`,
        );
      }
    };
    switch (cls) {
      case 'Conv2D': {
        one();
        cfg.channelsLast();
        const [kernel, bias] = this.weights(name);
        const [kh, kw] = cfg.pair('kernelSize');
        const [, , c] = spatial(x, name, cls);
        const cout = cfg.num('filters');
        const y = this.conv(
          name,
          x,
          convKernel(kernel as Float32Array, kh, kw, c, cout),
          cfg.bool('useBias', true) ? bias : undefined,
          [kh, kw],
          cfg.pair('strides', [1, 1]),
          cfg.pair('dilationRate', [1, 1]),
          cfg.str('padding', 'valid'),
          cout,
          1,
          cfg.str('activation', 'linear') === 'linear' ? name : `${name}/conv`,
        );
        return this.activation(y, cfg.str('activation', 'linear'), name, 4, name);
      }
      case 'DepthwiseConv2D': {
        one();
        cfg.channelsLast();
        const [kernel, bias] = this.weights(name);
        const [kh, kw] = cfg.pair('kernelSize');
        const [, , c] = spatial(x, name, cls);
        const m = cfg.num('depthMultiplier', 1);
        const act = cfg.str('activation', 'linear');
        const y = this.conv(
          name,
          x,
          depthwiseKernel(kernel as Float32Array, kh, kw, c, m),
          cfg.bool('useBias', true) ? bias : undefined,
          [kh, kw],
          cfg.pair('strides', [1, 1]),
          cfg.pair('dilationRate', [1, 1]),
          cfg.str('padding', 'valid'),
          c * m,
          c,
          act === 'linear' ? name : `${name}/conv`,
        );
        return this.activation(y, act, name, 4, name);
      }
      case 'SeparableConv2D': {
        one();
        cfg.channelsLast();
        const [dw, pw, bias] = this.weights(name);
        const [kh, kw] = cfg.pair('kernelSize');
        const [h, w, c] = spatial(x, name, cls);
        const m = cfg.num('depthMultiplier', 1);
        const cout = cfg.num('filters');
        const act = cfg.str('activation', 'linear');
        const strides = cfg.pair('strides', [1, 1]);
        const dil = cfg.pair('dilationRate', [1, 1]);
        const padding = cfg.str('padding', 'valid');
        const d = this.conv(
          `${name}/depthwise`,
          x,
          depthwiseKernel(dw as Float32Array, kh, kw, c, m),
          undefined,
          [kh, kw],
          strides,
          dil,
          padding,
          c * m,
          c,
          `${name}/depthwise`,
        );
        void h;
        void w;
        const dShape = [null, outShape[1] ?? null, outShape[2] ?? null, c * m];
        const y = this.conv(
          `${name}/pointwise`,
          { name: d, shape: dShape },
          convKernel(pw as Float32Array, 1, 1, c * m, cout),
          cfg.bool('useBias', true) ? bias : undefined,
          [1, 1],
          [1, 1],
          [1, 1],
          'valid',
          cout,
          1,
          act === 'linear' ? name : `${name}/conv`,
        );
        return this.activation(y, act, name, 4, name);
      }
      case 'BatchNormalization': {
        one();
        const axis = cfg.num('axis', -1);
        if (onnxAxis(axis, rank) !== 1) {
          throw new ConfigError(
            `layer "${name}" (${cls}): only the channel axis can be normalised, received axis ${axis} of a rank-${rank} input`,
          );
        }
        const ws = this.weights(name);
        const c = Number(x.shape[rank - 1]);
        let i = 0;
        const gamma = cfg.bool('scale', true) ? ws[i++] : new Float32Array(c).fill(1);
        const beta = cfg.bool('center', true) ? ws[i++] : new Float32Array(c);
        const mean = ws[i++];
        const variance = ws[i++];
        if (!gamma || !beta || !mean || !variance) {
          throw new ConfigError(`layer "${name}" (${cls}) has ${ws.length} weights, expected ${i}`);
        }
        return b.op(
          'BatchNormalization',
          [
            x.name,
            b.floats(`${name}/scale`, [c], gamma),
            b.floats(`${name}/B`, [c], beta),
            b.floats(`${name}/mean`, [c], mean),
            b.floats(`${name}/var`, [c], variance),
          ],
          name,
          [attrFloat('epsilon', cfg.num('epsilon', 1e-3))],
        );
      }
      case 'Activation':
        one();
        return this.activation(x.name, cfg.str('activation'), name, rank, name);
      case 'ReLU': {
        one();
        const max = cfg.optNum('maxValue');
        if (max === null) return b.op('Relu', [x.name], name);
        return b.op(
          'Clip',
          [x.name, b.scalar(`${name}/min`, 0), b.scalar(`${name}/max`, max)],
          name,
        );
      }
      case 'LeakyReLU':
        one();
        return b.op('LeakyRelu', [x.name], name, [attrFloat('alpha', cfg.num('alpha', 0.3))]);
      case 'Softmax': {
        one();
        const axis = cfg.raw('axis');
        const a = typeof axis === 'number' ? axis : Array.isArray(axis) ? axis[0] : -1;
        if (typeof a !== 'number' || (a !== -1 && a !== rank - 1)) {
          throw new ConfigError(
            `layer "${name}" (${cls}): only a softmax over the last axis is supported, received axis ${JSON.stringify(axis)}`,
          );
        }
        return b.op('Softmax', [x.name], name, [attrInt('axis', rank === 4 ? 1 : -1)]);
      }
      case 'ZeroPadding2D': {
        one();
        cfg.channelsLast();
        const p = cfg.raw('padding');
        let t: number;
        let bt: number;
        let le: number;
        let r: number;
        if (typeof p === 'number') [t, bt, le, r] = [p, p, p, p];
        else if (Array.isArray(p) && p.length === 2 && typeof p[0] === 'number') {
          [t, bt, le, r] = [p[0], p[0], Number(p[1]), Number(p[1])];
        } else if (
          Array.isArray(p) &&
          p.length === 2 &&
          Array.isArray(p[0]) &&
          Array.isArray(p[1])
        ) {
          [t, bt, le, r] = [Number(p[0][0]), Number(p[0][1]), Number(p[1][0]), Number(p[1][1])];
        } else {
          throw new ConfigError(
            `layer "${name}" (${cls}): padding must be a number, [h, w] or [[top, bottom], [left, right]], received ${JSON.stringify(p)}`,
          );
        }
        return b.op('Pad', [x.name, b.int64s(`${name}/pads`, [0, 0, t, le, 0, 0, bt, r])], name);
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        one();
        cfg.channelsLast();
        const [h, w] = spatial(x, name, cls);
        const k = cfg.pair('poolSize', [2, 2]);
        const s = cfg.raw('strides') === null ? k : cfg.pair('strides', k);
        let pads = [0, 0, 0, 0];
        const padding = cfg.str('padding', 'valid');
        if (padding === 'same') {
          const [t, bt] = samePads(h, k[0], s[0], 1);
          const [le, r] = samePads(w, k[1], s[1], 1);
          pads = [t, le, bt, r];
        }
        const attrs = [attrInts('kernel_shape', k), attrInts('strides', s), attrInts('pads', pads)];
        // Keras 'same' average pooling divides by the pixels inside the image (count_include_pad 0).
        return b.op(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], name, attrs);
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        one();
        cfg.channelsLast();
        spatial(x, name, cls);
        const keep = cfg.raw('keepDims') === true || cfg.raw('keepdims') === true;
        const op = cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
        const y = b.op(op, [x.name], keep ? name : `${name}/pool`);
        return keep ? y : b.op('Flatten', [y], name, [attrInt('axis', 1)]);
      }
      case 'Reshape': {
        one();
        const target = cfg.nums('targetShape');
        if (rank === 2 && target.length === 3 && target[0] === 1 && target[1] === 1) {
          // [N, C] → Keras [N, 1, 1, C] = ONNX [N, C, 1, 1] (squeeze-excite blocks).
          return b.op('Reshape', [x.name, b.int64s(`${name}/shape`, [0, -1, 1, 1])], name);
        }
        const nhwc =
          rank === 4
            ? b.op('Transpose', [x.name], `${name}/nhwc`, [attrInts('perm', [0, 2, 3, 1])])
            : x.name;
        const outRank = target.length + 1;
        const y = b.op(
          'Reshape',
          [nhwc, b.int64s(`${name}/shape`, [0, ...target])],
          outRank === 4 ? `${name}/reshape` : name,
        );
        return outRank === 4 ? b.op('Transpose', [y], name, [attrInts('perm', [0, 3, 1, 2])]) : y;
      }
      case 'Flatten': {
        one();
        const nhwc =
          rank === 4
            ? b.op('Transpose', [x.name], `${name}/nhwc`, [attrInts('perm', [0, 2, 3, 1])])
            : x.name;
        return b.op('Flatten', [nhwc], name, [attrInt('axis', 1)]);
      }
      case 'Add':
      case 'Multiply':
      case 'Average':
      case 'Maximum':
      case 'Minimum': {
        if (inputs.length < 2 || inputs.some((v) => v.shape.length !== rank)) {
          throw new ConfigError(
            `layer "${name}" (${cls}) needs two or more inputs of the same rank, received ranks ${inputs.map((v) => v.shape.length).join(', ')}`,
          );
        }
        const names = inputs.map((v) => v.name);
        if (names.length === 2 && (cls === 'Add' || cls === 'Multiply')) {
          return b.op(cls === 'Add' ? 'Add' : 'Mul', names, name);
        }
        if (cls === 'Multiply') {
          let y = names[0] as string;
          for (let i = 1; i < names.length; i++) {
            y = b.op('Mul', [y, names[i] as string], i === names.length - 1 ? name : `${name}/mul`);
          }
          return y;
        }
        const op = { Add: 'Sum', Average: 'Mean', Maximum: 'Max', Minimum: 'Min' }[cls];
        return b.op(op, names, name);
      }
      case 'Concatenate': {
        const axis = cfg.num('axis', -1);
        return b.op(
          'Concat',
          inputs.map((v) => v.name),
          name,
          [attrInt('axis', onnxAxis(axis, rank))],
        );
      }
      case 'Dense': {
        one();
        if (rank !== 2) {
          throw new ConfigError(
            `layer "${name}" (${cls}): only 2-D inputs are supported, received shape [${x.shape.join(', ')}]`,
          );
        }
        const [kernel, bias] = this.weights(name);
        const units = cfg.num('units');
        const cin = Number(x.shape[1]);
        const act = cfg.str('activation', 'linear');
        const ins = [x.name, b.floats(`${name}/W`, [cin, units], kernel as Float32Array)];
        ins.push(
          b.floats(
            `${name}/B`,
            [units],
            cfg.bool('useBias', true) && bias ? bias : new Float32Array(units),
          ),
        );
        const y = b.op('Gemm', ins, act === 'linear' ? name : `${name}/gemm`);
        return this.activation(y, act, name, 2, name);
      }
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        one();
        // Identity at inference.
        return x.name;
      case 'Rescaling': {
        one();
        const scale = cfg.num('scale', 1);
        const offset = cfg.num('offset', 0);
        let y = x.name;
        if (scale !== 1)
          y = b.op(
            'Mul',
            [y, b.scalar(`${name}/scale`, scale)],
            offset !== 0 ? `${name}/mul` : name,
          );
        if (offset !== 0) y = b.op('Add', [y, b.scalar(`${name}/offset`, offset)], name);
        return y;
      }
      case 'Normalization': {
        one();
        const [mean, variance] = this.weights(name);
        if (!mean || !variance)
          throw new ConfigError(`layer "${name}" (${cls}) has no mean and variance`);
        const c = mean.length;
        // Keras: (x − mean) / max(√variance, 1e-7).
        const std = variance.map((v) => Math.max(Math.sqrt(v), 1e-7));
        const dims = channelDims(rank, c);
        const y = b.op('Sub', [x.name, b.floats(`${name}/mean`, dims, mean)], `${name}/sub`);
        return b.op('Div', [y, b.floats(`${name}/std`, dims, std)], name);
      }
      case 'ChannelRescaling': {
        one();
        const scale = Float32Array.from(cfg.nums('scale'));
        return b.op(
          'Mul',
          [x.name, b.floats(`${name}/scale`, channelDims(rank, scale.length), scale)],
          name,
        );
      }
      default:
        throw new ConfigError(
          `layer "${name}" of class ${cls} has no ONNX conversion; supported layer classes: ${SUPPORTED_LAYERS.join(', ')}`,
        );
    }
  }
}

/** IR version for an opset (ONNX's versioning table: opset 19–20 need IR 9, 21 needs IR 10). */
function irVersion(opset: number): number {
  return opset <= 18 ? IR_VERSION : opset <= 20 ? 9 : 10;
}

function producerVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version?: string;
    };
    return pkg.version ?? '';
  } catch {
    return '';
  }
}

/** The ONNX ModelProto of a model, as a plain object, and its node count. */
export function onnxModelProto(
  model: LayersModel,
  opts: ExportOnnxOptions = {},
): { proto: ModelProto; nodes: number } {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ConfigError(
      `opset must be an integer in ${MIN_OPSET}…${MAX_OPSET}, received ${opset}`,
    );
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ConfigError(
      `ONNX export needs a model with one input and one output, received ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const inp = model.inputs[0] as SymbolicTensor;
  const outp = model.outputs[0] as SymbolicTensor;
  if (inp.shape.length !== 4) {
    throw new ConfigError(
      `ONNX export needs an image input [N, H, W, C], received [${inp.shape.join(', ')}]`,
    );
  }
  const weightCache = new Map<string, Float32Array[]>();
  const weightsOf = (layer: string): Float32Array[] => {
    let w = weightCache.get(layer);
    if (!w) {
      w = model
        .getLayer(layer)
        .getWeights()
        .map((t: Tensor) => t.dataSync() as Float32Array);
      weightCache.set(layer, w);
    }
    return w;
  };
  const conv = new Converter(weightsOf);
  const b = conv.b;
  const values = new Map<number, Val>();
  values.set(inp.id, {
    name: b.op('Transpose', [ONNX_INPUT], 'input_nchw', [attrInts('perm', [0, 3, 1, 2])]),
    shape: inp.shape,
  });

  // Post-order walk from the output: every tensor is converted after the tensors it reads.
  const visit = (st: SymbolicTensor): Val => {
    const known = values.get(st.id);
    if (known) return known;
    const stack: { st: SymbolicTensor; expanded: boolean }[] = [{ st, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { st: SymbolicTensor; expanded: boolean };
      if (values.has(top.st.id)) {
        stack.pop();
        continue;
      }
      const layer = top.st.sourceLayer;
      if (layer.getClassName() === 'InputLayer') {
        throw new ConfigError(
          `layer "${layer.name}" is a second input; ONNX export needs one input`,
        );
      }
      if (!top.expanded) {
        top.expanded = true;
        for (const i of top.st.inputs)
          if (!values.has(i.id)) stack.push({ st: i, expanded: false });
        continue;
      }
      stack.pop();
      if ((top.st.outputTensorIndex ?? 0) !== 0) {
        throw new ConfigError(
          `layer "${layer.name}" (${layer.getClassName()}) has several outputs`,
        );
      }
      const ins = top.st.inputs.map((i) => values.get(i.id) as Val);
      values.set(top.st.id, { name: conv.layer(layer, ins, top.st.shape), shape: top.st.shape });
    }
    return values.get(st.id) as Val;
  };
  const last = visit(outp);
  let outName = last.name;
  if (outp.shape.length === 4) {
    outName = b.op('Transpose', [outName], 'output_nhwc', [attrInts('perm', [0, 2, 3, 1])]);
  }
  const producer = b.nodes.find((n) => n.output[0] === outName);
  if (producer && outName !== ONNX_INPUT) {
    // Rename the last value to the public output name wherever it appears.
    for (const n of b.nodes) {
      n.output = n.output.map((o) => (o === outName ? ONNX_OUTPUT : o));
      n.input = n.input.map((o) => (o === outName ? ONNX_OUTPUT : o));
    }
  } else {
    b.op('Identity', [outName], ONNX_OUTPUT);
    // `unique` avoids the reserved name; rename the Identity's output to it.
    const id = b.nodes[b.nodes.length - 1] as NodeProto;
    id.output = [ONNX_OUTPUT];
  }
  const outputs = [floatValueInfo(ONNX_OUTPUT, outp.shape)];
  if (opts.cam === true) outputs.push(camOutput(model, values, b, weightsOf));
  const metadataProps =
    opts.metadata === undefined
      ? []
      : [{ key: ONNX_METADATA_KEY, value: JSON.stringify(opts.metadata) }];
  const proto: ModelProto = {
    irVersion: irVersion(opset),
    producerName: 'ichdet',
    producerVersion: producerVersion(),
    docString: `ichdet ${model.name}: input NHWC float32 as ichdet preprocesses it; metadata_props "ichdet" holds the preprocessing config`,
    graph: {
      name: model.name,
      node: b.nodes,
      initializer: b.initializers,
      input: [floatValueInfo(ONNX_INPUT, inp.shape)],
      output: outputs,
    },
    opsetImport: [{ domain: '', version: opset }],
    metadataProps,
  };
  return { proto, nodes: b.nodes.length };
}

/**
 * Adds the `cam` output: the input of the head's pooling layer (NCHW inside the graph) to NHWC,
 * times the dense kernel [C, classes] → [N, h, w, classes].
 */
function camOutput(
  model: LayersModel,
  values: Map<number, Val>,
  b: OnnxGraph,
  weightsOf: (layer: string) => Float32Array[],
): ValueInfoProto {
  const names = model.layers.map((l) => l.name);
  if (names.at(-1) !== HEAD_DENSE || !names.includes(HEAD_POOL)) {
    throw new ConfigError(
      `the cam output needs the ichdet head (${HEAD_POOL} → ${HEAD_DENSE}); model "${model.name}" ends in "${names.at(-1)}"`,
    );
  }
  const feat = model.getLayer(HEAD_POOL).input as SymbolicTensor;
  const f = values.get(feat.id);
  const [, h, w, c] = feat.shape;
  const kernel = weightsOf(HEAD_DENSE)[0];
  if (f === undefined || kernel === undefined || typeof c !== 'number') {
    throw new ConfigError(`the cam output needs a 4-D feature map before ${HEAD_POOL}`);
  }
  const k = kernel.length / c;
  const nhwc = b.op('Transpose', [f.name], 'cam/features_nhwc', [attrInts('perm', [0, 2, 3, 1])]);
  b.nodes.push({
    name: ONNX_CAM_OUTPUT,
    opType: 'MatMul',
    input: [nhwc, b.floats('cam/W', [c, k], kernel)],
    output: [ONNX_CAM_OUTPUT],
    attribute: [],
  });
  return floatValueInfo(ONNX_CAM_OUTPUT, [null, h ?? null, w ?? null, k]);
}

/** The model as an ONNX file (bytes). ConfigError names any layer it cannot convert. */
export function exportOnnx(model: LayersModel, opts: ExportOnnxOptions = {}): Uint8Array {
  return encodeModel(onnxModelProto(model, opts).proto);
}

export interface ExportRunOptions {
  /** The checkpoint of a run folder (default best); ignored when given a model folder. */
  checkpoint?: 'best' | 'last';
  opset?: number;
  /** Add the class activation map output (`cam`). */
  cam?: boolean;
}

export interface ExportRunResult {
  out: string;
  nodes: number;
  bytes: number;
}

/** Loads a saved model (RUN, RUN/best, RUN/last) and writes it as ONNX with its ichdet metadata. */
export async function exportRunToOnnx(
  runOrModelDir: string,
  out: string,
  o: ExportRunOptions = {},
): Promise<ExportRunResult> {
  const dir = resolveModelDir(runOrModelDir, o.checkpoint ?? 'best');
  await tf.ready();
  const model = await loadSavedModel(dir);
  try {
    const { proto, nodes } = onnxModelProto(model, {
      metadata: readModelMetadata(dir),
      ...(o.opset !== undefined && { opset: o.opset }),
      cam: o.cam === true,
    });
    const bytes = encodeModel(proto);
    await writeFileAtomic(out, bytes);
    return { out, nodes, bytes: bytes.byteLength };
  } finally {
    model.dispose();
  }
}
