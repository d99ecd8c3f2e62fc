/**
 * Optimisers over one flat float32 vector of trainable weights, once per step (the training
 * workers each update a range of it, `updateRange`). The update rules are Keras 3's, so a run matches
 * Keras' defaults; the whole state is plain arrays and a step counter, so a checkpoint restores
 * it bit for bit (tfjs' own Adam recomputes β^t with `pow` on restore, which differs from the
 * running product in the last bits).
 *
 * - adam (Keras `Adam`, ε = 1e-7): t = step + 1, α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ),
 *   m += (g − m)(1 − β₁), v += (g² − v)(1 − β₂), w −= α·m/(√v + ε); β₁ = 0.9, β₂ = 0.999.
 * - sgd (Keras `SGD` with momentum 0.9): u = 0.9·u − lr·g, w += u.
 * - rmsprop (Keras `RMSprop`, ρ = 0.9, ε = 1e-7, no momentum): v = ρv + (1 − ρ)g²,
 *   w −= lr·g/(√v + ε).
 */
import { nativeAdam } from '../backend/native.js';
import type { OptimizerName } from './config.js';

export interface OptimizerState {
  name: OptimizerName;
  lr: number;
  /** Steps taken. */
  step: number;
  /** Slot vectors (adam: m, v; sgd: u; rmsprop: v), each as long as the weights. */
  slots: Float32Array[];
}

const SLOTS: Record<OptimizerName, number> = { adam: 2, sgd: 1, rmsprop: 1 };

export function createOptimizer(name: OptimizerName, lr: number, size: number): OptimizerState {
  return {
    name,
    lr,
    step: 0,
    slots: Array.from({ length: SLOTS[name] }, () => new Float32Array(size)),
  };
}

/** One update of `w` in place with gradient `g`. */
export function applyUpdate(o: OptimizerState, w: Float32Array, g: Float32Array): void {
  updateRange(o, w, [g], 0, w.length);
  o.step++;
}

/** Σ grads[·][k] in the given order, each partial sum rounded to float32. */
function gradAt(grads: readonly Float32Array[], k: number): number {
  let s = grads[0]![k]!;
  for (let j = 1; j < grads.length; j++) s = Math.fround(s + grads[j]![k]!);
  return s;
}

/**
 * The update of `w[lo, hi)` in place, with the gradient the sum of `grads` (added in order and
 * rounded to float32 as a Float32Array holding the sum would be, so any split of the vector
 * gives the bits of one whole update), at step `o.step` (not advanced: the caller counts the
 * step once when every range is done). The training workers each run one range of a step.
 */
export function updateRange(
  o: Pick<OptimizerState, 'name' | 'lr' | 'step' | 'slots'>,
  w: Float32Array,
  grads: readonly Float32Array[],
  lo: number,
  hi: number,
): void {
  const lr = o.lr;
  if (o.name === 'adam') {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-7;
    const t = o.step + 1;
    const alpha = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    const m = o.slots[0]!;
    const v = o.slots[1]!;
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    if (nativeAdam([w, m, v, grads], lo, hi, { alpha, c1, c2, eps })) return;
    // Two workers (the usual case) get the sum without the general loop. The stored m and v
    // are the float32 roundings of mi and vi, which the step then reads back.
    const g0 = grads[0]!;
    const g1 = grads.length === 2 ? grads[1]! : null;
    const general = grads.length > 2;
    for (let i = lo; i < hi; i++) {
      const gi = general ? gradAt(grads, i) : g1 === null ? g0[i]! : Math.fround(g0[i]! + g1[i]!);
      const m0 = m[i]!;
      const v0 = v[i]!;
      const mi = Math.fround(m0 + (gi - m0) * c1);
      const vi = Math.fround(v0 + (gi * gi - v0) * c2);
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i]! - (mi * alpha) / (Math.sqrt(vi) + eps);
    }
  } else if (o.name === 'sgd') {
    const u = o.slots[0]!;
    for (let i = lo; i < hi; i++) {
      u[i] = 0.9 * u[i]! - lr * gradAt(grads, i);
      w[i] = w[i]! + u[i]!;
    }
  } else {
    const rho = 0.9;
    const eps = 1e-7;
    const v = o.slots[0]!;
    for (let i = lo; i < hi; i++) {
      const gi = gradAt(grads, i);
      v[i] = rho * v[i]! + (1 - rho) * gi * gi;
      w[i] = w[i]! - (lr * gi) / (Math.sqrt(v[i]!) + eps);
    }
  }
}

/** The state as JSON header + one binary blob (slots concatenated). */
export function serializeOptimizer(o: OptimizerState): { json: string; data: Uint8Array } {
  const size = o.slots[0]?.length ?? 0;
  const data = new Uint8Array(o.slots.length * size * 4);
  o.slots.forEach((s, i) => {
    data.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), i * size * 4);
  });
  return {
    json: `${JSON.stringify({ name: o.name, lr: o.lr, step: o.step, slots: o.slots.length, size })}\n`,
    data,
  };
}

export function deserializeOptimizer(json: string, data: Uint8Array, file: string): OptimizerState {
  const h = JSON.parse(json) as {
    name: OptimizerName;
    lr: number;
    step: number;
    slots: number;
    size: number;
  };
  if (data.byteLength !== h.slots * h.size * 4) {
    throw new Error(
      `${file}: optimiser state has ${data.byteLength} bytes, expected ${h.slots * h.size * 4}`,
    );
  }
  const copy = new Float32Array(h.slots * h.size);
  new Uint8Array(copy.buffer).set(data);
  const slots = Array.from({ length: h.slots }, (_, i) => copy.slice(i * h.size, (i + 1) * h.size));
  return { name: h.name, lr: h.lr, step: h.step, slots };
}
