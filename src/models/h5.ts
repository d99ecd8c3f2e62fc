/**
 * Loading Keras ImageNet weights from a legacy HDF5 (`.h5`) weight file into a tfjs model,
 * read with h5wasm.
 *
 * The layout Keras writes (`save_weights_to_hdf5_group`, keras/src/legacy/saving/
 * legacy_h5_format.py): the root (or its `model_weights` group, for a whole saved model) has
 * the attribute `layer_names`; each layer is a group with the attribute `weight_names`; the
 * weights are datasets at `<layer>/<weight_name>`. An attribute over HDF5's 64 KiB header
 * limit is split into `layer_names0`, `layer_names1`, …
 *
 * Matching follows Keras' `load_weights_from_hdf5_group`: by ORDER among the layers that have
 * weights (InceptionV3 and Xception have automatic names that differ between Keras sessions),
 * then every weight's shape is checked. Within a layer, weights are paired by name (`gamma`,
 * `beta`, `moving_mean`, `moving_variance`…) when the file's names say which is which, and by
 * position when they do not (very old files).
 */
import { basename, resolve } from 'node:path';
import { type Tensor, type Tensor4D, tensor, tensor4d } from '@tensorflow/tfjs-core';
import type { LayersModel, LayerVariable, layers } from '@tensorflow/tfjs-layers';
import type { Group } from 'h5wasm/node';
import { ConfigError, InputError } from '../errors.js';
import { adaptInputConv } from './adapt.js';
import { HEAD_DENSE, HEAD_DROPOUT, HEAD_POOL } from './common.js';
import { type ArchName, REGISTRY, resolveArch } from './registry.js';

type H5 = typeof import('h5wasm/node');
type Layer = layers.Layer;

let h5Module: Promise<H5> | undefined;

/** h5wasm, imported and initialised on first use (its wasm start-up is not paid by every CLI call). */
export function loadH5wasm(): Promise<H5> {
  h5Module ??= import('h5wasm/node').then(async (m) => {
    await m.ready;
    return m;
  });
  return h5Module;
}

export interface LoadWeightsOptions {
  /**
   * The registry architecture the model was built as: its `firstConv` is the layer whose kernel
   * is adapted to the model's channel count. Without it, the model's first Conv2D layer.
   */
  arch?: ArchName;
  /** Skip (and report) layers whose weights do not fit instead of throwing; default false. */
  skipMismatch?: boolean;
}

export interface LoadedLayer {
  /** The model's layer. */
  layer: string;
  /** The file's layer it was loaded from (same position among the layers with weights). */
  fileLayer: string;
  weights: number;
}

export interface AdaptedWeight {
  layer: string;
  weight: string;
  /** The file's shape. */
  from: number[];
  /** The model's shape. */
  to: number[];
}

export interface SkippedLayer {
  layer: string;
  reason: string;
}

export interface LoadReport {
  file: string;
  /** Model layers that received weights, in model order. */
  loaded: LoadedLayer[];
  /** Weights whose shape was adapted: the first conv kernel, a Normalization layer's mean/variance. */
  adapted: AdaptedWeight[];
  /** Model layers left unchanged: the ichdet head (absent from notop files), mismatches with skipMismatch. */
  skipped: SkippedLayer[];
}

/** One weight as stored in the file. */
interface FileWeight {
  /** The full `weight_names` entry, e.g. `bn_Conv1/gamma:0`. */
  name: string;
  shape: number[];
  values: Float32Array;
}

interface FileLayer {
  name: string;
  weights: FileWeight[];
}

const HEAD_LAYERS = new Set([HEAD_POOL, HEAD_DROPOUT, HEAD_DENSE]);

/** Names of Keras 1 era weights (`block1_conv1_W_1:0`, `bn_running_std`) → today's names. */
const LEGACY_ALIASES: readonly (readonly [string, string])[] = [
  ['W', 'kernel'],
  ['b', 'bias'],
  ['running_mean', 'moving_mean'],
  ['running_std', 'moving_variance'],
];

const shapeText = (s: readonly number[]) => JSON.stringify(s);

/**
 * Loads a Keras `.h5` weight file into `model`, matching layers with weights by order and
 * checking every shape. The first convolution's kernel is adapted to the model's input channel
 * count with `adaptInputConv` (timm's rule), and a Normalization layer's per-channel mean and
 * variance are repeated cyclically to that count (as `ChannelRescaling` repeats the RGB
 * factors). Layers of the ichdet head are skipped when the file has no weights for them.
 * Nothing is assigned unless every layer fits (or, with `skipMismatch`, is skipped).
 *
 * @throws InputError when the file is not a Keras weight file; ConfigError naming the model
 *   layer, the file layer, the weight and both shapes when they do not fit.
 */
export async function loadKerasWeights(
  model: LayersModel,
  file: string,
  opts: LoadWeightsOptions = {},
): Promise<LoadReport> {
  const firstConv = firstConvName(model, opts.arch);
  const fileLayers = await readKerasH5(file);
  const name = basename(file);
  const report: LoadReport = { file, loaded: [], adapted: [], skipped: [] };

  let modelLayers = model.layers.filter((l) => l.weights.length > 0);
  if (modelLayers.length !== fileLayers.length) {
    const withoutHead = modelLayers.filter((l) => !HEAD_LAYERS.has(l.name));
    for (const l of modelLayers) {
      if (HEAD_LAYERS.has(l.name)) {
        report.skipped.push({ layer: l.name, reason: 'ichdet head: not in the weight file' });
      }
    }
    modelLayers = withoutHead;
  }
  if (modelLayers.length !== fileLayers.length) {
    throw new ConfigError(
      `${name}: the model has ${modelLayers.length} layers with weights, the file has ` +
        `${fileLayers.length}${firstDifference(modelLayers, fileLayers)}`,
    );
  }

  const assignments: { layer: Layer; values: Tensor[] }[] = [];
  try {
    modelLayers.forEach((layer, i) => {
      const fileLayer = fileLayers[i]!;
      try {
        const values = layerValues(layer, fileLayer, layer.name === firstConv, report);
        assignments.push({ layer, values });
        report.loaded.push({
          layer: layer.name,
          fileLayer: fileLayer.name,
          weights: values.length,
        });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (!opts.skipMismatch) throw new ConfigError(`${name}: ${err.message}`);
        report.skipped.push({ layer: layer.name, reason: err.message });
      }
    });
    for (const { layer, values } of assignments) layer.setWeights(values);
  } finally {
    for (const { values } of assignments) for (const t of values) t.dispose();
  }
  return report;
}

/** The layer whose kernel is adapted: the registry's `firstConv`, else the first Conv2D. */
function firstConvName(model: LayersModel, arch: ArchName | undefined): string | undefined {
  if (arch !== undefined) {
    const name = resolveArch(arch);
    return REGISTRY.find((s) => s.name === name)!.firstConv;
  }
  return model.layers.find((l) => l.getClassName() === 'Conv2D')?.name;
}

function firstDifference(modelLayers: Layer[], fileLayers: FileLayer[]): string {
  const n = Math.min(modelLayers.length, fileLayers.length);
  for (let i = 0; i < n; i++) {
    const m = modelLayers[i]!;
    const f = fileLayers[i]!;
    if (m.weights.length !== f.weights.length) {
      return ` (first difference at position ${i}: model layer ${m.name} has ${m.weights.length} weights, file layer ${f.name} has ${f.weights.length})`;
    }
  }
  const extra = modelLayers[n]?.name ?? fileLayers[n]?.name;
  return extra === undefined ? '' : ` (first unmatched layer: ${extra})`;
}

/** The short name of a weight: `conv1/kernel:0` → `kernel`. */
function shortName(name: string): string {
  return (name.split('/').at(-1) ?? name).replace(/:\d+$/, '');
}

/** Which of the model's weight names a file weight name denotes; undefined when none. */
function matchName(fileName: string, modelNames: readonly string[]): string | undefined {
  const short = shortName(fileName);
  if (modelNames.includes(short)) return short;
  const stem = short.replace(/_\d+$/, '');
  const ends = (s: string) => stem === s || stem.endsWith(`_${s}`);
  // Longest first, so `depthwise_kernel` wins over `kernel`.
  const byLength = [...modelNames].sort((a, b) => b.length - a.length);
  const direct = byLength.find(ends);
  if (direct !== undefined) return direct;
  const alias = LEGACY_ALIASES.find(([old, now]) => ends(old) && modelNames.includes(now));
  return alias?.[1];
}

/**
 * Pairs a model layer's weights with a file layer's: by name when the file's names identify
 * every weight, by position when they identify none. Returns file weights in model order.
 */
function pairWeights(layer: Layer, fileLayer: FileLayer, where: string): FileWeight[] {
  const modelNames = layer.weights.map((w) => shortName(w.originalName));
  const fileNames = fileLayer.weights.map((w) => shortName(w.name));
  if (modelNames.length !== fileNames.length) {
    throw new ConfigError(
      `${where}: the model has ${modelNames.length} weights (${modelNames.join(', ')}), ` +
        `the file has ${fileNames.length} (${fileNames.join(', ')})`,
    );
  }
  const matched = fileLayer.weights.map((w) => matchName(w.name, modelNames));
  if (matched.every((m) => m === undefined)) return fileLayer.weights;
  const distinct = new Set(matched);
  if (matched.some((m) => m === undefined) || distinct.size !== modelNames.length) {
    throw new ConfigError(
      `${where}: the file's weights (${fileNames.join(', ')}) do not match the model's ` +
        `(${modelNames.join(', ')})`,
    );
  }
  return modelNames.map((n) => fileLayer.weights[matched.indexOf(n)]!);
}

/** The tensors to assign to one layer, in its `weights` order; adapts what may be adapted. */
function layerValues(
  layer: Layer,
  fileLayer: FileLayer,
  isFirstConv: boolean,
  report: LoadReport,
): Tensor[] {
  const where = `layer ${layer.name} (file layer ${fileLayer.name})`;
  const paired = pairWeights(layer, fileLayer, where);
  const isNormalization = layer.getClassName() === 'Normalization';
  const adapted: AdaptedWeight[] = [];
  const plans = layer.weights.map((v: LayerVariable, k) => {
    const fw = paired[k]!;
    const weight = shortName(v.originalName);
    const want = v.shape.map(Number);
    if (sameShape(want, fw.shape)) return () => tensor(fw.values, fw.shape);
    if (isFirstConv && weight === 'kernel' && canAdaptConv(fw.shape, want)) {
      adapted.push({ layer: layer.name, weight, from: fw.shape, to: want });
      return () => {
        const k3: Tensor4D = tensor4d(fw.values, fw.shape as [number, number, number, number]);
        try {
          return adaptInputConv(k3, want[2]!);
        } finally {
          k3.dispose();
        }
      };
    }
    if (isNormalization && (weight === 'mean' || weight === 'variance')) {
      if (want.length === 1 && fw.shape.length === 1 && fw.shape[0]! > 0) {
        adapted.push({ layer: layer.name, weight, from: fw.shape, to: want });
        return () => tensor(repeatCyclic(fw.values, want[0]!), want);
      }
    }
    throw new ConfigError(
      `${where} weight ${weight}: model shape ${shapeText(want)}, file shape ${shapeText(fw.shape)}`,
    );
  });
  report.adapted.push(...adapted);
  return plans.map((make) => make());
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A `[kh, kw, 3, out]` kernel adapts to `[kh, kw, c, out]`. */
function canAdaptConv(from: readonly number[], to: readonly number[]): boolean {
  return (
    from.length === 4 &&
    to.length === 4 &&
    from[2] === 3 &&
    from[0] === to[0] &&
    from[1] === to[1] &&
    from[3] === to[3]
  );
}

function repeatCyclic(values: Float32Array, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => values[i % values.length]!);
}

/**
 * Reads the layers with weights of a Keras `.h5` weight file, in file order.
 * @throws InputError naming the file and what is missing or malformed.
 */
export async function readKerasH5(file: string): Promise<FileLayer[]> {
  const h5 = await loadH5wasm();
  const name = basename(file);
  let f: InstanceType<H5['File']>;
  try {
    f = new h5.File(resolve(file), 'r');
  } catch (err) {
    throw new InputError(`${file}: not a readable HDF5 file (${String(err)})`);
  }
  try {
    let root: Group = f;
    let layerNames = stringListAttr(root, 'layer_names', name);
    if (layerNames === undefined) {
      const mw = f.get('model_weights');
      if (mw instanceof h5.Group) {
        root = mw;
        layerNames = stringListAttr(root, 'layer_names', name);
      }
    }
    if (layerNames === undefined) {
      throw new InputError(
        `${name}: not a Keras weight file: no layer_names attribute at the root or in model_weights`,
      );
    }
    const out: FileLayer[] = [];
    for (const layerName of layerNames) {
      const g = root.get(layerName);
      if (!(g instanceof h5.Group)) {
        throw new InputError(
          `${name}: layer ${layerName} is listed in layer_names but has no group`,
        );
      }
      const weightNames = stringListAttr(g, 'weight_names', name) ?? [];
      if (weightNames.length === 0) continue;
      const weights = weightNames.map((wn) => {
        const ds = g.get(wn);
        if (!(ds instanceof h5.Dataset)) {
          throw new InputError(
            `${name}: layer ${layerName} lists weight ${wn} but has no dataset ${layerName}/${wn}`,
          );
        }
        return {
          name: wn,
          shape: ds.shape ?? [],
          values: toFloat32(ds.value, `${layerName}/${wn}`, name),
        };
      });
      out.push({ name: layerName, weights });
    }
    return out;
  } finally {
    f.close();
  }
}

/** A string-list attribute, joined from `name0`, `name1`… when Keras chunked it; undefined when absent. */
function stringListAttr(obj: Group, attr: string, file: string): string[] | undefined {
  const attrs = obj.attrs;
  const whole = attrs[attr];
  if (whole !== undefined) return toStrings(whole.value, `${obj.path} attribute ${attr}`, file);
  const out: string[] = [];
  let chunk = 0;
  for (; attrs[`${attr}${chunk}`] !== undefined; chunk++) {
    const part = attrs[`${attr}${chunk}`]!;
    out.push(...toStrings(part.value, `${obj.path} attribute ${attr}${chunk}`, file));
  }
  return chunk === 0 ? undefined : out;
}

const decoder = new TextDecoder();

function toStrings(value: unknown, where: string, file: string): string[] {
  if (value === null || value === undefined) return [];
  // Keras writes an empty `weight_names` as an empty float array (`np.asarray([])`).
  if (ArrayBuffer.isView(value) && value.byteLength === 0) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return decoder.decode(v).replace(/\0+$/, '');
    throw new InputError(`${file}: ${where} must hold strings, received ${typeof v}`);
  });
}

function toFloat32(value: unknown, where: string, file: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return Float32Array.of(Number(value));
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) {
    return Float32Array.from(value, (b) => Number(b));
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Float32Array.from(value as unknown as ArrayLike<number>);
  }
  throw new InputError(`${file}: dataset ${where} is not numeric`);
}
