/**
 * What every model family shares: build options, the ichdet head, Keras-style automatic layer
 * names, input validation and a FLOP counter.
 */
import {
  model as functionalModel,
  input,
  type LayersModel,
  layers,
  SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import { ConfigError } from '../errors.js';
import { LABEL_COUNT } from '../labels.js';

/** Height, width, channels (channels last, as Keras applications). */
export type InputShape = readonly [number, number, number];

/** The ichdet classification head: global average pooling → [dropout] → Dense(n, sigmoid). */
export interface HeadOptions {
  /** Output units; default 6 (five subtypes + any). */
  numClasses?: number;
  /** Dropout rate before the dense layer, in [0, 1); default 0 (no dropout layer). */
  dropout?: number;
}

export interface BuildOptions {
  /** [height, width, channels]; channels may be any count ≥ 1 (3 windows, 2.5D stacks…). */
  inputShape: InputShape;
  /** The 1000-class ImageNet top exactly as Keras builds it (the head is then ignored). */
  includeTop?: boolean;
  /** The ichdet head on the backbone (default `{numClasses: 6}`); `false` for the bare backbone. */
  head?: HeadOptions | false;
}

/** Layer names the head uses; a model whose last layer is `HEAD_DENSE` has an ichdet head. */
export const HEAD_POOL = 'head_pool';
export const HEAD_DROPOUT = 'head_dropout';
export const HEAD_DENSE = 'head_dense';

type Layer = layers.Layer;

/** Applies a layer to symbolic tensors and returns the one symbolic output. */
export function ap(layer: Layer, x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
  const y = layer.apply(x);
  if (!(y instanceof SymbolicTensor)) {
    throw new Error(`layer ${layer.name} did not return one symbolic tensor`);
  }
  return y;
}

/**
 * Keras' automatic names, per model: the first Conv2D is `conv2d`, the next `conv2d_1`…
 * InceptionV3 and Xception leave many layers unnamed in Keras; naming them the same way keeps
 * names deterministic (tfjs' own automatic names use a process-wide counter).
 */
export class AutoNamer {
  private readonly counts = new Map<string, number>();
  next(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
}

/** Validates the input shape against the family's minimum spatial size; throws ConfigError. */
export function checkInputShape(arch: string, shape: InputShape, minSize: number): void {
  if (!Array.isArray(shape) || shape.length !== 3) {
    throw new ConfigError(
      `${arch}: inputShape must be [height, width, channels], received ${JSON.stringify(shape)}`,
    );
  }
  const [h, w, c] = shape;
  for (const [name, v, min] of [
    ['height', h, minSize],
    ['width', w, minSize],
    ['channels', c, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min) {
      throw new ConfigError(`${arch}: input ${name} must be an integer ≥ ${min}, received ${v}`);
    }
  }
}

/** Validates head options; returns them with defaults filled in. */
export function resolveHead(head: HeadOptions = {}): Required<HeadOptions> {
  const numClasses = head.numClasses ?? LABEL_COUNT;
  const dropout = head.dropout ?? 0;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ConfigError(`head numClasses must be a positive integer, received ${numClasses}`);
  }
  if (!(dropout >= 0 && dropout < 1)) {
    throw new ConfigError(`head dropout must be in [0, 1), received ${dropout}`);
  }
  return { numClasses, dropout };
}

/** GAP → [Dropout] → Dense(numClasses, sigmoid) on a backbone's 4-D feature map. */
export function applyHead(features: SymbolicTensor, head: HeadOptions = {}): SymbolicTensor {
  const { numClasses, dropout } = resolveHead(head);
  let x = ap(layers.globalAveragePooling2d({ name: HEAD_POOL }), features);
  if (dropout > 0) x = ap(layers.dropout({ rate: dropout, name: HEAD_DROPOUT }), x);
  return ap(layers.dense({ units: numClasses, activation: 'sigmoid', name: HEAD_DENSE }), x);
}

/** One family's Keras graph, split where the ImageNet top begins. */
export interface FamilyGraph {
  /** Keras' minimum input height/width for the family. */
  minSize: number;
  /** Builds the backbone (Keras `include_top=False, pooling=None`) on an input tensor. */
  features(x: SymbolicTensor, names: AutoNamer): SymbolicTensor;
  /** Keras' ImageNet top on the backbone output (ends in `predictions`, softmax). */
  imagenetTop(x: SymbolicTensor, names: AutoNamer): SymbolicTensor;
}

/** Builds a family as a tf.LayersModel: backbone + ImageNet top, ichdet head, or nothing. */
export function buildFamily(arch: string, graph: FamilyGraph, o: BuildOptions): LayersModel {
  checkInputShape(arch, o.inputShape, graph.minSize);
  if (o.head) resolveHead(o.head);
  const names = new AutoNamer();
  const inp = input({ shape: [...o.inputShape], name: names.next('input_layer') });
  const feats = graph.features(inp, names);
  let out: SymbolicTensor;
  if (o.includeTop) out = graph.imagenetTop(feats, names);
  else if (o.head === false) out = feats;
  else out = applyHead(feats, o.head ?? {});
  return functionalModel({ inputs: inp, outputs: out, name: arch });
}

/** Keras' GlobalAveragePooling2D → Dense(1000, softmax, name='predictions') top. */
export function gapTop(poolName: string | undefined, names: AutoNamer) {
  return (x: SymbolicTensor): SymbolicTensor => {
    const pooled = ap(
      layers.globalAveragePooling2d({ name: poolName ?? names.next('global_average_pooling2d') }),
      x,
    );
    return ap(layers.dense({ units: 1000, activation: 'softmax', name: 'predictions' }), pooled);
  };
}

/**
 * Keras `imagenet_utils.correct_pad` for a stride-2 convolution with `padding='valid'`:
 * pads (k//2 − adjust, k//2) on each spatial axis, adjust = 1 for even sizes.
 */
export function correctPad(
  x: SymbolicTensor,
  kernel: number,
): [[number, number], [number, number]] {
  const h = x.shape[1];
  const w = x.shape[2];
  const c = Math.floor(kernel / 2);
  const adjH = typeof h === 'number' ? 1 - (h % 2) : 1;
  const adjW = typeof w === 'number' ? 1 - (w % 2) : 1;
  return [
    [c - adjH, c],
    [c - adjW, c],
  ];
}

/**
 * FLOPs of one forward pass for one image, counted as 2 × multiply–accumulates of the
 * convolution, depthwise, separable and dense layers only (biases, batch norm, activations,
 * pooling and element-wise ops are not counted) — the convention of most papers (ResNet50 at
 * 224² ≈ 7.7 GFLOPs).
 */
export function countFlops(m: LayersModel): number {
  let flops = 0;
  for (const layer of m.layers) {
    const cls = layer.getClassName();
    if (
      cls !== 'Conv2D' &&
      cls !== 'DepthwiseConv2D' &&
      cls !== 'SeparableConv2D' &&
      cls !== 'Dense'
    ) {
      continue;
    }
    const outShape = layer.outputShape;
    const weights = layer.weights.map((w) => size(w.shape));
    const kSize = weights[0] ?? 0;
    if (cls === 'Dense') {
      flops += 2 * kSize;
      continue;
    }
    const outPixels = Number(outShape[1]) * Number(outShape[2]);
    if (cls === 'SeparableConv2D') {
      flops += 2 * outPixels * (kSize + (weights[1] ?? 0));
    } else {
      // Conv2D kernel [kh, kw, cin, cout]; DepthwiseConv2D kernel [kh, kw, cin, multiplier].
      flops += 2 * outPixels * kSize;
    }
  }
  return flops;
}

function size(shape: readonly (number | null)[]): number {
  return shape.reduce<number>((a, b) => a * Number(b), 1);
}
