/**
 * The AI results `ichdet view` shows beside the images, read from the files ichdet writes:
 * - predictions: `slices.csv` of `ichdet predict` (image_id, study_uid, series_uid, …, the six
 *   probabilities, flag) and the threshold from its `predict.json`;
 * - heatmaps: the `<image id>_<label>.npy` maps of `predict --cam` (float32 rows × cols in [0, 1]);
 * - masks: the `<image id>.png` label masks of `ichdet synth` (bit k = subtype k).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { LABEL_NAMES } from '../labels.js';

export interface SliceScores {
  imageId: string;
  studyUid: string;
  seriesUid: string;
  /** The six probabilities in LABEL_NAMES order. */
  p: number[];
  flag: boolean;
}

export interface Predictions {
  file: string;
  threshold: number;
  byImage: Map<string, SliceScores>;
}

/** One CSV line split into fields (RFC 4180 quotes). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * Reads `slices.csv` (given directly, or the `predict` output folder holding it) and the
 * threshold from `predict.json` beside it (0.5 when absent).
 *
 * @throws InputError naming the file and the missing column or bad value.
 */
export function readPredictions(path: string): Predictions {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'slices.csv') : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read predictions ${file}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  const head = csvFields(lines[0] ?? '');
  const col = (name: string): number => {
    const i = head.indexOf(name);
    if (i < 0) {
      throw new InputError(
        `${file}: no column "${name}"; expected the slices.csv of ichdet predict`,
      );
    }
    return i;
  };
  const id = col('image_id');
  const study = col('study_uid');
  const series = col('series_uid');
  const labels = LABEL_NAMES.map(col);
  const flagCol = head.indexOf('flag');
  let threshold = 0.5;
  const cfg = join(dirname(file), 'predict.json');
  if (existsSync(cfg)) {
    const j = JSON.parse(readFileSync(cfg, 'utf8')) as { threshold?: { value?: unknown } };
    if (typeof j.threshold?.value === 'number') threshold = j.threshold.value;
  }
  const byImage = new Map<string, SliceScores>();
  for (let r = 1; r < lines.length; r++) {
    const f = csvFields(lines[r]!);
    const p = labels.map((i) => Number(f[i]));
    const bad = p.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) {
      throw new InputError(
        `${file}: row ${r + 1} column ${LABEL_NAMES[bad]}: expected a probability in [0, 1], received "${f[labels[bad]!]}"`,
      );
    }
    const anyP = p[p.length - 1]!;
    byImage.set(f[id]!, {
      imageId: f[id]!,
      studyUid: f[study]!,
      seriesUid: f[series]!,
      p,
      flag: flagCol >= 0 ? f[flagCol] === '1' : anyP >= threshold,
    });
  }
  return { file, threshold, byImage };
}

/** Image id → label → file, for the files named `<image id>_<label><ext>` in `dir`. */
export function indexHeatmaps(dir: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.npy')) continue;
    const stem = name.slice(0, -4);
    const label = LABEL_NAMES.find((l) => stem.endsWith(`_${l}`));
    if (label === undefined) continue;
    const image = stem.slice(0, -(label.length + 1));
    let m = out.get(image);
    if (!m) {
      m = new Map();
      out.set(image, m);
    }
    m.set(label, join(dir, name));
  }
  return out;
}

/** Image id → mask file, for `<image id>.png` in `dir`. */
export function indexMasks(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.png')) out.set(basename(name, '.png'), join(dir, name));
  }
  return out;
}
