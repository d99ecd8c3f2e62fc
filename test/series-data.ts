/**
 * Synthetic features folders (the `ichdet cv` output format) for the series tests and the
 * measurement in the README: one study with one axial series per patient, 5 mm apart; lesions
 * of one subtype spanning a few consecutive slices; stage-1 "probabilities" that are noisy per
 * slice, higher on lesion slices and a little higher next to them; `any` = max of the subtypes.
 */
import { ANY_INDEX, LABEL_COUNT } from '../src/labels.js';
import { type FeatureRow, writeFeatures } from '../src/series/features.js';
import { Rng } from '../src/util/rng.js';

export interface SynthFeaturesOptions {
  patients: number;
  folds: number;
  minSlices: number;
  maxSlices: number;
  dim: number;
  /** Share of patients with a bleed. */
  positive: number;
  /** Standard deviation of the stage-1 logit noise. */
  noise: number;
  /** Test series (no labels, no fold) added after the oof ones. */
  testSeries: number;
  seed: number;
  /**
   * Per fold k, the stage-1 logit of its rows is `a·logit + b` for `[a, b] = calibration[k]`
   * (fold models that disagree in calibration); default none, applied after every draw.
   */
  calibration?: Record<number, [number, number]>;
}

const DEFAULTS: SynthFeaturesOptions = {
  patients: 40,
  folds: 2,
  minSlices: 8,
  maxSlices: 40,
  dim: 8,
  positive: 0.5,
  noise: 1.5,
  testSeries: 2,
  seed: 1,
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Writes `dir/index.csv`, `probs.npy`, `embeddings.npy` and `features.json` with
 * `writeFeatures` (the writer `ichdet cv` uses); returns n.
 */
export async function writeSynthFeatures(
  dir: string,
  o: Partial<SynthFeaturesOptions> = {},
): Promise<number> {
  const c = { ...DEFAULTS, ...o };
  const rng = new Rng(c.seed, 0xfea7);
  const rows: FeatureRow[] = [];
  const probs: number[] = [];
  const emb: number[] = [];
  const total = c.patients + c.testSeries;
  for (let p = 0; p < total; p++) {
    const test = p >= c.patients;
    const L = rng.int(c.minSlices, c.maxSlices);
    const y = Array.from({ length: L }, () => new Array<number>(LABEL_COUNT).fill(0));
    if (rng.chance(c.positive)) {
      const lesions = rng.int(1, 2);
      for (let k = 0; k < lesions; k++) {
        const sub = rng.int(0, ANY_INDEX - 1);
        const len = rng.int(2, Math.min(6, L));
        const start = rng.int(0, L - len);
        for (let i = start; i < start + len; i++) y[i]![sub] = 1;
      }
    }
    for (const yi of y) yi[ANY_INDEX] = Math.max(...yi.slice(0, ANY_INDEX));
    const z0 = rng.uniform(-50, 50);
    // Series stored in shuffled slice order, so the reader's grouping has to order the slices.
    const order = Array.from({ length: L }, (_, i) => i);
    for (let i = L - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const offset = rng.normal(0, 0.7); // a per-series bias of stage 1
    for (const i of order) {
      const yi = y[i]!;
      const near = (l: number) => (y[i - 1]?.[l] ?? 0) + (y[i + 1]?.[l] ?? 0) > 0;
      const pr = yi.map((v, l) => {
        const logit = -3 + offset + 4 * v + (near(l) && v === 0 ? 1.2 : 0) + rng.normal(0, c.noise);
        const [a, b] = (test ? undefined : c.calibration?.[p % c.folds]) ?? [1, 0];
        return sigmoid(a * logit + b);
      });
      probs.push(...pr);
      for (let d = 0; d < c.dim; d++)
        emb.push(rng.normal(0, 1) + (d < LABEL_COUNT ? 2 * yi[d]! : 0));
      rows.push({
        imageId: `ID_${p}_${i}`,
        patientId: `P${p}`,
        studyUid: `study${p}`,
        seriesUid: `series${p}`,
        z: Number((z0 + 5 * i).toFixed(2)),
        sliceIndex: i,
        fold: test ? null : p % c.folds,
        part: test ? 'test' : 'oof',
        labels: yi.map((v) => (test ? null : (v as 0 | 1))),
      });
    }
  }
  const folds = Array.from({ length: c.folds }, (_, k) => k);
  await writeFeatures(dir, {
    arch: 'synthetic',
    folds: c.folds,
    dim: c.dim,
    runs: folds.map((k) => `runs/fold${k}`),
    foldsTrained: Object.fromEntries(
      folds.map((k) => [String(k), folds.filter((j) => j !== k).map((j) => `fold${j}`)]),
    ),
    rows,
    probs: Float32Array.from(probs),
    embeddings: Float32Array.from(emb),
  });
  return rows.length;
}
