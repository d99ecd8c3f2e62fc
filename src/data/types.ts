/**
 * Shapes shared by the curation stage (`ichdet prepare`, `split`, `info`, `merge`) and the
 * stages after it. The cache itself is described in data/cache.ts.
 */

/** The six RSNA label columns, in CSV order. */
export const LABEL_NAMES = [
  'epidural',
  'intraparenchymal',
  'intraventricular',
  'subarachnoid',
  'subdural',
  'any',
] as const;
export type LabelName = (typeof LABEL_NAMES)[number];
/** How many labels a slice has (the model's outputs). */
export const LABEL_COUNT = LABEL_NAMES.length;
/** The index of `any` in LABEL_NAMES (1 exactly when some subtype is 1). */
export const ANY_INDEX = LABEL_NAMES.indexOf('any');
/** The five subtypes, in LABEL_NAMES order. */
export const SUBTYPE_NAMES = LABEL_NAMES.slice(0, ANY_INDEX) as readonly Exclude<
  LabelName,
  'any'
>[];

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
}
