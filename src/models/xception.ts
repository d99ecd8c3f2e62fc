/**
 * Xception (Chollet 2017) as Keras `applications/xception.py`: `block1_conv1` …
 * `block14_sepconv2_act`; the residual 1×1 convolutions, their batch norms and the `add` layers
 * are unnamed in Keras and get its automatic names (`conv2d`, `batch_normalization`, `add`…).
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

function bn(name: string) {
  return layers.batchNormalization({ axis: -1, name });
}

function relu(name: string) {
  return layers.activation({ activation: 'relu', name });
}

function sep(filters: number, name: string) {
  return layers.separableConv2d({
    filters,
    kernelSize: 3,
    padding: 'same',
    useBias: false,
    name,
  });
}

/** The strided 1×1 projection of the residual branch (unnamed in Keras). */
function residual(n: AutoNamer, x: SymbolicTensor, filters: number): SymbolicTensor {
  const r = ap(
    layers.conv2d({
      filters,
      kernelSize: 1,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: n.next('conv2d'),
    }),
    x,
  );
  return ap(bn(n.next('batch_normalization')), r);
}

/** Entry/exit blocks: [act] sep → bn → act → sep → bn → maxpool, plus the projected residual. */
function downBlock(
  n: AutoNamer,
  x: SymbolicTensor,
  f1: number,
  f2: number,
  block: number,
  firstAct: boolean,
): SymbolicTensor {
  const res = residual(n, x, f2);
  const p = `block${block}`;
  if (firstAct) x = ap(relu(`${p}_sepconv1_act`), x);
  x = ap(sep(f1, `${p}_sepconv1`), x);
  x = ap(bn(`${p}_sepconv1_bn`), x);
  x = ap(relu(`${p}_sepconv2_act`), x);
  x = ap(sep(f2, `${p}_sepconv2`), x);
  x = ap(bn(`${p}_sepconv2_bn`), x);
  x = ap(layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: `${p}_pool` }), x);
  return ap(layers.add({ name: n.next('add') }), [x, res]);
}

const graph: FamilyGraph = {
  minSize: 71,
  features(x: SymbolicTensor, n: AutoNamer): SymbolicTensor {
    x = ap(
      layers.conv2d({
        filters: 32,
        kernelSize: 3,
        strides: 2,
        useBias: false,
        name: 'block1_conv1',
      }),
      x,
    );
    x = ap(bn('block1_conv1_bn'), x);
    x = ap(relu('block1_conv1_act'), x);
    x = ap(layers.conv2d({ filters: 64, kernelSize: 3, useBias: false, name: 'block1_conv2' }), x);
    x = ap(bn('block1_conv2_bn'), x);
    x = ap(relu('block1_conv2_act'), x);
    x = downBlock(n, x, 128, 128, 2, false);
    x = downBlock(n, x, 256, 256, 3, true);
    x = downBlock(n, x, 728, 728, 4, true);
    for (let i = 0; i < 8; i++) {
      const res = x;
      const p = `block${i + 5}`;
      for (let j = 1; j <= 3; j++) {
        x = ap(relu(`${p}_sepconv${j}_act`), x);
        x = ap(sep(728, `${p}_sepconv${j}`), x);
        x = ap(bn(`${p}_sepconv${j}_bn`), x);
      }
      x = ap(layers.add({ name: n.next('add') }), [x, res]);
    }
    x = downBlock(n, x, 728, 1024, 13, true);
    x = ap(sep(1536, 'block14_sepconv1'), x);
    x = ap(bn('block14_sepconv1_bn'), x);
    x = ap(relu('block14_sepconv1_act'), x);
    x = ap(sep(2048, 'block14_sepconv2'), x);
    x = ap(bn('block14_sepconv2_bn'), x);
    return ap(relu('block14_sepconv2_act'), x);
  },
  imagenetTop: (x, n) => gapTop('avg_pool', n)(x),
};

export function xception(o: BuildOptions): LayersModel {
  return buildFamily('xception', graph, o);
}
