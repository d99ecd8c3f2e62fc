import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor4d } from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model } from '@tensorflow/tfjs-layers';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { registerWeights } from '../src/cli/weights.js';
import { formatDownloads, weightsDownload } from '../src/commands/weights.js';
import { ConfigError, InputError } from '../src/errors.js';
import { loadH5wasm, loadKerasWeights } from '../src/models/h5.js';
import { adaptInputConv, buildModel, HEAD_DENSE, Normalization } from '../src/models/index.js';
import { type ArchName, REGISTRY } from '../src/models/registry.js';
import { downloadWeights, fetchWeightFile, weightsPath } from '../src/models/weights.js';

const tmp = mkdtempSync(join(tmpdir(), 'ichdet-weights-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface H5Weight {
  /** As in `weight_names`: `bn_Conv1/gamma:0`. */
  name: string;
  shape: number[];
  values: Float32Array | BigInt64Array;
}
interface H5Layer {
  name: string;
  weights: H5Weight[];
}

/** Deterministic values in (-1, 1), different per seed. */
function values(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) % 4294967296;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 2147483648 - 1;
  });
}
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Splits a list into `n` nearly equal chunks, as Keras splits attributes over 64 KiB. */
function chunks(list: string[], n: number): string[][] {
  const per = Math.ceil(list.length / n);
  return Array.from({ length: n }, (_, i) => list.slice(i * per, (i + 1) * per));
}

/** Writes a fixed-length byte-string list attribute (h5py's `np.array(names, dtype='S')`). */
function stringsAttr(
  obj: { create_attribute(n: string, d: string[], s: number[], t: string): void },
  name: string,
  list: string[],
  nChunks: number,
): void {
  const write = (n: string, l: string[]) => {
    const len = Math.max(1, ...l.map((s) => s.length));
    obj.create_attribute(n, l, [l.length], `S${len}`);
  };
  if (nChunks <= 1) write(name, list);
  else {
    for (const [i, c] of chunks(list, nChunks).entries()) write(`${name}${i}`, c);
  }
}

/** Writes a `.h5` file in Keras' legacy weight layout (`save_weights_to_hdf5_group`). */
async function writeKerasH5(
  path: string,
  fileLayers: H5Layer[],
  o: { layerNameChunks?: number; weightNameChunks?: number } = {},
): Promise<void> {
  const h5 = await loadH5wasm();
  const f = new h5.File(path, 'w');
  try {
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('keras_version', '2.4.0');
    stringsAttr(
      f,
      'layer_names',
      fileLayers.map((l) => l.name),
      o.layerNameChunks ?? 1,
    );
    for (const l of fileLayers) {
      const g = f.create_group(l.name);
      stringsAttr(
        g,
        'weight_names',
        l.weights.map((w) => w.name),
        l.weights.length > 1 ? (o.weightNameChunks ?? 1) : 1,
      );
      for (const w of l.weights) {
        const parts = w.name.split('/');
        const leaf = parts.pop()!;
        let parent = g;
        for (const p of parts) {
          const sub = parent.get(p);
          parent = sub instanceof h5.Group ? sub : parent.create_group(p);
        }
        parent.create_dataset({ name: leaf, data: w.values, shape: w.shape });
      }
    }
  } finally {
    f.close();
  }
}

function weightValues(m: LayersModel, layer: string): Float32Array[] {
  return m.getLayer(layer).weights.map((w) => w.read().dataSync() as Float32Array);
}

const f32 = (v: Float32Array | BigInt64Array): Float32Array =>
  v instanceof BigInt64Array ? Float32Array.from(v, (x) => Number(x)) : v;

/** A tiny model with Keras-like names: Normalization → conv → BN → conv (no bias) → BN (no scale) → dense. */
function tinyModel(channels = 3, filters = 4): LayersModel {
  const x = input({ shape: [8, 8, channels], name: 'input_1' });
  let y = new Normalization({ name: 'normalization' }).apply(x);
  y = layers.conv2d({ filters, kernelSize: 3, name: 'conv1', padding: 'same' }).apply(y);
  y = layers.batchNormalization({ name: 'bn1' }).apply(y);
  y = layers.activation({ activation: 'relu', name: 'relu1' }).apply(y);
  y = layers.conv2d({ filters: 2, kernelSize: 1, useBias: false, name: 'conv2' }).apply(y);
  y = layers.batchNormalization({ scale: false, name: 'bn2' }).apply(y);
  y = layers.globalAveragePooling2d({ name: 'pool' }).apply(y);
  const out = layers.dense({ units: 3, name: 'fc' }).apply(y);
  return model({ inputs: x, outputs: out as ReturnType<typeof input> });
}

/**
 * The tiny model's file, with Keras session names that differ from the model's (matching is by
 * order), a layer without weights listed, and bn1's weights stored out of Keras' order
 * (matching within a layer is by name).
 */
function tinyFile(filters = 4): H5Layer[] {
  const w = (layer: string, name: string, shape: number[], seed: number): H5Weight => ({
    name: `${layer}/${name}:0`,
    shape,
    values: values(size(shape), seed),
  });
  return [
    {
      name: 'normalization_1',
      weights: [
        w('normalization_1', 'mean', [3], 1),
        w('normalization_1', 'variance', [3], 2),
        { name: 'normalization_1/count:0', shape: [], values: BigInt64Array.of(1281167n) },
      ],
    },
    {
      name: 'conv2d_1',
      weights: [
        w('conv2d_1', 'kernel', [3, 3, 3, filters], 3),
        w('conv2d_1', 'bias', [filters], 4),
      ],
    },
    {
      name: 'batch_normalization_1',
      weights: [
        w('batch_normalization_1', 'moving_variance', [filters], 5),
        w('batch_normalization_1', 'gamma', [filters], 6),
        w('batch_normalization_1', 'moving_mean', [filters], 7),
        w('batch_normalization_1', 'beta', [filters], 8),
      ],
    },
    { name: 'activation_1', weights: [] },
    { name: 'conv2d_2', weights: [w('conv2d_2', 'kernel', [1, 1, filters, 2], 9)] },
    {
      name: 'batch_normalization_2',
      weights: [
        w('batch_normalization_2', 'beta', [2], 10),
        w('batch_normalization_2', 'moving_mean', [2], 11),
        w('batch_normalization_2', 'moving_variance', [2], 12),
      ],
    },
    { name: 'global_average_pooling2d_1', weights: [] },
    {
      name: 'dense_1',
      weights: [w('dense_1', 'kernel', [2, 3], 13), w('dense_1', 'bias', [3], 14)],
    },
  ];
}

/** The first index where two arrays differ (-1: same length and values); fast on large arrays. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The file's weight named `short` in `layer`. */
function fileWeight(file: H5Layer[], layer: string, short: string): Float32Array {
  const w = file.find((l) => l.name === layer)?.weights.find((x) => x.name.endsWith(`/${short}:0`));
  if (!w) throw new Error(`no ${layer}/${short}`);
  return f32(w.values);
}

describe('loadKerasWeights on a tiny model', () => {
  it('loads every weight by layer order and BatchNormalization weights by name', async () => {
    const path = join(tmp, 'tiny.h5');
    const file = tinyFile();
    await writeKerasH5(path, file);
    const m = tinyModel();
    const report = await loadKerasWeights(m, path);
    expect(report.loaded.map((l) => [l.layer, l.fileLayer])).toEqual([
      ['normalization', 'normalization_1'],
      ['conv1', 'conv2d_1'],
      ['bn1', 'batch_normalization_1'],
      ['conv2', 'conv2d_2'],
      ['bn2', 'batch_normalization_2'],
      ['fc', 'dense_1'],
    ]);
    expect(report.adapted).toEqual([]);
    expect(report.skipped).toEqual([]);

    const expected: Record<string, [string, string[]]> = {
      normalization: ['normalization_1', ['mean', 'variance']],
      conv1: ['conv2d_1', ['kernel', 'bias']],
      bn1: ['batch_normalization_1', ['gamma', 'beta', 'moving_mean', 'moving_variance']],
      conv2: ['conv2d_2', ['kernel']],
      bn2: ['batch_normalization_2', ['beta', 'moving_mean', 'moving_variance']],
      fc: ['dense_1', ['kernel', 'bias']],
    };
    for (const [layer, [fileLayer, names]] of Object.entries(expected)) {
      const got = weightValues(m, layer);
      names.forEach((n, k) => {
        expect(got[k], `${layer} ${n}`).toEqual(fileWeight(file, fileLayer, n));
      });
    }
    // The int64 count Keras stores for Normalization arrives as a float scalar.
    expect(Array.from(weightValues(m, 'normalization')[2]!)).toEqual([1281167]);
    m.dispose();
  });

  it('reads layer_names and weight_names split into chunks (layer_names0, layer_names1…)', async () => {
    const path = join(tmp, 'tiny-chunked.h5');
    const file = tinyFile();
    await writeKerasH5(path, file, { layerNameChunks: 3, weightNameChunks: 2 });
    const h5 = await loadH5wasm();
    const f = new h5.File(path, 'r');
    expect(Object.keys(f.attrs).filter((k) => k.startsWith('layer_names'))).toEqual([
      'layer_names0',
      'layer_names1',
      'layer_names2',
    ]);
    f.close();
    const m = tinyModel();
    const report = await loadKerasWeights(m, path);
    expect(report.loaded).toHaveLength(6);
    expect(weightValues(m, 'bn1')[3]).toEqual(
      fileWeight(file, 'batch_normalization_1', 'moving_variance'),
    );
    expect(weightValues(m, 'fc')[0]).toEqual(fileWeight(file, 'dense_1', 'kernel'));
    m.dispose();
  });

  it('names the model layer, the file layer, the weight and both shapes on a mismatch, and assigns nothing', async () => {
    const path = join(tmp, 'tiny-mismatch.h5');
    await writeKerasH5(path, tinyFile(4));
    const m = tinyModel(3, 5);
    const before = weightValues(m, 'fc')[0]!.slice();
    const err = await loadKerasWeights(m, path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(
      'layer conv1 (file layer conv2d_1) weight kernel: model shape [3,3,3,5], file shape [3,3,3,4]',
    );
    expect(weightValues(m, 'fc')[0]).toEqual(before);

    const report = await loadKerasWeights(m, path, { skipMismatch: true });
    expect(report.skipped.map((s) => s.layer)).toEqual(['conv1', 'bn1', 'conv2']);
    expect(report.loaded.map((l) => l.layer)).toEqual(['normalization', 'bn2', 'fc']);
    m.dispose();
  });

  it('rejects a layer whose weight names do not pair one to one with the model’s', async () => {
    const path = join(tmp, 'tiny-names.h5');
    const file = tinyFile();
    const bn1 = file[2]!;
    bn1.weights[1] = { ...bn1.weights[1]!, name: 'batch_normalization_1/moving_mean_2:0' };
    await writeKerasH5(path, file);
    const m = tinyModel();
    await expect(loadKerasWeights(m, path)).rejects.toThrow(
      /layer bn1 \(file layer batch_normalization_1\): the file's weights .* do not match the model's/,
    );
    m.dispose();
  });

  it('pairs Keras 1 weight names (conv2d_1_W_1:0, conv2d_1_b_1:0) with kernel and bias', async () => {
    const path = join(tmp, 'tiny-legacy.h5');
    const file = tinyFile();
    file[1]!.weights = [
      { ...file[1]!.weights[1]!, name: 'conv2d_1_b_1:0' },
      { ...file[1]!.weights[0]!, name: 'conv2d_1_W_1:0' },
    ];
    await writeKerasH5(path, file);
    const m = tinyModel();
    await loadKerasWeights(m, path);
    const [kernel, bias] = weightValues(m, 'conv1');
    expect(kernel).toEqual(f32(file[1]!.weights[1]!.values));
    expect(bias).toEqual(f32(file[1]!.weights[0]!.values));
    m.dispose();
  });

  it('adapts a 3-channel first conv to 9 channels with adaptInputConv and repeats the Normalization statistics', async () => {
    const path = join(tmp, 'tiny-9ch.h5');
    const file = tinyFile();
    await writeKerasH5(path, file);
    const m = tinyModel(9);
    const report = await loadKerasWeights(m, path);
    expect(report.adapted).toEqual([
      { layer: 'normalization', weight: 'mean', from: [3], to: [9] },
      { layer: 'normalization', weight: 'variance', from: [3], to: [9] },
      { layer: 'conv1', weight: 'kernel', from: [3, 3, 3, 4], to: [3, 3, 9, 4] },
    ]);
    const k3 = tensor4d(fileWeight(file, 'conv2d_1', 'kernel'), [3, 3, 3, 4]);
    const want = adaptInputConv(k3, 9);
    expect(weightValues(m, 'conv1')[0]).toEqual(want.dataSync());
    k3.dispose();
    want.dispose();
    const mean = fileWeight(file, 'normalization_1', 'mean');
    expect(Array.from(weightValues(m, 'normalization')[0]!)).toEqual(
      Array.from({ length: 9 }, (_, i) => mean[i % 3]),
    );
    m.dispose();
  });

  it('reports a file that is not a Keras weight file', async () => {
    const path = join(tmp, 'not-keras.h5');
    const h5 = await loadH5wasm();
    const f = new h5.File(path, 'w');
    f.create_dataset({ name: 'x', data: Float32Array.of(1) });
    f.close();
    const m = tinyModel();
    await expect(loadKerasWeights(m, path)).rejects.toThrow(InputError);
    await expect(loadKerasWeights(m, path)).rejects.toThrow(/no layer_names attribute/);
    m.dispose();
  });
});

/**
 * A registry architecture at a small input: the file is written from the model's own layers in
 * Keras naming and order (`<layer>/<weight>:0`, layers without weights listed too), with new
 * values; loading it must give back exactly those values, and the ichdet head is skipped.
 */
describe.each<ArchName>(['mobilenet_v2', 'efficientnet_b0'])('loadKerasWeights on %s', (arch) => {
  it('loads a Keras-layout notop file weight for weight and skips the ichdet head', async () => {
    const m = buildModel(arch, { inputShape: [32, 32, 3] });
    const backboneLayers = m.layers.filter(
      (l) => l.getClassName() !== 'InputLayer' && !l.name.startsWith('head_'),
    );
    let seed = 100;
    const file: H5Layer[] = backboneLayers.map((l) => ({
      name: l.name,
      weights: l.weights.map((w) => {
        const shape = w.shape.map(Number);
        const short = w.originalName.split('/').at(-1)!;
        return { name: `${l.name}/${short}:0`, shape, values: values(size(shape), seed++) };
      }),
    }));
    const path = join(tmp, `${arch}.h5`);
    await writeKerasH5(path, file, { layerNameChunks: 2 });
    const report = await loadKerasWeights(m, path, { arch });
    expect(report.skipped).toEqual([
      { layer: HEAD_DENSE, reason: 'ichdet head: not in the weight file' },
    ]);
    expect(report.loaded).toHaveLength(file.filter((l) => l.weights.length > 0).length);
    for (const l of file) {
      const got = weightValues(m, l.name);
      l.weights.forEach((w, k) => {
        expect(firstDifference(got[k]!, f32(w.values)), w.name).toBe(-1);
      });
    }
    m.dispose();
  });
});

describe('downloadWeights', () => {
  const payload = Buffer.from('not really an h5 file, but bytes with a known md5\n');
  const md5 = createHash('md5').update(payload).digest('hex');
  const serve = (body: Buffer) => {
    const calls: string[] = [];
    const fetchImpl: typeof fetch = async (url) => {
      calls.push(String(url));
      return new Response(new Uint8Array(body), {
        headers: { 'content-length': String(body.length) },
      });
    };
    return { calls, fetchImpl };
  };

  it('streams the file into the cache, verifies its md5 and then serves it from the cache without fetching', async () => {
    const dir = join(tmp, 'cache-good');
    const wf = { url: 'https://example.invalid/w/test_notop.h5', file: 'test_notop.h5', md5 };
    const { calls, fetchImpl } = serve(payload);
    const seen: number[] = [];
    const r = await fetchWeightFile(wf, {
      cacheDir: dir,
      fetchImpl,
      onProgress: (p) => seen.push(p.received),
    });
    expect(r).toMatchObject({ status: 'downloaded', verified: true, md5, bytes: payload.length });
    expect(readFileSync(join(dir, 'test_notop.h5'))).toEqual(payload);
    expect(seen.at(-1)).toBe(payload.length);
    expect(readdirSync(dir)).toEqual(['test_notop.h5']);
    const again = await fetchWeightFile(wf, { cacheDir: dir, fetchImpl });
    expect(again.status).toBe('cached');
    expect(calls).toHaveLength(1);
  });

  it('rejects a download whose md5 differs from the registry, naming the file and both hashes, and leaves no file', async () => {
    const dir = join(tmp, 'cache-bad');
    const { calls, fetchImpl } = serve(payload);
    const vgg = REGISTRY.find((s) => s.name === 'vgg16')!.weights;
    const err = await downloadWeights('vgg16', { cacheDir: dir, fetchImpl }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toContain(vgg.file);
    expect(msg).toContain(`expected ${vgg.md5}, received ${md5}`);
    expect(calls).toEqual([vgg.url]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fetches a cached file again when its md5 is wrong', async () => {
    const dir = join(tmp, 'cache-corrupt');
    const wf = { url: 'https://example.invalid/w/test_notop.h5', file: 'test_notop.h5', md5 };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, wf.file), 'truncated');
    const { calls, fetchImpl } = serve(payload);
    const r = await fetchWeightFile(wf, { cacheDir: dir, fetchImpl });
    expect(r.status).toBe('downloaded');
    expect(calls).toHaveLength(1);
    expect(readFileSync(join(dir, wf.file))).toEqual(payload);
  });

  it('keeps a cached file Keras publishes no hash for (MobileNetV2) without fetching', async () => {
    const dir = join(tmp, 'cache-nohash');
    const { calls, fetchImpl } = serve(payload);
    const mobile = weightsPath('mobilenet_v2', dir);
    const first = await downloadWeights('mobilenet_v2', { cacheDir: dir, fetchImpl });
    expect(first[0]).toMatchObject({ status: 'downloaded', verified: false, path: mobile });
    const second = await downloadWeights('mobilenet_v2', { cacheDir: dir, fetchImpl });
    expect(second[0]?.status).toBe('cached');
    expect(calls).toHaveLength(1);
    expect(existsSync(mobile)).toBe(true);
  });

  it('takes the cache folder from ICHDET_WEIGHTS_DIR and formats one line per file', async () => {
    const dir = join(tmp, 'cache-from-env');
    const { fetchImpl } = serve(payload);
    const old = process.env.ICHDET_WEIGHTS_DIR;
    process.env.ICHDET_WEIGHTS_DIR = dir;
    try {
      const results = await weightsDownload({ arch: 'mobilenet_v2', progress: false, fetchImpl });
      expect(results[0]?.path).toBe(weightsPath('mobilenet_v2', dir));
      expect(formatDownloads(results)).toMatch(/^mobilenet_v2: downloaded .*not checked/);
    } finally {
      if (old === undefined) delete process.env.ICHDET_WEIGHTS_DIR;
      else process.env.ICHDET_WEIGHTS_DIR = old;
    }
  });

  it('rejects an unknown architecture before fetching anything', async () => {
    const { calls, fetchImpl } = serve(payload);
    await expect(downloadWeights('resnet18', { cacheDir: tmp, fetchImpl })).rejects.toThrow(
      /unknown architecture "resnet18"/,
    );
    expect(calls).toEqual([]);
  });
});

describe('ichdet weights download', () => {
  it('exits 1 with one line naming the choices for an unknown architecture', async () => {
    const program = new Command('ichdet').option('--verbose').exitOverride();
    registerWeights(program);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(['node', 'ichdet', 'weights', 'download', 'resnet18', '--dir', tmp]);
      expect(process.exitCode).toBe(1);
      expect(String(err.mock.calls[0]?.[0])).toMatch(
        /^ichdet: unknown architecture "resnet18", expected one of vgg16, .* or all\n$/,
      );
    } finally {
      err.mockRestore();
      process.exitCode = undefined;
    }
  });
});
