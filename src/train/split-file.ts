/**
 * Reading the split file `ichdet split` writes (`image_id,split,repeat`) and turning it into
 * cache positions for training (each example `repeat` times) and validation (each once).
 */
import { readFileSync } from 'node:fs';
import type { Cache } from '../data/cache.js';
import type { SplitRow } from '../data/split.js';
import { ConfigError, InputError } from '../errors.js';

const SPLIT_NAME = /^[A-Za-z0-9_-]+$/;
const IMAGE_ID = /^ID_[0-9A-Za-z]+$/;

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
  } catch {
    throw new InputError(`cannot read split file ${path}`);
  }
  const lines = text.split(/\r?\n/);
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
      throw new InputError(`${at}: image_id must look like ID_<hex>, received "${imageId}"`);
    }
    if (!SPLIT_NAME.test(split)) {
      throw new InputError(
        `${at}: split must be a name of letters, digits, _ or -, received "${split}"`,
      );
    }
    const repeat = Number(repeatText);
    if (repeatText === '' || !Number.isInteger(repeat) || repeat < 0) {
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
 * @throws InputError when a listed image is not in the cache; ConfigError when a named split
 *   has no images.
 */
export function resolveSplit(
  cache: Cache,
  rows: readonly SplitRow[],
  opts: { train: readonly string[]; val: string },
): ResolvedSplit {
  const position = new Map<string, number>();
  for (const [i, r] of cache.rows().entries()) position.set(r.imageId, i);
  const missing = rows.filter((r) => !position.has(r.imageId));
  if (missing.length > 0) {
    throw new InputError(
      `${missing.length} image(s) of the split file are not in cache ${cache.dir}, first ${missing[0]!.imageId}; was the split made from another cache?`,
    );
  }
  const train: number[] = [];
  const val: number[] = [];
  const trainSet = new Set(opts.train);
  for (const r of rows) {
    const p = position.get(r.imageId)!;
    if (trainSet.has(r.split)) for (let k = 0; k < r.repeat; k++) train.push(p);
    else if (r.split === opts.val) val.push(p);
  }
  const names = [...new Set(rows.map((r) => r.split))].sort();
  if (opts.train.length > 0 && train.length === 0) {
    throw new ConfigError(
      `training split(s) ${opts.train.join(', ')} have no examples; the split file has ${names.join(', ')}`,
    );
  }
  if (val.length === 0) {
    throw new ConfigError(
      `validation split "${opts.val}" has no images; the split file has ${names.join(', ')}`,
    );
  }
  return { train: Int32Array.from(train), val: Int32Array.from(val) };
}
