/**
 * Copies tensors' values out of, and weights into, tfjs-backend-wasm's heap in one pass and
 * without allocating: the training workers write their gradient sums out and load the new
 * weights in every step (`dataSync` and a copy, or a new tensor and `assign`, cost two passes and
 * an allocation per tensor). Only on the wasm backend; elsewhere the caller keeps tfjs' own way
 * (false).
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

/**
 * Storage that ichdet's native convolutions read as filter or bias, and storage a shipped
 * (XNNPACK) kernel may have packed. XNNPACK keeps an operator per filter with the weights packed
 * in it, keyed by the tensor, so a weight written in place there would be used stale; the
 * native kernels read the heap on every call.
 */
const readByNative = new WeakSet<object>();
const packedByXnn = new WeakSet<object>();

/** Marks `dataId` as read by a native convolution (filter or bias). */
export function markNativeWeight(dataId: object): void {
  readByNative.add(dataId);
}

/** Marks `dataId` as given to a shipped kernel that may pack it (XNNPACK convolution). */
export function markPackedWeight(dataId: object): void {
  packedByXnn.add(dataId);
}

/**
 * Writes `values` into variable `v`'s storage in the wasm heap when that is safe: only native
 * convolutions have read the storage as a weight (never a shipped kernel that caches a packed
 * copy), and `v` alone holds it (the backend's reference count is 1: no other tensor shares it,
 * as a variable's initial value or a copy-free Identity may). Otherwise, or off wasm, writes
 * nothing and returns false (the caller assigns a new tensor). For variables between steps.
 */
export function writeOwned(v: tf.Variable, values: Float32Array): boolean {
  if (!readByNative.has(v.dataId) || packedByXnn.has(v.dataId)) return false;
  const h = heapOf();
  if (!h || v.dtype !== 'float32' || values.length !== v.size) return false;
  const refs = (h.be as unknown as { refCount(dataId: object): number }).refCount(v.dataId);
  if (refs !== 1) return false;
  const at = ptr(h.be, v, 'variable') >>> 2;
  h.heap.set(values, at);
  return true;
}
