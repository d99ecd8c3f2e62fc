/**
 * VGG16 (Simonyan & Zisserman 2015), as Keras `applications/vgg16.py`: layer names
 * `block1_conv1` … `block5_pool`, top `flatten` → `fc1` → `fc2` → `predictions`.
 */
import { type LayersModel, layers, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { ap, type BuildOptions, buildFamily, type FamilyGraph } from './common.js';

/** Filters per block and convolutions per block. */
const VGG16_BLOCKS: readonly (readonly [number, number])[] = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
];

function vggGraph(blocks: readonly (readonly [number, number])[]): FamilyGraph {
  return {
    minSize: 32,
    features(x: SymbolicTensor): SymbolicTensor {
      blocks.forEach(([filters, convs], b) => {
        for (let i = 1; i <= convs; i++) {
          x = ap(
            layers.conv2d({
              filters,
              kernelSize: 3,
              activation: 'relu',
              padding: 'same',
              name: `block${b + 1}_conv${i}`,
            }),
            x,
          );
        }
        x = ap(layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` }), x);
      });
      return x;
    },
    imagenetTop(x: SymbolicTensor): SymbolicTensor {
      x = ap(layers.flatten({ name: 'flatten' }), x);
      x = ap(layers.dense({ units: 4096, activation: 'relu', name: 'fc1' }), x);
      x = ap(layers.dense({ units: 4096, activation: 'relu', name: 'fc2' }), x);
      return ap(layers.dense({ units: 1000, activation: 'softmax', name: 'predictions' }), x);
    },
  };
}

export function vgg16(o: BuildOptions): LayersModel {
  return buildFamily('vgg16', vggGraph(VGG16_BLOCKS), o);
}
