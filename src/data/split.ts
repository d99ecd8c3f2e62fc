/**
 * Curating a cache into splits (`ichdet split`): a subset draw, an optional held-out test split,
 * a train/validation split or k folds, all by grouped multi-label iterative stratification
 * (data/stratify.ts), then rebalancing of the training part only.
 *
 * Decisions, so that a split file means one thing:
 * - Groups: by patient by default (`study` or `none` = by image); a group never straddles two
 *   splits, nor the subset boundary.
 * - Subset: images outside the subset are not written, as in the reference study, which kept
 *   only its 10% draw. The split file lists every image of the subset, nothing else.
 * - Test: with `test`, the test split (a fraction of the subset, in images) is drawn first, by the
 *   same grouped stratification with a generator stream of its own; val or folds are then drawn
 *   from the rest, `val` still a fraction of the whole subset (so val + test < 1). The test split
 *   is therefore the same whatever `val` or `folds` is asked, for a given seed and subset.
 * - Repeat: how many times the image is used per training epoch. Validation and test images
 *   always have repeat 1. With `folds`, the repeat of an image is what it gets whenever its fold is part of
 *   the training set; rebalancing is done within each fold, so every union of folds has the
 *   asked ratio. A reader of the held-out fold takes each of its images once, repeat ignored.
 * - Upsample `label=N`: each training image positive for `label` is repeated N times; when
 *   several apply, the largest N.
 * - Negative ratio R: measured in training examples after upsampling, as the reference study
 *   measured its 1 : 4.8 and its wished-for 1 : 2. A training part with P positive examples
 *   (images with any label positive, repeats counted) keeps round(R × P) of its negative images
 *   (all of them when it has fewer), chosen by a seeded draw; the others get repeat 0 and are
 *   still listed, so the file covers the whole subset.
 * - Unlabelled images (labels -1) cannot be stratified; they are left out and counted.
 */
import { ConfigError, InputError } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import { Rng } from '../util/rng.js';
import { type StratUnit, stratifiedFolds } from './stratify.js';
import { type CacheIndexRow, LABEL_NAMES, type LabelName } from './types.js';

export type GroupBy = 'patient' | 'study' | 'none';
export const GROUP_BY: readonly GroupBy[] = ['patient', 'study', 'none'];
const GROUP_NOUN: Record<GroupBy, string> = {
  patient: 'patients',
  study: 'studies',
  none: 'images',
};

/** Options as a caller (or the CLI, with strings) gives them. */
export interface SplitOptionsInput {
  /** Fraction of the images to keep, in (0, 1]. Default 1. */
  subset?: number | string;
  /** Validation fraction, in (0, 1). Default 0.1 unless `folds` is given. */
  val?: number | string;
  /** Number of folds (≥ 2), instead of a validation split. */
  folds?: number | string;
  /** Held-out test fraction of the subset, in (0, 1), drawn before val or folds. Default none. */
  test?: number | string;
  /** Indivisible unit. Default `patient`. */
  group?: GroupBy | string;
  /** Seed of every random choice. Default 0. */
  seed?: number | string;
  /** Repeat factors per label: `{epidural: 8}`, or `epidural=8` strings as on the command line. */
  upsample?: Partial<Record<LabelName, number>> | string | readonly string[];
  /** Training negatives per training positive example. Default: no under-sampling. */
  negRatio?: number | string;
}

/** Validated options; saved in SPLIT.json so the split can be reproduced. */
export interface SplitOptions {
  subset: number;
  /** Validation fraction, or undefined with `folds`. */
  val: number | undefined;
  /** Number of folds, or undefined with `val`. */
  folds: number | undefined;
  /** Test fraction of the subset, or undefined: no test split. */
  test: number | undefined;
  group: GroupBy;
  seed: number;
  upsample: Partial<Record<LabelName, number>>;
  negRatio: number | undefined;
}

/** One line of the split file. */
export interface SplitRow {
  imageId: string;
  /** `train`/`val`, or `fold0` … `fold{k-1}`; and `test` when one is held out. */
  split: string;
  /** Uses per training epoch (0: under-sampled away). */
  repeat: number;
}

/** Label counts of one split, each image once (`before`) or with repeats (`after`). */
export interface SplitStats {
  split: string;
  /** Images (before) or training examples, repeats counted (after). */
  images: number;
  /** Groups (patients, studies or images) in the split. */
  groups: number;
  positives: Record<LabelName, number>;
  rates: Record<LabelName, number>;
}

export interface SplitTable {
  /** The whole subset, then each split; every image once. */
  before: SplitStats[];
  /** The training parts after rebalancing, repeats counted (train, or every fold). */
  after: SplitStats[];
}

export interface SplitPlan {
  options: SplitOptions;
  /** Every image of the subset, sorted by image id. */
  rows: SplitRow[];
  table: SplitTable;
  /** Labelled images in the cache. */
  images: number;
  /** Labelled images outside the subset (not written). */
  unused: number;
  /** Images without labels (left out). */
  unlabelled: number;
}

/** Streams of the seeded generator, one per random step. */
const STREAM = { subset: 1, split: 2, negatives: 3, test: 4 } as const;

/** The name of the held-out test split in a split file. */
export const TEST_SPLIT = 'test';

function parseNumber(name: string, value: number | string): number {
  const n = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) {
    throw new ConfigError(`${name} must be a number, received "${String(value)}"`);
  }
  return n;
}

/** Parses `label=N[,label=N…]` specs (or an object) into repeat factors. */
export function parseUpsample(
  spec: Partial<Record<LabelName, number>> | string | readonly string[] | undefined,
): Partial<Record<LabelName, number>> {
  const out: Partial<Record<LabelName, number>> = {};
  if (spec === undefined) return out;
  const check = (label: string, n: number, received: string): void => {
    if (!(LABEL_NAMES as readonly string[]).includes(label)) {
      throw new ConfigError(
        `--upsample expects label=N with label one of ${LABEL_NAMES.join(', ')}, received "${received}"`,
      );
    }
    if (!Number.isInteger(n) || n < 1) {
      throw new ConfigError(
        `--upsample expects label=N with N a positive integer, received "${received}"`,
      );
    }
    out[label as LabelName] = n;
  };
  if (typeof spec === 'string' || Array.isArray(spec)) {
    const parts = (typeof spec === 'string' ? [spec] : (spec as readonly string[]))
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const part of parts) {
      const m = /^([^=]+)=(.*)$/.exec(part);
      if (!m) {
        throw new ConfigError(
          `--upsample expects label=N with label one of ${LABEL_NAMES.join(', ')}, received "${part}"`,
        );
      }
      const value = m[2]!.trim();
      check(m[1]!.trim(), value === '' ? Number.NaN : Number(value), part);
    }
    return out;
  }
  for (const [label, n] of Object.entries(spec as Partial<Record<LabelName, number>>)) {
    if (n !== undefined) check(label, n, `${label}=${n}`);
  }
  return out;
}

/**
 * Validates split options before any work starts.
 *
 * @throws ConfigError naming the option and the value received.
 */
export function resolveSplitOptions(o: SplitOptionsInput): SplitOptions {
  const subset = o.subset === undefined ? 1 : parseNumber('--subset', o.subset);
  if (!(subset > 0 && subset <= 1)) {
    throw new ConfigError(`--subset must be in (0, 1], received ${subset}`);
  }
  if (o.val !== undefined && o.folds !== undefined) {
    throw new ConfigError('--val and --folds exclude each other');
  }
  let val: number | undefined;
  let folds: number | undefined;
  if (o.folds !== undefined) {
    folds = parseNumber('--folds', o.folds);
    if (!Number.isInteger(folds) || folds < 2) {
      throw new ConfigError(`--folds must be an integer ≥ 2, received ${folds}`);
    }
  } else {
    val = o.val === undefined ? 0.1 : parseNumber('--val', o.val);
    if (!(val > 0 && val < 1)) throw new ConfigError(`--val must be in (0, 1), received ${val}`);
  }
  let test: number | undefined;
  if (o.test !== undefined) {
    test = parseNumber('--test', o.test);
    if (!(test > 0 && test < 1)) {
      throw new ConfigError(`--test must be in (0, 1), received ${test}`);
    }
    if (val !== undefined && !(val + test < 1)) {
      throw new ConfigError(
        `--val plus --test must be < 1 to leave training images, received --val ${val} and --test ${test}`,
      );
    }
  }
  const group = o.group ?? 'patient';
  if (!(GROUP_BY as readonly string[]).includes(group)) {
    throw new ConfigError(`--group must be one of ${GROUP_BY.join(', ')}, received "${group}"`);
  }
  const seed = o.seed === undefined ? 0 : parseNumber('--seed', o.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ConfigError(`--seed must be a non-negative integer, received ${seed}`);
  }
  let negRatio: number | undefined;
  if (o.negRatio !== undefined) {
    negRatio = parseNumber('--neg-ratio', o.negRatio);
    if (!(negRatio > 0)) throw new ConfigError(`--neg-ratio must be > 0, received ${negRatio}`);
  }
  return {
    subset,
    val,
    folds,
    test,
    group: group as GroupBy,
    seed,
    upsample: parseUpsample(o.upsample),
    negRatio,
  };
}

function groupKey(row: CacheIndexRow, group: GroupBy): string {
  return group === 'patient'
    ? row.patientId
    : group === 'study'
      ? row.studyInstanceUid
      : row.imageId;
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPositive(row: CacheIndexRow): boolean {
  return row.labels.some((v) => v === 1);
}

interface Group {
  rows: CacheIndexRow[];
  unit: StratUnit;
}

/** Groups rows by key, sorted by key so the result does not depend on the input order. */
function buildGroups(rows: readonly CacheIndexRow[], by: GroupBy): Group[] {
  const map = new Map<string, CacheIndexRow[]>();
  for (const row of rows) {
    const key = groupKey(row, by);
    const list = map.get(key);
    if (list) list.push(row);
    else map.set(key, [row]);
  }
  return [...map.keys()].sort(byString).map((key) => {
    const members = map.get(key)!.sort((a, b) => byString(a.imageId, b.imageId));
    const counts = LABEL_NAMES.map(() => 0);
    for (const r of members) {
      r.labels.forEach((v, l) => {
        if (v === 1) counts[l]!++;
      });
    }
    return { rows: members, unit: { size: members.length, counts } };
  });
}

/**
 * Repeat counts of one training part: upsampling, then under-sampling of negatives (images with
 * no positive label) to `negRatio` × positive examples.
 */
export function rebalance(
  rows: readonly CacheIndexRow[],
  opts: Pick<SplitOptions, 'upsample' | 'negRatio'>,
  rng: Rng,
): Map<string, number> {
  const repeat = new Map<string, number>();
  const factors = LABEL_NAMES.map((l) => opts.upsample[l] ?? 1);
  let positives = 0;
  const negatives: string[] = [];
  for (const row of rows) {
    let n = 1;
    row.labels.forEach((v, l) => {
      if (v === 1) n = Math.max(n, factors[l]!);
    });
    repeat.set(row.imageId, n);
    if (isPositive(row)) positives += n;
    else negatives.push(row.imageId);
  }
  if (opts.negRatio !== undefined) {
    const keep = Math.min(negatives.length, Math.round(opts.negRatio * positives));
    negatives.sort(byString);
    // A partial Fisher-Yates shuffle: the first `keep` entries are a uniform seeded draw.
    for (let i = 0; i < keep; i++) {
      const j = i + Math.floor(rng.next() * (negatives.length - i));
      const t = negatives[i]!;
      negatives[i] = negatives[j]!;
      negatives[j] = t;
    }
    for (let i = keep; i < negatives.length; i++) repeat.set(negatives[i]!, 0);
  }
  return repeat;
}

function emptyCounts(): Record<LabelName, number> {
  return Object.fromEntries(LABEL_NAMES.map((l) => [l, 0])) as Record<LabelName, number>;
}

/** Label counts and rates of a set of rows, each counted `weight(row)` times. */
export function splitStats(
  split: string,
  rows: readonly CacheIndexRow[],
  groups: number,
  weight: (row: CacheIndexRow) => number = () => 1,
): SplitStats {
  const positives = emptyCounts();
  let images = 0;
  for (const row of rows) {
    const w = weight(row);
    images += w;
    row.labels.forEach((v, l) => {
      if (v === 1) positives[LABEL_NAMES[l]!] += w;
    });
  }
  const rates = emptyCounts();
  for (const l of LABEL_NAMES) rates[l] = images > 0 ? positives[l] / images : 0;
  return { split, images, groups, positives, rates };
}

/**
 * Plans a split of the cache's rows: subset draw, train/val or folds, rebalancing. Deterministic
 * for given rows (in any order) and options.
 *
 * @throws ConfigError for bad options; InputError for duplicate image ids or no labelled image.
 */
export function planSplit(rows: readonly CacheIndexRow[], input: SplitOptionsInput): SplitPlan {
  const o = resolveSplitOptions(input);
  const seen = new Set<string>();
  const labelled: CacheIndexRow[] = [];
  for (const row of rows) {
    if (seen.has(row.imageId)) throw new InputError(`duplicate image id ${row.imageId} in index`);
    seen.add(row.imageId);
    if (row.labels.every((v) => v === 0 || v === 1)) labelled.push(row);
  }
  if (labelled.length === 0) {
    throw new InputError(
      `split needs labelled images, received ${rows.length} images and none labelled (was the cache prepared without --labels?)`,
    );
  }
  let groups = buildGroups(labelled, o.group);

  if (o.subset < 1) {
    const drawn = stratifiedFolds(
      groups.map((g) => g.unit),
      [o.subset, 1 - o.subset],
      new Rng(o.seed, STREAM.subset),
    );
    groups = groups.filter((_, i) => drawn[i] === 0);
  }

  // The test split first (its own stream, so it does not depend on val or folds), then val or
  // folds from the rest; `val` is a fraction of the whole subset.
  let testGroups: Group[] = [];
  if (o.test !== undefined) {
    const drawn = stratifiedFolds(
      groups.map((g) => g.unit),
      [1 - o.test, o.test],
      new Rng(o.seed, STREAM.test),
    );
    testGroups = groups.filter((_, i) => drawn[i] === 1);
    groups = groups.filter((_, i) => drawn[i] === 0);
    if (testGroups.length === 0 || groups.length === 0) {
      throw new InputError(
        `--test ${o.test} of ${drawn.length} ${GROUP_NOUN[o.group]} leaves ${testGroups.length === 0 ? 'the test split' : 'nothing for training and validation'} empty`,
      );
    }
  }

  const names = o.folds ? Array.from({ length: o.folds }, (_, f) => `fold${f}`) : ['train', 'val'];
  const rest = 1 - (o.test ?? 0);
  const assigned = stratifiedFolds(
    groups.map((g) => g.unit),
    o.folds ?? [rest - o.val!, o.val!],
    new Rng(o.seed, STREAM.split),
  );
  const parts = names.map(() => [] as CacheIndexRow[]);
  const partGroups = names.map(() => 0);
  groups.forEach((g, i) => {
    const f = assigned[i]!;
    parts[f]!.push(...g.rows);
    partGroups[f]!++;
  });
  if (o.test !== undefined) {
    names.push(TEST_SPLIT);
    parts.push(testGroups.flatMap((g) => g.rows));
    partGroups.push(testGroups.length);
  }

  // Training parts: `train`, or every fold (see the module comment).
  const training = o.folds ? Array.from({ length: o.folds }, (_, f) => f) : [0];
  const repeat = new Map<string, number>();
  for (const f of training) {
    for (const [id, n] of rebalance(parts[f]!, o, new Rng(o.seed, STREAM.negatives, f))) {
      repeat.set(id, n);
    }
  }

  const out: SplitRow[] = [];
  parts.forEach((part, f) => {
    for (const row of part) {
      out.push({ imageId: row.imageId, split: names[f]!, repeat: repeat.get(row.imageId) ?? 1 });
    }
  });
  out.sort((a, b) => byString(a.imageId, b.imageId));

  const all = parts.flat();
  const table: SplitTable = {
    before: [
      splitStats('all', all, groups.length + testGroups.length),
      ...parts.map((p, f) => splitStats(names[f]!, p, partGroups[f]!)),
    ],
    after: training.map((f) =>
      splitStats(names[f]!, parts[f]!, partGroups[f]!, (r) => repeat.get(r.imageId) ?? 1),
    ),
  };
  return {
    options: o,
    rows: out,
    table,
    images: labelled.length,
    unused: labelled.length - all.length,
    unlabelled: rows.length - labelled.length,
  };
}

/** The split file: `image_id,split,repeat`, one row per image of the subset, sorted by id. */
export function splitCsv(rows: readonly SplitRow[]): string {
  const inOrder = rows.every((r, i) => i === 0 || byString(rows[i - 1]!.imageId, r.imageId) < 0);
  const sorted = inOrder ? rows : [...rows].sort((a, b) => byString(a.imageId, b.imageId));
  return `image_id,split,repeat\n${sorted.map((r) => `${r.imageId},${r.split},${r.repeat}\n`).join('')}`;
}

function pct(rate: number): string {
  return `${(100 * rate).toFixed(2)}%`;
}

function renderBlock(title: string, stats: readonly SplitStats[], rowName: string): string[] {
  const header = [title, ...stats.map((s) => s.split)];
  const body: string[][] = [
    [rowName, ...stats.map((s) => String(s.images))],
    ['groups', ...stats.map((s) => String(s.groups))],
    ...LABEL_NAMES.map((l) => [l, ...stats.map((s) => `${s.positives[l]} ${pct(s.rates[l])}`)]),
  ];
  const table = [header, ...body];
  const widths = header.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  return table.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
}

/** The label table as text: counts and rates per split, then the training parts after rebalancing. */
export function splitTable(table: SplitTable): string {
  const lines = renderBlock('before rebalancing', table.before, 'images');
  lines.push('', ...renderBlock('after rebalancing', table.after, 'examples'));
  return `${lines.join('\n')}\n`;
}

/** Writes the split file atomically (`image_id,split,repeat`, sorted by image id). */
export async function writeSplitCsv(path: string, rows: readonly SplitRow[]): Promise<void> {
  await writeFileAtomic(path, splitCsv(rows));
}
