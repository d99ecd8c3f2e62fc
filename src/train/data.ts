/**
 * The seeded order and augmentation of training examples: everything random in an epoch is a
 * function of (seed, epoch, position), so a resumed run sees exactly the batches it would have.
 * The model input itself is built in data/input.ts.
 */
import { Rng } from '../util/rng.js';
import { type AugmentDraw, type AugmentOptions, drawAugment } from './augment.js';

/**
 * The augmentation of the example at `position` (its index in the epoch order) of epoch `epoch`:
 * an `Rng` seeded by hashInts(seed, epoch, position), so it does not depend on how batches are
 * cut or shared between workers. `size` is the cache image side (crops are in cache pixels).
 */
export function exampleDraw(
  o: AugmentOptions,
  seed: number,
  epoch: number,
  position: number,
  size: number,
): AugmentDraw {
  return drawAugment(o, new Rng(seed, epoch, position), size);
}

/**
 * A seeded Fisher–Yates shuffle of the training positions for one epoch (an `Rng` seeded by
 * hashInts(seed, epoch)); `train` is unchanged.
 */
export function epochOrder(train: Int32Array, seed: number, epoch: number): Int32Array {
  const order = train.slice();
  const rng = new Rng(seed, epoch);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
