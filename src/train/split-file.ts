/**
 * Reading the split file `ichdet split` writes (`image_id,split,repeat`) and turning it into
 * cache positions for training (each example `repeat` times) and validation (each once).
 */
import { readFileSync } from 'node:fs';
import type { Cache } from '../data/cache.js';
import type { SplitRow } from '../data/split.js';
import { ConfigError, InputError } from '../errors.js';

const SPLIT_NAME = /^[A-Za-z0-9_-]+$/;
/**
 * An image id is the slice's SOPInstanceUID as the cache stores it: `ID_<hex>` in the RSNA data,
 * a dotted UID elsewhere. So only what cannot be one is refused: empty, spaces, quotes.
 */
const IMAGE_ID = /^[^\s"']+$/;

/**
 * Parses a split file.
 *
 * @throws InputError naming the file, the line and the value for a bad header, image id, split
 *   name or repeat, or an image listed twice.
 */
export function readSplitCsv(path: string): SplitRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InputError(`cannot read split file ${path}: ${why}`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').trim();
  if (header !== 'image_id,split,repeat') {
    throw new InputError(`${path}:1: header must be "image_id,split,repeat", received "${header}"`);
  }
  const rows: SplitRow[] = [];
  const seen = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const at = `${path}:${i + 1}`;
    const cells = line.split(',');
    if (cells.length !== 3) {
      throw new InputError(`${at}: expected 3 fields (image_id,split,repeat), received "${line}"`);
    }
    const [imageId, split, repeatText] = cells as [string, string, string];
    if (!IMAGE_ID.test(imageId)) {
      throw new InputError(
        `${at}: image_id must be a non-empty id without spaces or quotes, received "${imageId}"`,
      );
    }
    if (!SPLIT_NAME.test(split)) {
      throw new InputError(
        `${at}: split must be a name of letters, digits, _ or -, received "${split}"`,
      );
    }
    const repeat = Number(repeatText);
    if (!/^[0-9]+$/.test(repeatText) || !Number.isSafeInteger(repeat)) {
      throw new InputError(`${at}: repeat must be an integer ≥ 0, received "${repeatText}"`);
    }
    const before = seen.get(imageId);
    if (before !== undefined) {
      throw new InputError(`${at}: image ${imageId} is listed twice (first on line ${before})`);
    }
    seen.set(imageId, i + 1);
    rows.push({ imageId, split, repeat });
  }
  return rows;
}

export interface ResolvedSplit {
  /** Cache positions of the training examples, each repeated `repeat` times, in file order. */
  train: Int32Array;
  /** Cache positions of the validation images, each once, in file order. */
  val: Int32Array;
}

/**
 * Cache positions of the named splits.
 *
 * @throws InputError when an image of a used split is not in the cache (naming the first and the
 *   count);
 *   ConfigError when a named split has no examples (no rows, or a training split whose repeats
 *   are all 0) or the validation split is also a training split.
 */
export function resolveSplit(
  cache: Cache,
  rows: readonly SplitRow[],
  opts: { train: readonly string[]; val: string },
): ResolvedSplit {
  if (opts.train.includes(opts.val)) {
    throw new ConfigError(`validation split "${opts.val}" is also a training split`);
  }
  const position = new Map<string, number>();
  for (const [i, r] of cache.rows().entries()) position.set(r.imageId, i);
  // Only the splits used must be cached (`prepare --split … --splits train,val` leaves out test).
  const used = new Set([...opts.train, opts.val]);
  const missing = rows.filter((r) => used.has(r.split) && !position.has(r.imageId));
  if (missing.length > 0) {
    throw new InputError(
      `split image ${missing[0]!.imageId} is not in cache ${cache.dir} (${missing.length} of ${rows.length} split images are missing); was the split made from another cache?`,
    );
  }
  const train: number[] = [];
  const val: number[] = [];
  const trainSet = new Set(opts.train);
  /** Examples per named split: images for validation, images × repeat for training. */
  const examples = new Map<string, number>([...opts.train, opts.val].map((n) => [n, 0]));
  for (const r of rows) {
    const p = position.get(r.imageId)!;
    if (trainSet.has(r.split)) {
      for (let k = 0; k < r.repeat; k++) train.push(p);
      examples.set(r.split, examples.get(r.split)! + r.repeat);
    } else if (r.split === opts.val) {
      val.push(p);
      examples.set(r.split, examples.get(r.split)! + 1);
    }
  }
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.split, (counts.get(r.split) ?? 0) + 1);
  const names = [...counts.keys()].sort();
  const have = names.map((n) => `${n} (${counts.get(n)})`).join(', ') || 'no rows';
  for (const [name, n] of examples) {
    if (n > 0) continue;
    const role = name === opts.val ? 'validation' : 'training';
    const why = counts.has(name) ? 'every repeat is 0' : 'no rows';
    throw new ConfigError(
      `${role} split "${name}" has no examples (${why}); the split file has ${have}`,
    );
  }
  return { train: Int32Array.from(train), val: Int32Array.from(val) };
}
