/**
 * Synthetic head CT in the RSNA layout (`ichdet synth`): the pieces the CLI, tests and other
 * stages need. The library entry point, `synth(options)`, lives in `commands/synth.ts` (import
 * it from there, or from the package root): synth/ sits below commands/ and never imports it.
 */
export { IMAGE_DIR, type ImageRow, MASK_DIR } from './generate.js';
export {
  BALANCED_RATES,
  DIFFICULTIES,
  type Difficulty,
  type PrevalenceRates,
  parsePrevalence,
  RSNA_RATES,
  resolveSynthOptions,
  SYNTH_DEFAULTS,
  type SynthOptions,
  type SynthOptionsInput,
} from './options.js';
export { type PatientPlan, type Plan, patientLabels, planDataset } from './plan.js';
export { TISSUE, type TissueName } from './render.js';
export {
  LABELS,
  type Label,
  labelBits,
  MIN_LESION_PIXELS_512,
  minLesionPixels,
  SUBTYPES,
  type Subtype,
} from './subtypes.js';

import { resolveSynthOptions, type SynthOptionsInput } from './options.js';
import { planDataset } from './plan.js';
import { LABELS } from './subtypes.js';

/**
 * Label-only mode: the per-image positive counts and rates a `synth` run with these options
 * would write, computed without rendering full images or writing files (fast enough for
 * prevalence checks on tens of thousands of images).
 */
export function synthLabelRates(input: SynthOptionsInput): {
  images: number;
  positives: Record<(typeof LABELS)[number], number>;
  rates: Record<(typeof LABELS)[number], number>;
} {
  const o = resolveSynthOptions(input);
  const plan = planDataset(o);
  const positives = {} as Record<(typeof LABELS)[number], number>;
  const rates = {} as Record<(typeof LABELS)[number], number>;
  LABELS.forEach((l, k) => {
    positives[l] = plan.expected[k] ?? 0;
    rates[l] = plan.totalImages ? positives[l] / plan.totalImages : 0;
  });
  return { images: plan.totalImages, positives, rates };
}
