/**
 * The architectures ichdet trains, with their Keras facts. Each family is imported explicitly
 * here; nothing registers itself. Parameter counts are Keras' (`model.count_params()`, the
 * 1000-class top or `include_top=False`); a test builds every model and checks them exactly.
 * FLOPs are per image at the default size with the ImageNet top, counted by `countFlops`
 * (2 × multiply–accumulates of conv/depthwise/separable/dense layers).
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ConfigError } from '../errors.js';
import type { BuildOptions } from './common.js';
import { efficientnetB0, efficientnetB2, efficientnetB3 } from './efficientnet.js';
import { inceptionV3 } from './inception_v3.js';
import { mobilenetV2 } from './mobilenet_v2.js';
import { resnet50 } from './resnet.js';
import { vgg16 } from './vgg.js';
import { xception } from './xception.js';

export const ARCH_NAMES = [
  'vgg16',
  'resnet50',
  'inception_v3',
  'mobilenet_v2',
  'xception',
  'efficientnet_b0',
  'efficientnet_b2',
  'efficientnet_b3',
] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

/** The Keras ImageNet notop weight file (`WEIGHTS_PATH_NO_TOP` and hash in keras/src/applications). */
export interface WeightFile {
  url: string;
  /** File name in the cache (the URL's last segment). */
  file: string;
  /** md5 Keras checks; null where Keras checks none (MobileNetV2). */
  md5: string | null;
}

/** Input scaling the ImageNet weights expect (Keras `preprocess_input` mode). */
export type Preprocessing =
  /** RGB → BGR, minus the ImageNet mean, pixels in [0, 255]. */
  | 'caffe'
  /** Pixels scaled to [-1, 1]. */
  | 'tf'
  /** Pixels in [0, 255]; the model rescales and normalises inside. */
  | 'none';

export interface ArchSpec {
  name: ArchName;
  /** Keras' name: `VGG16`, `EfficientNetB0`… */
  title: string;
  build: (o: BuildOptions) => LayersModel;
  /** Keras' default input height = width. */
  defaultSize: number;
  /** Keras' minimum input height and width (`obtain_input_shape` min_size). */
  minSize: number;
  /** Parameters with the 1000-class ImageNet top. */
  params: number;
  /** Parameters without the top (`include_top=False`). */
  paramsNoTop: number;
  /** FLOPs per image at the default size, 3 channels, with the ImageNet top. */
  flops: number;
  /** The first convolution: its kernel is adapted to the input channel count. */
  firstConv: string;
  /** The ImageNet classifier (Dense 1000). */
  classifier: string;
  /** The last backbone layer: the feature map the head sits on. */
  featureLayer: string;
  weights: WeightFile;
  preprocessing: Preprocessing;
}

const KERAS_APPS = 'https://storage.googleapis.com/tensorflow/keras-applications/';

function weightFile(url: string, md5: string | null): WeightFile {
  return { url, file: url.slice(url.lastIndexOf('/') + 1), md5 };
}

const efficientNetWeights = (b: string, md5: string) =>
  weightFile(`https://storage.googleapis.com/keras-applications/efficientnet${b}_notop.h5`, md5);

export const REGISTRY: readonly ArchSpec[] = [
  {
    name: 'vgg16',
    title: 'VGG16',
    build: vgg16,
    defaultSize: 224,
    minSize: 32,
    params: 138_357_544,
    paramsNoTop: 14_714_688,
    flops: 30_940_528_640,
    firstConv: 'block1_conv1',
    classifier: 'predictions',
    featureLayer: 'block5_pool',
    weights: weightFile(
      `${KERAS_APPS}vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`,
      '6d6bbae143d832006294945121d1f1fc',
    ),
    preprocessing: 'caffe',
  },
  {
    name: 'resnet50',
    title: 'ResNet50',
    build: resnet50,
    defaultSize: 224,
    minSize: 32,
    params: 25_636_712,
    paramsNoTop: 23_587_712,
    flops: 7_715_946_496,
    firstConv: 'conv1_conv',
    classifier: 'predictions',
    featureLayer: 'conv5_block3_out',
    weights: weightFile(
      `${KERAS_APPS}resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`,
      '4d473c1dd8becc155b73f8504c6f6626',
    ),
    preprocessing: 'caffe',
  },
  {
    name: 'inception_v3',
    title: 'InceptionV3',
    build: inceptionV3,
    defaultSize: 299,
    minSize: 75,
    params: 23_851_784,
    paramsNoTop: 21_802_784,
    flops: 11_426_432_192,
    firstConv: 'conv2d',
    classifier: 'predictions',
    featureLayer: 'mixed10',
    weights: weightFile(
      `${KERAS_APPS}inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`,
      'bcbd6486424b2319ff4ef7d526e38f63',
    ),
    preprocessing: 'tf',
  },
  {
    name: 'mobilenet_v2',
    title: 'MobileNetV2',
    build: mobilenetV2,
    defaultSize: 224,
    minSize: 32,
    params: 3_538_984,
    paramsNoTop: 2_257_984,
    flops: 601_548_544,
    firstConv: 'Conv1',
    classifier: 'predictions',
    featureLayer: 'out_relu',
    weights: weightFile(
      `${KERAS_APPS}mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5`,
      null,
    ),
    preprocessing: 'tf',
  },
  {
    name: 'xception',
    title: 'Xception',
    build: xception,
    defaultSize: 299,
    minSize: 71,
    params: 22_910_480,
    paramsNoTop: 20_861_480,
    flops: 16_714_806_992,
    firstConv: 'block1_conv1',
    classifier: 'predictions',
    featureLayer: 'block14_sepconv2_act',
    weights: weightFile(
      `${KERAS_APPS}xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5`,
      'b0042744bf5b25fce3cb969f33bebb97',
    ),
    preprocessing: 'tf',
  },
  {
    name: 'efficientnet_b0',
    title: 'EfficientNetB0',
    build: efficientnetB0,
    defaultSize: 224,
    minSize: 32,
    params: 5_330_571,
    paramsNoTop: 4_049_571,
    flops: 771_629_504,
    firstConv: 'stem_conv',
    classifier: 'predictions',
    featureLayer: 'top_activation',
    weights: efficientNetWeights('b0', '50bc09e76180e00e4465e1a485ddc09d'),
    preprocessing: 'none',
  },
  {
    name: 'efficientnet_b2',
    title: 'EfficientNetB2',
    build: efficientnetB2,
    defaultSize: 260,
    minSize: 32,
    params: 9_177_569,
    paramsNoTop: 7_768_569,
    flops: 1_987_123_744,
    firstConv: 'stem_conv',
    classifier: 'predictions',
    featureLayer: 'top_activation',
    weights: efficientNetWeights('b2', '111f8e2ac8aa800a7a99e3239f7bfb39'),
    preprocessing: 'none',
  },
  {
    name: 'efficientnet_b3',
    title: 'EfficientNetB3',
    build: efficientnetB3,
    defaultSize: 300,
    minSize: 32,
    params: 12_320_535,
    paramsNoTop: 10_783_535,
    flops: 3_654_282_784,
    firstConv: 'stem_conv',
    classifier: 'predictions',
    featureLayer: 'top_activation',
    weights: efficientNetWeights('b3', 'af6d107764bb5b1abb91932881670226'),
    preprocessing: 'none',
  },
];

/** How names are compared: lower case, without `_`, `-`, `.` or spaces (`EfficientNet_B0` → `efficientnetb0`). */
function archKey(name: string): string {
  return name.toLowerCase().replace(/[\s_.-]/g, '');
}

/** Every accepted spelling's key → canonical name: the registry names and the Keras names. */
const ARCH_KEYS: ReadonlyMap<string, ArchName> = new Map(
  REGISTRY.flatMap((s) => [
    [archKey(s.name), s.name],
    [archKey(s.title), s.name],
  ]),
);

export interface ResolveArchOptions {
  /** The option named in the error (`--arch`); default: "unknown architecture". */
  field?: string;
  /** Also lists `all` among the choices in the error (the caller handles `all` itself). */
  orAll?: boolean;
}

/**
 * The canonical (registry) name of an architecture as users type it: the registry names
 * (`mobilenet_v2`) and Keras' (`MobileNetV2`, as the reference study names them), in any case,
 * with or without underscores or hyphens (`mobilenetv2`, `EfficientNet-B0`). Configs and run
 * folders store the canonical name.
 *
 * @throws ConfigError naming the value received and the accepted names.
 */
export function resolveArch(name: string, o: ResolveArchOptions = {}): ArchName {
  const arch = ARCH_KEYS.get(archKey(name));
  if (arch !== undefined) return arch;
  const choices =
    `${ARCH_NAMES.join(', ')} or their Keras names ${REGISTRY.map((s) => s.title).join(', ')}` +
    ` (any case, with or without underscores)${o.orAll ? ', or all' : ''}`;
  throw new ConfigError(
    o.field === undefined
      ? `unknown architecture "${name}", expected one of ${choices}`
      : `${o.field} must be one of ${choices}, received "${name}"`,
  );
}
