/**
 * Copies tensors' values out of tfjs-backend-wasm's heap in one pass and without allocating: the
 * training workers write their gradient sums out every step (`dataSync` and a copy cost two
 * passes and an allocation per tensor). Only on the wasm backend; elsewhere the caller keeps
 * tfjs' own way (false).
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasmBackend, ptr } from './simd.js';

function heapOf(): { heap: Float32Array; be: ReturnType<typeof asWasmBackend> } | null {
  if (tf.getBackend() !== 'wasm') return null;
  const be = asWasmBackend(tf.backend());
  return { heap: new Float32Array(be.wasm.asm.memory.buffer), be };
}

/** Copies each tensor's values into `out`, consecutively; false when not on wasm. */
export function readTensors(tensors: readonly tf.Tensor[], out: Float32Array): boolean {
  const h = heapOf();
  if (!h) return false;
  let off = 0;
  for (const t of tensors) {
    const at = ptr(h.be, t, 'tensor') >>> 2;
    out.set(h.heap.subarray(at, at + t.size), off);
    off += t.size;
  }
  return true;
}
