/**
 * On-the-fly augmentation of the reference study: horizontal flip, vertical flip and a random
 * square crop (resized back to the input size), each with its probability. Configured once from
 * a spec string; each example's draw comes from an explicit seeded `Rng`.
 */
import type { AugmentDraw } from '../data/input.js';
import { ConfigError } from '../errors.js';
import type { Rng } from '../util/rng.js';

export interface AugmentOptions {
  hflip: number;
  vflip: number;
  crop: number;
  /** Side of the square crop as a fraction of the image side, drawn uniformly in [lo, hi]. */
  cropScale: [number, number];
}

export type { AugmentDraw } from '../data/input.js';

export const NO_AUGMENT: AugmentOptions = { hflip: 0, vflip: 0, crop: 0, cropScale: [0.8, 1] };

function probability(key: string, text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !(v >= 0 && v <= 1)) {
    throw new ConfigError(`augment ${key} must be a probability in [0, 1], received "${text}"`);
  }
  return v;
}

/**
 * Parses `hflip=0.25,vflip=0.10,crop=0.25[,crop_scale=0.8:1.0]`; `none` switches everything
 * off; keys left out are 0.
 *
 * @throws ConfigError naming an unknown key or a value out of range.
 */
export function parseAugment(spec: string): AugmentOptions {
  const o: AugmentOptions = { ...NO_AUGMENT, cropScale: [...NO_AUGMENT.cropScale] };
  const s = spec.trim();
  if (s === 'none' || s === '') return o;
  const seen = new Set<string>();
  for (const part of s.split(',')) {
    const [key = '', value, ...rest] = part.split('=').map((t) => t.trim());
    if (value === undefined || rest.length > 0) {
      throw new ConfigError(`augment entries are key=value, received "${part}"`);
    }
    if (seen.has(key)) throw new ConfigError(`augment ${key} is given twice in "${spec}"`);
    seen.add(key);
    if (key === 'hflip' || key === 'vflip' || key === 'crop') o[key] = probability(key, value);
    else if (key === 'crop_scale') {
      const parts = value.split(':');
      const [lo, hi] = parts.map((t) => (t.trim() === '' ? Number.NaN : Number(t)));
      if (
        parts.length !== 2 ||
        lo === undefined ||
        hi === undefined ||
        !(lo > 0 && lo <= hi && hi <= 1)
      ) {
        throw new ConfigError(
          `augment crop_scale must be lo:hi with 0 < lo ≤ hi ≤ 1, received "${value}"`,
        );
      }
      o.cropScale = [lo, hi];
    } else {
      throw new ConfigError(
        `unknown augment "${key}", expected hflip, vflip, crop or crop_scale (or none)`,
      );
    }
  }
  return o;
}

/** The spec string of `o`, which `parseAugment` reads back to the same options. */
export function formatAugment(o: AugmentOptions): string {
  if (o.hflip === 0 && o.vflip === 0 && o.crop === 0) return 'none';
  return `hflip=${o.hflip},vflip=${o.vflip},crop=${o.crop},crop_scale=${o.cropScale[0]}:${o.cropScale[1]}`;
}

/**
 * One example's augmentation for an image of `size`² pixels. Always draws the same count of
 * numbers from `rng` (6), so draws stay aligned whatever the probabilities.
 */
export function drawAugment(o: AugmentOptions, rng: Rng, size: number): AugmentDraw {
  const u = [rng.next(), rng.next(), rng.next(), rng.next(), rng.next(), rng.next()] as const;
  let crop: AugmentDraw['crop'] = null;
  if (u[2] < o.crop) {
    const [lo, hi] = o.cropScale;
    const side = Math.max(1, Math.min(size, Math.round(size * (lo + (hi - lo) * u[3]))));
    const free = size - side;
    crop = { y: Math.floor(u[4] * (free + 1)), x: Math.floor(u[5] * (free + 1)), side };
  }
  return { hflip: u[0] < o.hflip, vflip: u[1] < o.vflip, crop };
}
