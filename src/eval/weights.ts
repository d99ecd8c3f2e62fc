/** The RSNA competition's label weights, in LABEL_NAMES order: five subtypes 1, `any` 2. */
export const RSNA_LABEL_WEIGHTS: readonly number[] = [1, 1, 1, 1, 1, 2];
