/**
 * Slice and series identity, in one place for `prepare` (the cache's slice order and
 * neighbours), training (the 2.5D context window) and `predict` (series read from files):
 * - a slice's id is its SOPInstanceUID, or its file name without `.dcm` when that is empty;
 * - slices of a series are ordered by their position along the slice normal
 *   (dicom/geometry.ts, PS3.3 C.7.6.2.1.1), then InstanceNumber, then image id; slices with no
 *   position come last;
 * - the context window of a slice is the 2·k + 1 slices z−k … z+k, the nearest existing slice
 *   repeated past either end of the series.
 */

/** The image id of a file: its SOPInstanceUID, or its name without `.dcm` when that is empty. */
export function imageIdOf(sopInstanceUid: string, file: string): string {
  const s = sopInstanceUid.trim();
  if (s !== '') return s;
  const name = file.split(/[\\/]/).at(-1) ?? file;
  return name.toLowerCase().endsWith('.dcm') ? name.slice(0, -4) : name;
}

/** What orders a slice within its series. */
export interface SliceOrderKey {
  /** Position along the slice normal (mm); null when unknown. */
  position: number | null;
  instanceNumber: number | null;
  imageId: string;
}

const cmpNullLast = (a: number | null, b: number | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b;

/** Slice order within a series: position, then InstanceNumber, then image id; unknowns last. */
export function compareSlices(a: SliceOrderKey, b: SliceOrderKey): number {
  return (
    cmpNullLast(a.position, b.position) ||
    cmpNullLast(a.instanceNumber, b.instanceNumber) ||
    (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0)
  );
}

/**
 * The 2·k + 1 slices z−k … z+k around `centre`, walking the series with `prev` and `next` (each
 * returns the neighbour, or a negative number at the end of the series); past an end the nearest
 * slice found is repeated, the centre at worst.
 */
export function contextWindow(
  centre: number,
  k: number,
  prev: (i: number) => number,
  next: (i: number) => number,
): number[] {
  const out = new Array<number>(2 * k + 1).fill(centre);
  let cur = centre;
  for (let d = 1; d <= k; d++) {
    const n = prev(cur);
    if (n >= 0) cur = n;
    out[k - d] = cur;
  }
  cur = centre;
  for (let d = 1; d <= k; d++) {
    const n = next(cur);
    if (n >= 0) cur = n;
    out[k + d] = cur;
  }
  return out;
}

/** The context window of slice `i` of an ordered series of `n` slices (indices into it). */
export function contextIndices(i: number, n: number, k: number): number[] {
  return contextWindow(
    i,
    k,
    (j) => (j > 0 ? j - 1 : -1),
    (j) => (j < n - 1 ? j + 1 : -1),
  );
}
