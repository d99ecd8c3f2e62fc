/**
 * A synthetic cache index for split tests: patients with one or two studies of 24–40 slices,
 * about a third of them bleeding, each subtype a run of neighbouring slices (a lesion is 3-D),
 * `any` the union — the label structure of the RSNA set without rendering a single image.
 */
import { type CacheIndexRow, LABEL_NAMES, type Labels } from '../src/data/types.js';
import { hashInts, Rng } from '../src/util/rng.js';

/** Per bleeding patient: chance of each subtype (epidural … subdural) and its extent in slices. */
const SUBTYPE_CHANCE = [0.06, 0.45, 0.3, 0.45, 0.5];
const EXTENT: [number, number][] = [
  [3, 8],
  [3, 12],
  [3, 10],
  [4, 14],
  [4, 16],
];

export function syntheticIndex(patients: number, seed = 7): CacheIndexRow[] {
  const rng = new Rng(seed, 0xda7a);
  const rows: CacheIndexRow[] = [];
  let image = 0;
  for (let p = 0; p < patients; p++) {
    const patientId = `ID_p${hashInts(seed, p).toString(16).padStart(8, '0')}`;
    const studies = rng.chance(0.15) ? 2 : 1;
    for (let s = 0; s < studies; s++) {
      const studyInstanceUid = `ID_s${hashInts(seed, p, s).toString(16).padStart(8, '0')}`;
      const n = rng.int(24, 40);
      const bits = new Array<number>(n).fill(0);
      if (rng.chance(0.33)) {
        let kinds = 0;
        SUBTYPE_CHANCE.forEach((c, k) => {
          if (rng.chance(c)) kinds |= 1 << k;
        });
        if (kinds === 0) kinds = 1 << rng.int(1, 4);
        for (let k = 0; k < 5; k++) {
          if (!(kinds & (1 << k))) continue;
          const [lo, hi] = EXTENT[k]!;
          const len = Math.min(n, rng.int(lo, hi));
          const start = rng.int(0, n - len);
          for (let i = start; i < start + len; i++) bits[i]! |= 1 << k;
        }
      }
      for (let i = 0; i < n; i++) {
        const b = bits[i]!;
        const labels = LABEL_NAMES.map((_, k) => (k < 5 ? (b >> k) & 1 : b ? 1 : 0)) as Labels;
        rows.push({
          imageId: `ID_${hashInts(seed, image).toString(16).padStart(8, '0')}${image.toString(16)}`,
          patientId,
          studyInstanceUid,
          seriesInstanceUid: `${studyInstanceUid}.1`,
          z: 5 * i,
          sliceIndex: i,
          labels,
        });
        image++;
      }
    }
  }
  return rows;
}
