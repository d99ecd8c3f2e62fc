/**
 * Shapes shared by the curation stage (`ichdet prepare`, `split`, `info`, `merge`) and the
 * stages after it. The cache itself is described in data/cache.ts.
 */

export {
  ANY_INDEX,
  LABEL_COUNT,
  LABEL_NAMES,
  type LabelName,
  SUBTYPE_NAMES,
} from '../labels.js';

/** 0/1 per label in LABEL_NAMES order; undefined labels (unlabelled data) are -1. */
export type Labels = [number, number, number, number, number, number];

/** One slice of a cache as the index lists it (what `split` and training need). */
export interface CacheIndexRow {
  /** `ID_<hex>` without a subtype suffix. */
  imageId: string;
  patientId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Position along the series normal (mm); NaN when unknown. */
  z: number;
  /** 0-based order of the slice within its series, by z. */
  sliceIndex: number;
  labels: Labels;
  /**
   * True for a context row (cached only as the neighbour of selected slices, see
   * `prepare --split`): `split` never draws it; it is read only as 2.5D context.
   */
  context?: true;
}
