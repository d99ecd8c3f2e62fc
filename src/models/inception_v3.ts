/**
 * InceptionV3 (Szegedy et al. 2016) as Keras `applications/inception_v3.py`. Keras names only
 * the block outputs (`mixed0` … `mixed10`, `mixed9_0`, `mixed9_1`); the other layers get Keras'
 * automatic names in creation order (`conv2d`, `batch_normalization`, `activation`, `conv2d_1`…),
 * reproduced here by `AutoNamer`. Keras loads these weights by layer order.
 */
import { type LayersModel, layers, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import {
  type AutoNamer,
  ap,
  type BuildOptions,
  buildFamily,
  type FamilyGraph,
  gapTop,
} from './common.js';

/** Keras `conv2d_bn`: Conv2D (no bias) → BatchNorm (no scale) → ReLU. */
function convBn(
  n: AutoNamer,
  x: SymbolicTensor,
  filters: number,
  rows: number,
  cols: number,
  padding: 'same' | 'valid' = 'same',
  strides = 1,
): SymbolicTensor {
  x = ap(
    layers.conv2d({
      filters,
      kernelSize: [rows, cols],
      strides,
      padding,
      useBias: false,
      name: n.next('conv2d'),
    }),
    x,
  );
  x = ap(
    layers.batchNormalization({ axis: 3, scale: false, name: n.next('batch_normalization') }),
    x,
  );
  return ap(layers.activation({ activation: 'relu', name: n.next('activation') }), x);
}

function avgPool3(n: AutoNamer, x: SymbolicTensor): SymbolicTensor {
  return ap(
    layers.averagePooling2d({
      poolSize: 3,
      strides: 1,
      padding: 'same',
      name: n.next('average_pooling2d'),
    }),
    x,
  );
}

function maxPool3s2(n: AutoNamer, x: SymbolicTensor): SymbolicTensor {
  return ap(layers.maxPooling2d({ poolSize: 3, strides: 2, name: n.next('max_pooling2d') }), x);
}

function concat(n: AutoNamer, xs: SymbolicTensor[], name?: string): SymbolicTensor {
  return ap(layers.concatenate({ axis: 3, name: name ?? n.next('concatenate') }), xs);
}

/** mixed0–2: 35×35 blocks; `poolFilters` is 32 for mixed0, 64 after. */
function blockA(n: AutoNamer, x: SymbolicTensor, poolFilters: number, name: string) {
  const b1 = convBn(n, x, 64, 1, 1);
  let b5 = convBn(n, x, 48, 1, 1);
  b5 = convBn(n, b5, 64, 5, 5);
  let b3 = convBn(n, x, 64, 1, 1);
  b3 = convBn(n, b3, 96, 3, 3);
  b3 = convBn(n, b3, 96, 3, 3);
  const bp = convBn(n, avgPool3(n, x), poolFilters, 1, 1);
  return concat(n, [b1, b5, b3, bp], name);
}

/** mixed4–7: 17×17 blocks with factorised 7×7 convolutions of `c` inner channels. */
function blockC(n: AutoNamer, x: SymbolicTensor, c: number, name: string) {
  const b1 = convBn(n, x, 192, 1, 1);
  let b7 = convBn(n, x, c, 1, 1);
  b7 = convBn(n, b7, c, 1, 7);
  b7 = convBn(n, b7, 192, 7, 1);
  let bd = convBn(n, x, c, 1, 1);
  bd = convBn(n, bd, c, 7, 1);
  bd = convBn(n, bd, c, 1, 7);
  bd = convBn(n, bd, c, 7, 1);
  bd = convBn(n, bd, 192, 1, 7);
  const bp = convBn(n, avgPool3(n, x), 192, 1, 1);
  return concat(n, [b1, b7, bd, bp], name);
}

/** mixed9–10: 8×8 blocks with expanded filter banks. */
function blockE(n: AutoNamer, x: SymbolicTensor, i: number) {
  const b1 = convBn(n, x, 320, 1, 1);
  let b3 = convBn(n, x, 384, 1, 1);
  const b3a = convBn(n, b3, 384, 1, 3);
  const b3b = convBn(n, b3, 384, 3, 1);
  b3 = concat(n, [b3a, b3b], `mixed9_${i}`);
  let bd = convBn(n, x, 448, 1, 1);
  bd = convBn(n, bd, 384, 3, 3);
  const bda = convBn(n, bd, 384, 1, 3);
  const bdb = convBn(n, bd, 384, 3, 1);
  bd = concat(n, [bda, bdb]);
  const bp = convBn(n, avgPool3(n, x), 192, 1, 1);
  return concat(n, [b1, b3, bd, bp], `mixed${9 + i}`);
}

const graph: FamilyGraph = {
  minSize: 75,
  features(x: SymbolicTensor, n: AutoNamer): SymbolicTensor {
    x = convBn(n, x, 32, 3, 3, 'valid', 2);
    x = convBn(n, x, 32, 3, 3, 'valid');
    x = convBn(n, x, 64, 3, 3);
    x = maxPool3s2(n, x);
    x = convBn(n, x, 80, 1, 1, 'valid');
    x = convBn(n, x, 192, 3, 3, 'valid');
    x = maxPool3s2(n, x);
    x = blockA(n, x, 32, 'mixed0');
    x = blockA(n, x, 64, 'mixed1');
    x = blockA(n, x, 64, 'mixed2');
    // mixed3: grid reduction 35 → 17.
    const r3 = convBn(n, x, 384, 3, 3, 'valid', 2);
    let rd = convBn(n, x, 64, 1, 1);
    rd = convBn(n, rd, 96, 3, 3);
    rd = convBn(n, rd, 96, 3, 3, 'valid', 2);
    x = concat(n, [r3, rd, maxPool3s2(n, x)], 'mixed3');
    x = blockC(n, x, 128, 'mixed4');
    x = blockC(n, x, 160, 'mixed5');
    x = blockC(n, x, 160, 'mixed6');
    x = blockC(n, x, 192, 'mixed7');
    // mixed8: grid reduction 17 → 8.
    let s3 = convBn(n, x, 192, 1, 1);
    s3 = convBn(n, s3, 320, 3, 3, 'valid', 2);
    let s7 = convBn(n, x, 192, 1, 1);
    s7 = convBn(n, s7, 192, 1, 7);
    s7 = convBn(n, s7, 192, 7, 1);
    s7 = convBn(n, s7, 192, 3, 3, 'valid', 2);
    x = concat(n, [s3, s7, maxPool3s2(n, x)], 'mixed8');
    x = blockE(n, x, 0);
    return blockE(n, x, 1);
  },
  imagenetTop: (x, n) => gapTop('avg_pool', n)(x),
};

export function inceptionV3(o: BuildOptions): LayersModel {
  return buildFamily('inception_v3', graph, o);
}
