/**
 * The stage-2 report's shape (`SRUN/metrics.json`, written by `ichdet train-series` and
 * `ichdet evaluate --run SRUN`): on the same out-of-fold images, the stage-1 CNN's probabilities,
 * the same smoothed along z, and the series model's; and per study the `any` AUC of stage 1
 * (max over slices) against stage 2's learned study output. Types only: series/ computes the
 * blocks, eval/ draws them.
 */
import type { LabelName } from '../labels.js';
import type { TriagePoint } from './threshold.js';

export type Interval = [number, number];

/** Every image-level metric of one set of probabilities, with 95% bootstrap intervals. */
export interface MetricBlock {
  images: number;
  weighted_log_loss: number;
  weighted_log_loss_ci: Interval;
  mean_auc: number | null;
  mean_auc_ci: Interval | null;
  auc: Record<LabelName, { value: number | null; ci: Interval | null }>;
}

/** One study-level `any` score: AUC, its interval and the triage point (sensitivity ≥ 0.95). */
export interface StudyOutput {
  auc: number | null;
  ci: Interval | null;
  triage: TriagePoint | null;
}

export interface StudyBlock {
  studies: number;
  positives: number;
  /** Stage 1: the max over the study's slices of `any`. */
  stage1: StudyOutput;
  /** Stage 2: the learned study output (max over the study's series). */
  stage2: StudyOutput;
}

/** The image-level blocks, in report order. */
export const STAGES = ['stage1', 'smoothed', 'stage2'] as const;
export type StageName = (typeof STAGES)[number];

export const STAGE_TITLES: Record<StageName, string> = {
  stage1: 'Stage 1: CNN per slice',
  smoothed: 'Stage 1 smoothed along z (0.2/0.6/0.2)',
  stage2: 'Stage 2: series model',
};

/** `SRUN/metrics.json`. */
export interface SeriesStageMetrics {
  /** The folds whose out-of-fold images the numbers come from. */
  folds: number[];
  stage1: MetricBlock;
  smoothed: MetricBlock;
  stage2: MetricBlock;
  study: StudyBlock;
}

/** A series run as a report shows it: a name (the stage-1 architecture), its folder, its numbers. */
export interface SeriesStage {
  name: string;
  run: string;
  metrics: SeriesStageMetrics;
}
