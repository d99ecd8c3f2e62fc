/**
 * ResNet50 (He et al. 2016), v1 as Keras `applications/resnet.py`: `conv1_pad`, `conv1_conv`,
 * `conv1_bn`, `pool1_pool`, blocks `conv{2..5}_block{i}_{0..3}_{conv,bn}`, `…_add`, `…_out`.
 */
import { type LayersModel, layers, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { ap, type BuildOptions, buildFamily, type FamilyGraph, gapTop } from './common.js';

const BN_EPSILON = 1.001e-5;

function bn(name: string) {
  return layers.batchNormalization({ axis: 3, epsilon: BN_EPSILON, name });
}

/** Keras `residual_block_v1`: 1×1 → k×k → 1×1 (4× filters), projection shortcut when asked. */
function block(
  x: SymbolicTensor,
  filters: number,
  stride: number,
  convShortcut: boolean,
  name: string,
): SymbolicTensor {
  let shortcut = x;
  if (convShortcut) {
    shortcut = ap(
      layers.conv2d({
        filters: 4 * filters,
        kernelSize: 1,
        strides: stride,
        name: `${name}_0_conv`,
      }),
      x,
    );
    shortcut = ap(bn(`${name}_0_bn`), shortcut);
  }
  let y = ap(layers.conv2d({ filters, kernelSize: 1, strides: stride, name: `${name}_1_conv` }), x);
  y = ap(bn(`${name}_1_bn`), y);
  y = ap(layers.activation({ activation: 'relu', name: `${name}_1_relu` }), y);
  y = ap(layers.conv2d({ filters, kernelSize: 3, padding: 'same', name: `${name}_2_conv` }), y);
  y = ap(bn(`${name}_2_bn`), y);
  y = ap(layers.activation({ activation: 'relu', name: `${name}_2_relu` }), y);
  y = ap(layers.conv2d({ filters: 4 * filters, kernelSize: 1, name: `${name}_3_conv` }), y);
  y = ap(bn(`${name}_3_bn`), y);
  y = ap(layers.add({ name: `${name}_add` }), [shortcut, y]);
  return ap(layers.activation({ activation: 'relu', name: `${name}_out` }), y);
}

function stack(
  x: SymbolicTensor,
  filters: number,
  blocks: number,
  stride1: number,
  name: string,
): SymbolicTensor {
  x = block(x, filters, stride1, true, `${name}_block1`);
  for (let i = 2; i <= blocks; i++) x = block(x, filters, 1, false, `${name}_block${i}`);
  return x;
}

/** Blocks per stage (conv2…conv5); ResNet50 is [3, 4, 6, 3]. */
function resnetGraph(stages: readonly [number, number, number, number]): FamilyGraph {
  return {
    minSize: 32,
    features(x: SymbolicTensor): SymbolicTensor {
      x = ap(
        layers.zeroPadding2d({
          padding: [
            [3, 3],
            [3, 3],
          ],
          name: 'conv1_pad',
        }),
        x,
      );
      x = ap(layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, name: 'conv1_conv' }), x);
      x = ap(bn('conv1_bn'), x);
      x = ap(layers.activation({ activation: 'relu', name: 'conv1_relu' }), x);
      x = ap(
        layers.zeroPadding2d({
          padding: [
            [1, 1],
            [1, 1],
          ],
          name: 'pool1_pad',
        }),
        x,
      );
      x = ap(layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
      x = stack(x, 64, stages[0], 1, 'conv2');
      x = stack(x, 128, stages[1], 2, 'conv3');
      x = stack(x, 256, stages[2], 2, 'conv4');
      return stack(x, 512, stages[3], 2, 'conv5');
    },
    imagenetTop: (x, names) => gapTop('avg_pool', names)(x),
  };
}

export function resnet50(o: BuildOptions): LayersModel {
  return buildFamily('resnet50', resnetGraph([3, 4, 6, 3]), o);
}
