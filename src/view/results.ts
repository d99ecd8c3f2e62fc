/**
 * The AI results `ichdet view` shows beside the images, read from the files ichdet writes:
 * - predictions: `slices.csv` of `ichdet predict` (image_id, study_uid, series_uid, …, the six
 *   probabilities, flag) and the threshold from its `predict.json`; per-label thresholds (the
 *   strip marks each row's own): `any` is predict's flag threshold, each subtype the triage
 *   threshold of the run's `eval/metrics.json` when that evaluation was of the predicting model
 *   (predict writes only the `any` threshold), else 0.5;
 * - stage 2 (`view --series-model SRUN`): the stage-1 probabilities of each series, in slice
 *   order, through the series run's aggregator (the one `predict --series-model` uses);
 * - heatmaps: the `<image id>_<label>.npy` maps of `predict --cam` (float32 rows × cols in [0, 1]);
 * - masks: the `<image id>.png` label masks of `ichdet synth` (bit k = subtype k).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { Aggregator, SlicePrediction } from '../infer/predict.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { EVAL_DIR, EVAL_METRICS_FILE } from '../run/layout.js';

export interface SliceScores {
  imageId: string;
  studyUid: string;
  seriesUid: string;
  patientId: string;
  /** Index in the series (0 = lowest position along the normal); -1 when the file has none. */
  index: number;
  position: number | null;
  /** The six probabilities in LABEL_NAMES order, as the file gives them. */
  p: number[];
  flag: boolean;
}

export interface Predictions {
  file: string;
  /** The `any` (flag) threshold of predict.json. */
  threshold: number;
  /** Per label (LABEL_NAMES order): `threshold` for `any`, the run's triage thresholds else. */
  thresholds: number[];
  /** Where each label's threshold came from. */
  thresholdSources: string[];
  /** The model folder predict ran (predict.json), or null. */
  model: string | null;
  /** The series run predict applied (`predict --series-model`): the file is stage 2 already. */
  seriesModel: string | null;
  byImage: Map<string, SliceScores>;
}

/**
 * Per-label thresholds of a model's predictions: `anyThreshold` for `any`; for each subtype the
 * triage threshold of `<run>/eval/metrics.json` when that evaluation was of `modelDir` (as
 * `ModelFolder.threshold` reads `any`), else 0.5.
 */
export function labelThresholds(
  modelDir: string | null,
  anyThreshold: number,
  anySource = 'predict.json',
): { values: number[]; sources: string[] } {
  const values = LABEL_NAMES.map(() => 0.5);
  const sources = LABEL_NAMES.map(() => 'default');
  values[ANY_INDEX] = anyThreshold;
  sources[ANY_INDEX] = anySource;
  if (modelDir === null) return { values, sources };
  const file = join(dirname(resolve(modelDir)), EVAL_DIR, EVAL_METRICS_FILE);
  if (!existsSync(file)) return { values, sources };
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as {
      model?: string;
      metrics?: { labels?: Record<string, { triage?: { threshold?: number } | null }> };
    };
    if (m.model !== undefined && resolve(m.model) !== resolve(modelDir)) {
      return { values, sources };
    }
    for (const [l, name] of LABEL_NAMES.entries()) {
      if (l === ANY_INDEX) continue;
      const t = m.metrics?.labels?.[name]?.triage?.threshold;
      if (typeof t === 'number' && Number.isFinite(t)) {
        values[l] = t;
        sources[l] = file;
      }
    }
  } catch {
    // An unreadable metrics file: the defaults.
  }
  return { values, sources };
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
  const indexCol = head.indexOf('index');
  const posCol = head.indexOf('position');
  const patientCol = head.indexOf('patient_id');
  let threshold = 0.5;
  let model: string | null = null;
  let seriesModel: string | null = null;
  const cfg = join(dirname(file), 'predict.json');
  if (existsSync(cfg)) {
    const j = JSON.parse(readFileSync(cfg, 'utf8')) as {
      threshold?: { value?: unknown };
      model?: unknown;
      seriesModel?: unknown;
    };
    if (typeof j.threshold?.value === 'number') threshold = j.threshold.value;
    if (typeof j.model === 'string') model = j.model;
    if (typeof j.seriesModel === 'string') seriesModel = j.seriesModel;
  }
  const t = labelThresholds(model, threshold, existsSync(cfg) ? cfg : 'default');
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
    const pos = posCol >= 0 && f[posCol] !== '' ? Number(f[posCol]) : null;
    byImage.set(f[id]!, {
      imageId: f[id]!,
      studyUid: f[study]!,
      seriesUid: f[series]!,
      patientId: patientCol >= 0 ? f[patientCol]! : '',
      index: indexCol >= 0 ? Number(f[indexCol]) : -1,
      position: pos !== null && Number.isFinite(pos) ? pos : null,
      p,
      flag: flagCol >= 0 ? f[flagCol] === '1' : anyP >= threshold,
    });
  }
  return {
    file,
    threshold,
    thresholds: t.values,
    thresholdSources: t.sources,
    model,
    seriesModel,
    byImage,
  };
}

/** Stage 2 of the served predictions: per image its probabilities, per series its `any`. */
export interface StageTwo {
  byImage: Map<string, number[]>;
  seriesAny: Map<string, number>;
}

/**
 * Runs a series run's aggregator (`loadSeriesOnnxAggregator` / `loadSeriesAggregator`, as
 * `predict --series-model` does) over each series of the predictions: its slices in `index`
 * order (position order when the file has no index), their stage-1 probabilities and positions.
 */
export async function stageTwo(pred: Predictions, aggregator: Aggregator): Promise<StageTwo> {
  const groups = new Map<string, SliceScores[]>();
  for (const s of pred.byImage.values()) {
    const g = groups.get(s.seriesUid);
    if (g === undefined) groups.set(s.seriesUid, [s]);
    else g.push(s);
  }
  const byImage = new Map<string, number[]>();
  const seriesAny = new Map<string, number>();
  for (const [uid, g] of groups) {
    g.sort((a, b) => a.index - b.index || (a.position ?? 0) - (b.position ?? 0));
    const slices: SlicePrediction[] = g.map((s, i) => ({
      file: s.imageId,
      imageId: s.imageId,
      patientId: s.patientId,
      studyUid: s.studyUid,
      seriesUid: s.seriesUid,
      index: i,
      position: s.position,
      p: s.p,
    }));
    const d = await aggregator.series(slices);
    for (const [i, s] of g.entries()) {
      const q =
        d.p === null ? s.p : Array.from(d.p.subarray(i * LABEL_COUNT, (i + 1) * LABEL_COUNT));
      byImage.set(s.imageId, q);
    }
    seriesAny.set(uid, d.any);
  }
  return { byImage, seriesAny };
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
