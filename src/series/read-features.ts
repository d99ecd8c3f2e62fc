/**
 * A features folder (`ichdet cv --out CV` writes `CV/features/`; the format is in
 * series/features.ts) read as series: the stage-2 model's input. `readFeatures` parses and
 * checks the folder; this file only groups its rows into series.
 *
 * Rows are grouped by series_uid and ordered by slice_index; Δz is the distance along the slice
 * normal to the next slice (0 for the last; the series' median step where z is missing).
 * Every problem is an InputError that names the file and what is missing or wrong.
 */
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { LABEL_COUNT } from '../labels.js';
import {
  FEATURES_INDEX,
  type FeaturePart,
  type FeatureRow,
  type FeaturesMeta,
  readFeatures,
} from './features.js';
import { stepsOf } from './slice-inputs.js';

/** One series of a features folder, its slices in order. */
export interface FeatureSeries {
  seriesUid: string;
  studyUid: string;
  patientId: string;
  /** The held-out fold of the series' images; null for test series. */
  fold: number | null;
  part: FeaturePart;
  /** Matrix rows of the slices, ordered by slice_index. */
  rows: number[];
  /** Position along the slice normal (mm), null where index.csv left it empty. */
  z: (number | null)[];
  /** Distance to the next slice (mm); 0 for the last. */
  dz: Float32Array;
}

export interface FeatureSet {
  dir: string;
  meta: FeaturesMeta;
  n: number;
  dim: number;
  imageIds: string[];
  /** Stage-1 probabilities, n × 6 row-major. */
  probs: Float32Array;
  /** n × dim row-major. */
  embeddings: Float32Array;
  /** n × 6 labels, NaN where index.csv left a label empty. */
  labels: Float32Array;
  series: FeatureSeries[];
}

export { stepsOf };

function groupSeries(file: string, rows: readonly FeatureRow[]): FeatureSeries[] {
  const groups = new Map<string, number[]>();
  for (const [i, r] of rows.entries()) {
    const g = groups.get(r.seriesUid);
    if (g === undefined) groups.set(r.seriesUid, [i]);
    else g.push(i);
  }
  const out: FeatureSeries[] = [];
  for (const [uid, idx] of groups) {
    idx.sort((a, b) => rows[a]!.sliceIndex - rows[b]!.sliceIndex);
    const first = rows[idx[0]!]!;
    for (const i of idx) {
      const r = rows[i]!;
      if (r.fold !== first.fold || r.part !== first.part || r.studyUid !== first.studyUid) {
        throw new InputError(
          `${file}: series ${uid} mixes fold/part/study (row ${idx[0]}: fold ${first.fold} ${first.part} ${first.studyUid}; row ${i}: fold ${r.fold} ${r.part} ${r.studyUid})`,
        );
      }
    }
    const z = idx.map((i) => rows[i]!.z);
    out.push({
      seriesUid: uid,
      studyUid: first.studyUid,
      patientId: first.patientId,
      fold: first.fold,
      part: first.part,
      rows: idx,
      z,
      dz: stepsOf(z),
    });
  }
  return out;
}

/**
 * Reads a features folder (with `readFeatures`) and groups its rows into series.
 *
 * @throws InputError naming the file and what is missing or wrong: everything `readFeatures`
 *   refuses, and a series whose rows disagree on fold, part or study.
 */
export function loadFeatureSeries(dir: string): FeatureSet {
  const f = readFeatures(dir);
  const n = f.rows.length;
  const labels = new Float32Array(n * LABEL_COUNT);
  for (const [i, r] of f.rows.entries()) {
    for (let l = 0; l < LABEL_COUNT; l++) labels[i * LABEL_COUNT + l] = r.labels[l] ?? Number.NaN;
  }
  return {
    dir,
    meta: f.meta,
    n,
    dim: f.meta.dim,
    imageIds: f.rows.map((r) => r.imageId),
    probs: f.probs,
    embeddings: f.embeddings,
    labels,
    series: groupSeries(join(f.dir, FEATURES_INDEX), f.rows),
  };
}
