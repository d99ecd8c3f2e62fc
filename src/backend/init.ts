/**
 * Choosing the tfjs backend a training or inference thread runs on:
 * - `node`: `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (native TensorFlow, CUDA or
 *   CPU) when the user has installed one — an optional dependency ichdet does not install (its
 *   install downloads libtensorflow, which fails offline);
 * - `native`: the wasm backend with ichdet's native accelerator (native.ts: OpenBLAS
 *   convolutions in the wasm heap), which must have been built at install;
 * - `wasm`: tfjs-backend-wasm (XNNPACK, SIMD) with ichdet's training kernels registered;
 * - `cpu`: the pure-JS backend (slow; tests and debugging);
 * - `auto`: node when importable, else native when the accelerator loads, else wasm.
 * Each worker thread has its own tfjs instance and calls this once.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers gradients when imported; the wasm kernels are registered after it.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { ConfigError } from '../errors.js';
import type { BackendChoice } from './choices.js';
import { registerTrainingGradients, registerWasmTrainingKernels } from './kernels.js';
import { enableNative, nativeAddon, nativeUnavailable } from './native.js';

export { BACKEND_HELP, BACKENDS, type BackendChoice } from './choices.js';

export interface BackendInfo {
  /** The tfjs backend; `native` runs on 'wasm'. */
  name: 'wasm' | 'node' | 'cpu';
  detail: string;
  /** 'openblas' when the native accelerator takes the convolutions. */
  accelerator?: 'openblas';
}

export interface BackendOptions {
  /**
   * OpenBLAS threads for the native accelerator (one count per process). Default 1: ichdet
   * spreads work over cores with worker threads, and OpenBLAS' threads spin while they wait,
   * which costs dearly when the cores are already busy (bench/train.ts also measures one
   * training worker on every core).
   */
  threads?: number;
}

const NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Imports tfjs-node(-gpu) if installed; the name of the one found, or null. */
async function importNode(): Promise<string | null> {
  for (const pkg of NODE_PACKAGES) {
    try {
      // A variable specifier: the package is optional and has no types here.
      const spec: string = pkg;
      await import(spec);
      return pkg;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  return null;
}

/**
 * Sets up and selects the backend; resolves with what was chosen. Every choice gets the
 * training fixes (the BatchNormalization `scale: false` fix, the corrected AvgPool gradient:
 * kernels.ts `registerTrainingGradients`); wasm also gets ichdet's training kernels, registered
 * once the backend is ready.
 */
export async function initBackend(
  choice: BackendChoice = 'auto',
  options: BackendOptions = {},
): Promise<BackendInfo> {
  registerTrainingGradients();
  if (choice === 'native' && nativeAddon() === null) {
    throw new ConfigError(
      `--backend native: the native accelerator ${nativeUnavailable()}; use --backend wasm`,
    );
  }
  if (choice === 'node' || choice === 'auto') {
    const pkg = await importNode();
    if (pkg !== null) {
      await tf.setBackend('tensorflow');
      await tf.ready();
      return { name: 'node', detail: pkg };
    }
    if (choice === 'node') {
      throw new ConfigError(
        '--backend node needs @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA), ' +
          'which are not installed: npm install @tensorflow/tfjs-node@4.22.0',
      );
    }
  }
  if (choice === 'cpu') {
    enableNative(false);
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', detail: 'pure JavaScript' };
  }
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) {
    throw new ConfigError('the wasm backend failed to start');
  }
  await tf.ready();
  registerWasmTrainingKernels();
  if (choice === 'native' || (choice === 'auto' && nativeAddon() !== null)) {
    const threads = options.threads ?? 1;
    const blas = enableNative(true, threads);
    return {
      name: 'wasm',
      accelerator: 'openblas',
      detail:
        `native convolutions (${blas}, ${threads} thread${threads === 1 ? '' : 's'}), ` +
        'XNNPACK SIMD and ichdet training kernels for the rest',
    };
  }
  enableNative(false);
  return { name: 'wasm', detail: 'XNNPACK SIMD, single-threaded, ichdet training kernels' };
}
