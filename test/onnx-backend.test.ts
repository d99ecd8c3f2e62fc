/**
 * The two ONNX Runtime builds: onnxruntime-web's wasm build (always installed) gives the
 * predictions of the native onnxruntime-node (an optional peer) within 1e-4 on an exported
 * model; `auto` falls back to wasm and `native` names the install line when the native package
 * cannot be imported (simulated with an importer that reports it missing, as Node does).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { ConfigError } from '../src/errors.js';
import { exportOnnx } from '../src/infer/onnx-export.js';
import {
  loadOrt,
  type ModuleImporter,
  NATIVE_INSTALL_LINE,
  OnnxModel,
  parseOnnxBackend,
} from '../src/infer/onnx-runtime.js';
import { buildModel } from '../src/models/index.js';
import { withSeededRandom } from '../src/train/seeded.js';
import { Rng } from '../src/util/rng.js';

let dir: string;
let file: string;
const N = 3;
const SIZE = 32;
let x: Float32Array;

beforeAll(async () => {
  await initBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'ichdet-onnx-backend-'));
  const rng = new Rng(5);
  const m = withSeededRandom(new Rng(9), () =>
    buildModel('mobilenet_v2', { inputShape: [SIZE, SIZE, 3] }),
  );
  // A head far from zero, so the six outputs differ from image to image and from 0.5.
  const head = m.getLayer('head_dense');
  head.setWeights(
    head.getWeights().map((w) =>
      tf.tensor(
        Float32Array.from({ length: w.size }, () => rng.normal()),
        w.shape,
      ),
    ),
  );
  file = join(dir, 'mnv2.onnx');
  writeFileSync(file, exportOnnx(m));
  m.dispose();
  x = Float32Array.from({ length: N * SIZE * SIZE * 3 }, () => rng.uniform(-1, 1));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node's error for a bare specifier that resolves to nothing. */
function missing(specifier: string): Error {
  const err = new Error(
    `Cannot find package '${specifier}' imported from /somewhere/dist/infer/onnx-runtime.js`,
  );
  (err as Error & { code: string }).code = 'ERR_MODULE_NOT_FOUND';
  return err;
}

/** Imports like Node, except that onnxruntime-node is not installed. */
const withoutNative: ModuleImporter = (s) =>
  s === 'onnxruntime-node' ? Promise.reject(missing(s)) : import(s);

async function predictWith(backend: 'native' | 'wasm' | 'auto', importer?: ModuleImporter) {
  const om = await OnnxModel.load(file, { threads: 2, backend }, importer);
  try {
    return { backend: om.backend, y: await om.run(x, N) };
  } finally {
    await om.close();
  }
}

describe('ONNX Runtime builds', () => {
  it('the wasm build gives the native build’s probabilities within 1e-4', async () => {
    const native = await predictWith('native');
    const wasm = await predictWith('wasm');
    expect(native.backend).toBe('native');
    expect(wasm.backend).toBe('wasm');
    expect(wasm.y.length).toBe(N * 6);
    let d = 0;
    for (let i = 0; i < wasm.y.length; i++) d = Math.max(d, Math.abs(wasm.y[i]! - native.y[i]!));
    expect(d).toBeLessThan(1e-4);
    // The outputs are informative: not all equal, not all one half.
    const spread = Math.max(...native.y) - Math.min(...native.y);
    expect(spread).toBeGreaterThan(0.05);
  });

  it('auto picks the native build when it is installed', async () => {
    expect((await loadOrt('auto')).backend).toBe('native');
  });

  it('auto falls back to wasm when onnxruntime-node is missing, with the same predictions', async () => {
    const auto = await predictWith('auto', withoutNative);
    const wasm = await predictWith('wasm');
    expect(auto.backend).toBe('wasm');
    expect(Array.from(auto.y)).toEqual(Array.from(wasm.y));
  });

  it('native without onnxruntime-node is a ConfigError giving the install line', async () => {
    const err = await loadOrt('native', withoutNative).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('onnxruntime-node, which is not installed');
    expect((err as Error).message).toContain(NATIVE_INSTALL_LINE);
    expect(NATIVE_INSTALL_LINE).toBe('ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node');
    await expect(predictWith('native', withoutNative)).rejects.toThrow(ConfigError);
  });

  it('a build that fails to load for another reason is reported with its message', async () => {
    const broken: ModuleImporter = (s) =>
      s === 'onnxruntime-node' ? Promise.reject(new Error('GLIBC_2.38 not found')) : import(s);
    await expect(loadOrt('native', broken)).rejects.toThrow(
      'cannot load onnxruntime-node (ONNX Runtime native): GLIBC_2.38 not found',
    );
  });

  it('accepts auto, native and wasm in any case and names a wrong value', () => {
    expect(parseOnnxBackend(undefined)).toBe('auto');
    expect(parseOnnxBackend('WASM')).toBe('wasm');
    expect(() => parseOnnxBackend('cuda')).toThrow(
      '--onnx-backend must be one of auto, native, wasm, received "cuda"',
    );
  });
});
