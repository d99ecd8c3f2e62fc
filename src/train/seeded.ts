/**
 * Determinism helpers for tfjs. tfjs' random ops (weight initialisers, dropout) take their seed
 * from `Math.random()` when none is given, and tfjs-layers gives none; running them with
 * `Math.random` temporarily fed by a seeded `Rng` makes a run a function of `--seed` alone.
 */
import type { Rng } from '../util/rng.js';

/** Runs `fn` with `Math.random` drawing from `rng`; restores it afterwards (also on throw). */
export function withSeededRandom<T>(rng: Rng, fn: () => T): T {
  const original = Math.random;
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/** Batch-norm moving statistics: non-trainable weights that training updates. */
export function isMovingStat(name: string): boolean {
  return /moving_(mean|variance)(_\d+)?$/.test(name);
}
