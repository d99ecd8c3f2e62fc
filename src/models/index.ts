/**
 * The model zoo: the registry of the eight Keras architectures and the one surface every model
 * shares — build, backbone (features), head, reset head — so training and evaluation never
 * special-case an architecture. Importing this module registers the pure-JS cpu backend as
 * the fallback; a faster backend is chosen elsewhere with `setBackend`.
 */
import '@tensorflow/tfjs-backend-cpu';
import {
  model as functionalModel,
  type LayersModel,
  SymbolicTensor,
} from '@tensorflow/tfjs-layers';
import { ConfigError } from '../errors.js';
import { applyHead, type BuildOptions, type HeadOptions } from './common.js';
import { type ArchName, type ArchSpec, REGISTRY, resolveArch } from './registry.js';

export { adaptInputConv } from './adapt.js';
export {
  type BuildOptions,
  countFlops,
  HEAD_DENSE,
  HEAD_DROPOUT,
  HEAD_POOL,
  type HeadOptions,
  type InputShape,
} from './common.js';
export {
  type AdaptedWeight,
  type LoadedLayer,
  type LoadReport,
  type LoadWeightsOptions,
  loadKerasWeights,
  type SkippedLayer,
} from './h5.js';
export { ChannelRescaling, Normalization } from './layers.js';
export {
  ARCH_NAMES,
  type ArchName,
  type ArchSpec,
  type Preprocessing,
  REGISTRY,
  type WeightFile,
} from './registry.js';
export {
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  downloadWeights,
  fetchWeightFile,
  md5File,
  WEIGHTS_DIR_ENV,
  weightsDir,
  weightsPath,
} from './weights.js';

/**
 * The registry row of an architecture, by any accepted spelling (`resolveArch`); ConfigError
 * names the choices for an unknown one.
 */
export function archSpec(name: string): ArchSpec {
  const arch = resolveArch(name);
  return REGISTRY.find((s) => s.name === arch)!;
}

/** Builds an architecture (default: the ichdet head, 6 sigmoid outputs). */
export function buildModel(arch: ArchName | string, o: BuildOptions): LayersModel {
  return archSpec(arch).build(o);
}

/** The backbone of a model built by `buildModel`: same input, ending at the feature layer. Shares weights. */
export function backbone(m: LayersModel, arch: ArchName | string): LayersModel {
  const layer = m.getLayer(archSpec(arch).featureLayer);
  const out = layer.output;
  if (!(out instanceof SymbolicTensor)) {
    throw new Error(`${arch}: feature layer ${layer.name} has more than one output`);
  }
  return functionalModel({ inputs: m.inputs, outputs: out, name: `${m.name}_features` });
}

/** A backbone with a fresh ichdet head on top (new, randomly initialised head weights). */
export function withHead(features: LayersModel, head: HeadOptions = {}): LayersModel {
  const out = features.outputs[0];
  if (!out || features.outputs.length !== 1 || out.rank !== 4) {
    throw new ConfigError(
      `a head needs a backbone with one 4-D output, received ${features.outputs.length} output(s)`,
    );
  }
  return functionalModel({
    inputs: features.inputs,
    outputs: applyHead(out, head),
    name: features.name.replace(/_features$/, ''),
  });
}

/** Replaces a model's head (ImageNet top or ichdet head) by a fresh one; backbone weights are shared. */
export function resetHead(
  m: LayersModel,
  arch: ArchName | string,
  head: HeadOptions = {},
): LayersModel {
  return withHead(backbone(m, arch), head);
}
