/**
 * The RSNA label set, in one place: the six label columns in CSV order (five haemorrhage
 * subtypes, then `any`), how many there are and where `any` sits. A root-level module like
 * errors.ts, so every layer (dicom/ and synth/ up to cli/) can import it.
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
