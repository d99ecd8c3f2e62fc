/**
 * RSNA-style identifiers: `ID_` followed by hex digits (8 for patients, 9 for images, 10 for
 * studies and series), as in the RSNA 2019 set. They are not valid DICOM UIDs, like the real ones.
 *
 * Each id is a keyed Feistel permutation of a running index, so ids are unique within a dataset
 * (no birthday collisions), look random, and depend only on the seed and the index.
 */
import { hashInts } from '../util/rng.js';

/** A bijection on [0, 2^bits) (bits even, ≤ 52) keyed by `key`: a 4-round Feistel network. */
export function feistel(index: number, bits: number, key: number): number {
  const half = bits / 2;
  const size = 2 ** half;
  let left = Math.floor(index / size);
  let right = index % size;
  for (let round = 0; round < 4; round++) {
    const f = hashInts(key, round, right) % size;
    const next = (left + f) % size;
    left = right;
    right = next;
  }
  return left * size + right;
}

function hexId(index: number, digits: number, key: number): string {
  return `ID_${feistel(index, digits * 4, key)
    .toString(16)
    .padStart(digits, '0')}`;
}

/** Which id family an id belongs to; each has its own key, so families never collide by design. */
const KIND = { image: 1, patient: 2, study: 3, series: 4 } as const;

export function imageId(seed: number, imageIndex: number): string {
  return hexId(imageIndex, 9, hashInts(seed, KIND.image));
}
export function patientId(seed: number, patientIndex: number): string {
  return hexId(patientIndex, 8, hashInts(seed, KIND.patient));
}
export function studyId(seed: number, patientIndex: number): string {
  return hexId(patientIndex, 10, hashInts(seed, KIND.study));
}
export function seriesId(seed: number, patientIndex: number): string {
  return hexId(patientIndex, 10, hashInts(seed, KIND.series));
}
