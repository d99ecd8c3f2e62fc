/**
 * EfficientNet B0/B2/B3 (Tan & Le 2019) as Keras `applications/efficientnet.py`: input
 * preprocessing inside the model (`rescaling` 1/255 → `normalization` → per-channel `rescaling_1`
 * as Keras adds with ImageNet weights), `stem_conv`, blocks `block1a_` … `block7{a,b}_`
 * (`expand_conv`, `dwconv`, `se_reduce`, `se_expand`, `project_conv`…), `top_conv`.
 * Inputs are pixels in [0, 255], as Keras expects.
 */
import {
  initializers,
  type LayersModel,
  layers,
  type SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import {
  type AutoNamer,
  ap,
  type BuildOptions,
  buildFamily,
  correctPad,
  type FamilyGraph,
} from './common.js';
import { ChannelRescaling, Normalization } from './layers.js';

/** Keras `IMAGENET_STDDEV_RGB`; Keras rescales by 1/√σ after `Normalization` for ImageNet weights. */
const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225] as const;

interface BlockArgs {
  kernel: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expand: number;
  strides: number;
}

/** Keras `DEFAULT_BLOCKS_ARGS` (all with id_skip and se_ratio 0.25). */
const DEFAULT_BLOCKS: readonly BlockArgs[] = [
  { kernel: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expand: 1, strides: 1 },
  { kernel: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expand: 6, strides: 2 },
  { kernel: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expand: 6, strides: 2 },
  { kernel: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expand: 6, strides: 2 },
  { kernel: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expand: 6, strides: 1 },
  { kernel: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expand: 6, strides: 2 },
  { kernel: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expand: 6, strides: 1 },
];
const SE_RATIO = 0.25;

const convInit = () =>
  initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal' });
const denseInit = () =>
  initializers.varianceScaling({ scale: 1 / 3, mode: 'fanOut', distribution: 'uniform' });

function bn(name: string) {
  return layers.batchNormalization({ axis: 3, name });
}
function swish(name: string) {
  return layers.activation({ activation: 'swish', name });
}
function conv1x1(filters: number, name: string, activation?: 'swish' | 'sigmoid', useBias = false) {
  return layers.conv2d({
    filters,
    kernelSize: 1,
    padding: 'same',
    useBias,
    kernelInitializer: convInit(),
    name,
    ...(activation ? { activation } : {}),
  });
}

/** Keras `block`: expand → depthwise → squeeze-excite → project, residual with drop-connect. */
function mbBlock(
  inputs: SymbolicTensor,
  dropRate: number,
  name: string,
  a: Omit<BlockArgs, 'repeats'>,
): SymbolicTensor {
  const filters = a.filtersIn * a.expand;
  let x = inputs;
  if (a.expand !== 1) {
    x = ap(conv1x1(filters, `${name}expand_conv`), x);
    x = ap(bn(`${name}expand_bn`), x);
    x = ap(swish(`${name}expand_activation`), x);
  }
  let pad: 'same' | 'valid' = 'same';
  if (a.strides === 2) {
    x = ap(
      layers.zeroPadding2d({ padding: correctPad(x, a.kernel), name: `${name}dwconv_pad` }),
      x,
    );
    pad = 'valid';
  }
  x = ap(
    layers.depthwiseConv2d({
      kernelSize: a.kernel,
      strides: a.strides,
      padding: pad,
      useBias: false,
      depthwiseInitializer: convInit(),
      name: `${name}dwconv`,
    }),
    x,
  );
  x = ap(bn(`${name}bn`), x);
  x = ap(swish(`${name}activation`), x);
  const filtersSe = Math.max(1, Math.trunc(a.filtersIn * SE_RATIO));
  let se = ap(layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
  se = ap(layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
  se = ap(conv1x1(filtersSe, `${name}se_reduce`, 'swish', true), se);
  se = ap(conv1x1(filters, `${name}se_expand`, 'sigmoid', true), se);
  x = ap(layers.multiply({ name: `${name}se_excite` }), [x, se]);
  x = ap(conv1x1(a.filtersOut, `${name}project_conv`), x);
  x = ap(bn(`${name}project_bn`), x);
  if (a.strides === 1 && a.filtersIn === a.filtersOut) {
    if (dropRate > 0) {
      // Drop-connect: one draw per sample (Keras noise_shape (None, 1, 1, 1)); tfjs replaces a
      // null entry by the input's size, though its type says number[].
      const noiseShape = [null, 1, 1, 1] as unknown as number[];
      x = ap(layers.dropout({ rate: dropRate, noiseShape, name: `${name}drop` }), x);
    }
    x = ap(layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

interface EfficientNetConfig {
  width: number;
  depth: number;
  /** Dropout before the ImageNet `predictions` layer. */
  dropout: number;
}

function efficientNetGraph(cfg: EfficientNetConfig): FamilyGraph {
  const roundFilters = (f: number, divisor = 8): number => {
    const scaled = f * cfg.width;
    let n = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
    if (n < 0.9 * scaled) n += divisor;
    return n;
  };
  const roundRepeats = (r: number): number => Math.ceil(cfg.depth * r);
  const dropConnect = 0.2;
  return {
    minSize: 32,
    features(x: SymbolicTensor, n: AutoNamer): SymbolicTensor {
      const channels = Number(x.shape[3]);
      x = ap(layers.rescaling({ scale: 1 / 255, name: n.next('rescaling') }), x);
      x = ap(new Normalization({ name: n.next('normalization') }), x);
      // For c ≠ 3 channels the RGB factors repeat cyclically, as adaptInputConv repeats weights.
      const scale = Array.from(
        { length: channels },
        (_, i) => 1 / Math.sqrt(IMAGENET_STDDEV_RGB[i % 3] ?? 1),
      );
      x = ap(new ChannelRescaling({ scale, name: n.next('rescaling') }), x);
      x = ap(layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }), x);
      x = ap(
        layers.conv2d({
          filters: roundFilters(32),
          kernelSize: 3,
          strides: 2,
          padding: 'valid',
          useBias: false,
          kernelInitializer: convInit(),
          name: 'stem_conv',
        }),
        x,
      );
      x = ap(bn('stem_bn'), x);
      x = ap(swish('stem_activation'), x);
      const total = DEFAULT_BLOCKS.reduce((s, a) => s + roundRepeats(a.repeats), 0);
      let b = 0;
      DEFAULT_BLOCKS.forEach((args, i) => {
        const filtersOut = roundFilters(args.filtersOut);
        let filtersIn = roundFilters(args.filtersIn);
        let strides = args.strides;
        for (let j = 0; j < roundRepeats(args.repeats); j++) {
          if (j > 0) {
            strides = 1;
            filtersIn = filtersOut;
          }
          const name = `block${i + 1}${String.fromCharCode(97 + j)}_`;
          x = mbBlock(x, (dropConnect * b) / total, name, {
            kernel: args.kernel,
            filtersIn,
            filtersOut,
            expand: args.expand,
            strides,
          });
          b++;
        }
      });
      x = ap(conv1x1(roundFilters(1280), 'top_conv'), x);
      x = ap(bn('top_bn'), x);
      return ap(swish('top_activation'), x);
    },
    imagenetTop(x: SymbolicTensor): SymbolicTensor {
      x = ap(layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
      if (cfg.dropout > 0) x = ap(layers.dropout({ rate: cfg.dropout, name: 'top_dropout' }), x);
      return ap(
        layers.dense({
          units: 1000,
          activation: 'softmax',
          kernelInitializer: denseInit(),
          name: 'predictions',
        }),
        x,
      );
    },
  };
}

export function efficientnetB0(o: BuildOptions): LayersModel {
  return buildFamily(
    'efficientnet_b0',
    efficientNetGraph({ width: 1.0, depth: 1.0, dropout: 0.2 }),
    o,
  );
}
export function efficientnetB2(o: BuildOptions): LayersModel {
  return buildFamily(
    'efficientnet_b2',
    efficientNetGraph({ width: 1.1, depth: 1.2, dropout: 0.3 }),
    o,
  );
}
export function efficientnetB3(o: BuildOptions): LayersModel {
  return buildFamily(
    'efficientnet_b3',
    efficientNetGraph({ width: 1.2, depth: 1.4, dropout: 0.3 }),
    o,
  );
}
