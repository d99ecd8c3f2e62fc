/**
 * A comparative study as the reports draw it: what was compared, on which data, with which
 * options, and each trained and evaluated model's scores, curves and history.
 */
import type { CachePointing } from './pointing-types.js';
import type { SeriesStage } from './stages-types.js';

/** One trained and evaluated architecture of a study. */
export interface StudyModel {
  /** Registry name (`mobilenet_v2`). */
  arch: string;
  /** Display name (`MobileNetV2`). */
  title: string;
  /** Parameter count. */
  params: number;
  /** Input height = width in pixels the model was trained at. */
  size: number;
  /** Mean accuracy over the labels at threshold 0.5. */
  accuracy: number | null;
  meanAuc: number | null;
  meanAucCi: [number, number] | null;
  /** ROC AUC per label (LABEL_NAMES); null where the label has one class only. */
  auc: Record<string, number | null>;
  /** The RSNA competition metric (any weighted 2), lower is better. */
  weightedLogLoss: number | null;
  weightedLogLossCi: [number, number] | null;
  /** Operating point of `any` at sensitivity ≥ 0.95. */
  triage: { threshold: number; sensitivity: number; specificity: number } | null;
  trainSeconds: number;
  imagesPerSecond: number;
  /** 1-based epoch of the kept checkpoint. */
  bestEpoch: number | null;
  history: {
    epoch: number;
    trainLoss: number;
    valLoss: number;
    valWeightedLogLoss: number;
    valMeanAuc: number | null;
  }[];
  /** ROC curve per label, ideally thinned already (`downsampleCurve`); null where undefined. */
  roc: Record<string, { fpr: number[]; tpr: number[] } | null>;
  /** Grad-CAM pointing game on the evaluated images with a label mask (synthetic data). */
  pointing?: CachePointing | null;
  /**
   * The split every number of this model comes from (`test` when the split file has one, else
   * the validation split); absent in studies written before ichdet had test splits (validation).
   */
  split?: string;
  /** Images of that split. */
  images?: number;
}

/** A comparative study: what was compared, on which data, with which options. */
export interface Study {
  title: string;
  /** ISO 8601 time the study was written. */
  createdAt: string;
  dataset: {
    cache: string;
    split: string;
    trainImages: number;
    /** Images of the validation split, on which each checkpoint was selected. */
    valImages: number;
    /** Name of the validation split (absent in older studies: `val`). */
    valSplit?: string;
    /**
     * The split the models' numbers come from: `test` when the split file holds one out, else
     * the validation split. Absent in studies written before ichdet had test splits.
     */
    evalSplit?: string;
    /** Images of `evalSplit`. */
    evalImages?: number;
    /** Positive images per label of `evalSplit` (LABEL_NAMES first, in that order). */
    positives: Record<string, number>;
  };
  /** The options every model was trained with (the typed config, as saved). */
  options: Record<string, unknown>;
  models: StudyModel[];
  /**
   * Series runs (`ichdet train-series`) on out-of-fold features of the study's architectures:
   * stage 1, smoothed and stage 2 side by side. Absent or empty: no series stage.
   */
  series?: SeriesStage[];
  notes: string[];
}
