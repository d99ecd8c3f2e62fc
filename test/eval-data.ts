/**
 * A 12-image labels/predictions fixture for the evaluation tests, with the reference values
 * computed by scikit-learn 1.2.1 on the same arrays. Epidural has no positive (AUC and AP
 * undefined); predictions are rounded to one decimal so that scores tie across classes, and
 * include exact 0s and 1s (clipped by the log losses).
 */

/** Labels, 12 images × 6 (LABEL_NAMES order). */
export const EVAL_Y = Uint8Array.from(
  [
    [0, 1, 0, 1, 0, 1],
    [0, 0, 0, 0, 1, 1],
    [0, 0, 0, 1, 0, 1],
    [0, 1, 1, 0, 0, 1],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 1, 0, 1, 1],
    [0, 1, 0, 1, 0, 1],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 1],
    [0, 0, 0, 1, 0, 1],
    [0, 0, 0, 0, 0, 0],
  ].flat(),
);

/** Predictions, 12 images × 6. */
export const EVAL_P = Float64Array.from(
  [
    [0.2, 0.8, 0.2, 0.5, 0.1, 0.5],
    [0.04, 0.5, 0.1, 0.1, 0.8, 0.8],
    [0.25, 0.0, 0.2, 0.9, 0.0, 1.0],
    [0.28, 0.4, 0.3, 0.2, 0.0, 0.8],
    [0.27, 0.2, 0.0, 0.1, 0.2, 0.3],
    [0.17, 0.1, 0.0, 0.1, 0.5, 0.0],
    [0.04, 0.4, 0.6, 0.2, 0.7, 0.7],
    [0.06, 0.7, 0.5, 0.4, 0.4, 0.7],
    [0.28, 0.7, 0.4, 0.0, 0.3, 0.4],
    [0.17, 0.4, 0.2, 0.4, 1.0, 0.6],
    [0.05, 0.1, 0.3, 0.4, 0.1, 0.7],
    [0.27, 0.5, 0.0, 0.1, 0.4, 0.0],
  ].flat(),
);

/** Image ids of the fixture, `ID_e0000000` … `ID_e000000b`. */
export const EVAL_IDS = Array.from(
  { length: 12 },
  (_, i) => `ID_e${i.toString(16).padStart(7, '0')}`,
);
