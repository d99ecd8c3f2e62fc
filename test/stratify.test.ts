import { describe, expect, it } from 'vitest';
import { foldProportions, type StratUnit, stratifiedFolds } from '../src/data/stratify.js';
import { ConfigError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';

/** A "generator" that always returns the same number: 0 picks the first tied candidate. */
const fixed = (x: number) => ({ next: () => x });
const image = (...counts: number[]): StratUnit => ({ size: 1, counts });
const exact = { shuffle: false, refine: false };

describe('stratifiedFolds (Algorithm 1 of Sechidis et al. 2011)', () => {
  // Labels A and B; A has 2 positives (u1, u3), B has 4 (u0, u1, u2, u4); u5 has none.
  // Desired per fold: 3 images, 1 A, 2 B. By hand, ties to the first fold:
  //   A (fewest): u1 ties on A (1, 1) and on size (3, 3) → fold 0; u3: A wants (0, 1) → fold 1.
  //   B: u0: B wants (1, 2) → fold 1; u2: B (1, 1), size (2, 1) → fold 0; u4: B (0, 1) → fold 1.
  //   u5 (no label): size wants (1, 0) → fold 0.
  const units = [image(0, 1), image(1, 1), image(0, 1), image(1, 0), image(0, 1), image(0, 0)];

  it('reproduces the hand-worked assignment when ties go to the first candidate', () => {
    expect(stratifiedFolds(units, 2, fixed(0), exact)).toEqual([1, 0, 0, 1, 1, 0]);
  });

  it('reproduces the mirrored hand-worked assignment when ties go to the last candidate', () => {
    // A: u1 ties → fold 1; u3: A wants (1, 0) → fold 0.
    // B: u0: B wants (2, 1) → fold 0; u2: B (1, 1), size (1, 2) → fold 1; u4: B (1, 0) → fold 0.
    // u5: size wants (0, 1) → fold 1.
    expect(stratifiedFolds(units, 2, fixed(0.99), exact)).toEqual([0, 1, 1, 0, 0, 1]);
  });

  it('gives each fold exactly its share of every label in the hand-worked example', () => {
    const folds = stratifiedFolds(units, 2, fixed(0), exact);
    for (const f of [0, 1]) {
      const mine = units.filter((_, i) => folds[i] === f);
      expect(mine.length).toBe(3);
      expect(mine.reduce((s, u) => s + u.counts[0]!, 0)).toBe(1);
      expect(mine.reduce((s, u) => s + u.counts[1]!, 0)).toBe(2);
    }
  });

  it('takes a label’s groups largest first, so small groups fill the gaps', () => {
    // Groups of 1, 2 and 3 images, all positive; each fold wants 3. In input order the first
    // group would go to fold 0 and the 3-image group after it, giving 4 : 2. Largest first:
    // 3 → fold 0 (tie), then 2 → fold 1, then 1 → fold 1: exactly 3 : 3.
    const groups = [
      { size: 1, counts: [1] },
      { size: 2, counts: [2] },
      { size: 3, counts: [3] },
    ];
    expect(stratifiedFolds(groups, 2, fixed(0), exact)).toEqual([1, 1, 0]);
  });

  it('spreads units with no positive label by size over the folds that want most images', () => {
    const negatives = [1, 4, 2, 3].map((size) => ({ size, counts: [0] }));
    // Wants (5, 5): 4 → 0 (tie), 3 → 1, 2 → 1, 1 → 0.
    expect(stratifiedFolds(negatives, 2, fixed(0), exact)).toEqual([0, 0, 1, 1]);
  });

  it('honours unequal proportions in images', () => {
    const rng = new Rng(3);
    const units = Array.from({ length: 1000 }, () =>
      image(rng.chance(0.1) ? 1 : 0, rng.chance(0.3) ? 1 : 0),
    );
    const folds = stratifiedFolds(units, [0.9, 0.1], new Rng(1));
    const small = units.filter((_, i) => folds[i] === 1);
    expect(small.length).toBe(100);
    for (const l of [0, 1]) {
      const total = units.reduce((s, u) => s + u.counts[l]!, 0);
      const inSmall = small.reduce((s, u) => s + u.counts[l]!, 0);
      expect(Math.abs(inSmall - total / 10)).toBeLessThanOrEqual(1);
    }
  });

  it('is deterministic per seed and changes with the seed', () => {
    const rng = new Rng(5);
    const units = Array.from({ length: 300 }, () => ({
      size: rng.int(1, 30),
      counts: [rng.int(0, 3), rng.int(0, 5)],
    }));
    const a = stratifiedFolds(units, 5, new Rng(1));
    expect(stratifiedFolds(units, 5, new Rng(1))).toEqual(a);
    expect(stratifiedFolds(units, 5, new Rng(2))).not.toEqual(a);
  });

  it('refinement lowers the error of grouped folds', () => {
    const rng = new Rng(9);
    const units = Array.from({ length: 200 }, () => {
      const size = rng.int(20, 40);
      const a = rng.chance(0.3) ? rng.int(3, 12) : 0;
      const b = rng.chance(0.3) ? rng.int(3, 12) : 0;
      return { size, counts: [a, b, a || b ? Math.max(a, b) + rng.int(0, 3) : 0] };
    });
    const error = (folds: number[]): number => {
      let worst = 0;
      for (let l = 0; l < 3; l++) {
        const total = units.reduce((s, u) => s + u.counts[l]!, 0);
        for (const f of [0, 1]) {
          const got = units.reduce((s, u, i) => s + (folds[i] === f ? u.counts[l]! : 0), 0);
          const want = total * (f === 0 ? 0.8 : 0.2);
          worst = Math.max(worst, Math.abs(got - want) / want);
        }
      }
      return worst;
    };
    const plain = error(stratifiedFolds(units, [0.8, 0.2], new Rng(1), { refine: false }));
    const refined = error(stratifiedFolds(units, [0.8, 0.2], new Rng(1)));
    expect(refined).toBeLessThan(plain);
    expect(refined).toBeLessThan(0.05);
  });

  it('rejects bad folds and proportions with ConfigError', () => {
    expect(() => foldProportions(1)).toThrow(
      new ConfigError('number of folds must be an integer ≥ 2, received 1'),
    );
    expect(() => foldProportions([0.5, -0.5])).toThrow(
      new ConfigError('every proportion must be > 0, received [0.5, -0.5]'),
    );
    expect(foldProportions([1, 3])).toEqual([0.25, 0.75]);
  });
});
