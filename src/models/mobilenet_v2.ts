/**
 * MobileNetV2 (Sandler et al. 2018), alpha 1.0, as Keras `applications/mobilenet_v2.py`:
 * `Conv1`, `bn_Conv1`, `expanded_conv_*`, `block_{1..16}_{expand,depthwise,project}`, `Conv_1`,
 * `out_relu`.
 */
import { type LayersModel, layers, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import {
  ap,
  type BuildOptions,
  buildFamily,
  correctPad,
  type FamilyGraph,
  gapTop,
} from './common.js';

function bn(name: string) {
  return layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
}

function relu6(name: string) {
  return layers.reLU({ maxValue: 6, name });
}

/** Keras `_make_divisible`. */
export function makeDivisible(v: number, divisor: number): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

function invertedResBlock(
  inputs: SymbolicTensor,
  expansion: number,
  stride: number,
  alpha: number,
  filters: number,
  blockId: number,
): SymbolicTensor {
  const inChannels = Number(inputs.shape[3]);
  const pointwise = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;
  if (blockId) {
    x = ap(
      layers.conv2d({
        filters: expansion * inChannels,
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        name: `${prefix}expand`,
      }),
      x,
    );
    x = ap(bn(`${prefix}expand_BN`), x);
    x = ap(relu6(`${prefix}expand_relu`), x);
  } else {
    prefix = 'expanded_conv_';
  }
  if (stride === 2) {
    x = ap(layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }), x);
  }
  x = ap(
    layers.depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = ap(bn(`${prefix}depthwise_BN`), x);
  x = ap(relu6(`${prefix}depthwise_relu`), x);
  x = ap(
    layers.conv2d({
      filters: pointwise,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      name: `${prefix}project`,
    }),
    x,
  );
  x = ap(bn(`${prefix}project_BN`), x);
  if (inChannels === pointwise && stride === 1) {
    return ap(layers.add({ name: `${prefix}add` }), [inputs, x]);
  }
  return x;
}

/** [filters, stride, expansion] of blocks 0…16. */
const BLOCKS: readonly (readonly [number, number, number])[] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

function mobilenetV2Graph(alpha: number): FamilyGraph {
  return {
    minSize: 32,
    features(x: SymbolicTensor): SymbolicTensor {
      x = ap(
        layers.conv2d({
          filters: makeDivisible(32 * alpha, 8),
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          useBias: false,
          name: 'Conv1',
        }),
        x,
      );
      x = ap(bn('bn_Conv1'), x);
      x = ap(relu6('Conv1_relu'), x);
      BLOCKS.forEach(([filters, stride, expansion], id) => {
        x = invertedResBlock(x, expansion, stride, alpha, filters, id);
      });
      const last = alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280;
      x = ap(layers.conv2d({ filters: last, kernelSize: 1, useBias: false, name: 'Conv_1' }), x);
      x = ap(bn('Conv_1_bn'), x);
      return ap(relu6('out_relu'), x);
    },
    imagenetTop: (x, n) => gapTop(undefined, n)(x),
  };
}

export function mobilenetV2(o: BuildOptions): LayersModel {
  return buildFamily('mobilenet_v2', mobilenetV2Graph(1.0), o);
}
