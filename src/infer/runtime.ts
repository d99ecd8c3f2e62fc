/**
 * What runs a model, whatever runs it: the tfjs model workers (infer/tfjs-runtime.ts) and ONNX
 * Runtime (infer/onnx-runtime.ts) both give probabilities of preprocessed inputs through this
 * one interface, so evaluate, predict, the viewer and the PACS service never care which.
 */

/** Probabilities (n × labels, row-major) of n preprocessed inputs (n × size × size × channels). */
export interface InferenceRuntime {
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export const RUNTIMES = ['tfjs', 'onnx'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** Test-time augmentation: none, or the mean of the plain and the horizontally flipped input. */
export const TTA_MODES = ['none', 'hflip'] as const;
export type TtaMode = (typeof TTA_MODES)[number];
