/**
 * The tiny synthetic dataset most end-to-end tests start from: `synth` into DIR/synth, then
 * `prepare` into DIR/cache. Balanced prevalence and 64² slices unless told otherwise.
 */
import { join } from 'node:path';
import { prepare } from '../src/commands/prepare.js';
import { synth } from '../src/commands/synth.js';
import type { SynthOptionsInput } from '../src/synth/options.js';

export interface TinyData {
  /** The synth output (stage_2_train/, stage_2_train.csv, masks/). */
  data: string;
  /** The prepared cache. */
  cache: string;
}

export async function tinyCache(
  dir: string,
  o: {
    synth: Omit<SynthOptionsInput, 'out'>;
    /** Cache image side (default 32). */
    size?: number;
    workers?: number;
  },
): Promise<TinyData> {
  const data = join(dir, 'synth');
  const workers = o.workers ?? 1;
  await synth({
    size: 64,
    prevalence: 'balanced',
    workers,
    progress: false,
    ...o.synth,
    out: data,
  });
  const cache = join(dir, 'cache');
  await prepare({
    images: join(data, 'stage_2_train'),
    labels: join(data, 'stage_2_train.csv'),
    out: cache,
    size: o.size ?? 32,
    workers,
    progress: false,
  });
  return { data, cache };
}
