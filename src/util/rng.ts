/**
 * Seeded pseudo-random numbers. Every random choice in ichdet comes from an `Rng` built here and
 * passed in explicitly, never from `Math.random()`, so a seed reproduces a run bit for bit.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, 128-bit state, passes
 * PractRand), seeded through splitmix32 so that neighbouring seeds give unrelated streams.
 */

/** One splitmix32 step: a bijective 32-bit mixer (Steele, Lea & Flood 2014, 32-bit variant). */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Hashes a list of integers (each taken modulo 2^32) into one 32-bit value. */
export function hashInts(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    h = mix32((h ^ (v >>> 0)) >>> 0);
    // The upper bits of numbers beyond 2^32 (seeds may be up to 2^53) are folded in as well.
    const hi = Math.floor(v / 4294967296) >>> 0;
    if (hi !== 0) h = mix32((h ^ hi) >>> 0);
  }
  return h;
}

const NORMAL_TABLE_BITS = 16;
let normalTable: Float32Array | undefined;

/**
 * 65,536 standard normal deviates, the same on every run (built from a fixed-seed generator with
 * the Box-Muller transform). Indexed by random bits it gives fast image noise.
 */
export function normalTable16(): Float32Array {
  if (normalTable) return normalTable;
  const n = 1 << NORMAL_TABLE_BITS;
  const table = new Float32Array(n);
  const rng = new Rng(0x5eed);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng.next();
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    table[i] = r * Math.cos(2 * Math.PI * u2);
    table[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  normalTable = table;
  return table;
}

/** A seeded sfc32 generator with the helpers the synthetic-data code needs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Seeds from one or more integers: `new Rng(seed, patientIndex)`. */
  constructor(...seed: number[]) {
    const h = hashInts(...seed);
    this.a = mix32(h);
    this.b = mix32(this.a ^ 0x6a09e667);
    this.c = mix32(this.b ^ 0xbb67ae85);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Next raw 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Normal deviate with the given mean and standard deviation (Box-Muller). */
  normal(mean = 0, sd = 1): number {
    const u1 = 1 - this.next();
    const u2 = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick() needs a non-empty array');
    return item;
  }

  /** An index chosen with probability proportional to its weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] ?? 0;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** A child generator whose stream depends on this one's seed and `label` only. */
  fork(label: number): Rng {
    return new Rng(this.u32(), label);
  }
}
