/**
 * ichdet as a library: every CLI command is a typed function exported here, next to the
 * building blocks it is made of.
 */

export { initBackend } from './backend/init.js';
export { registerWasmTrainingKernels } from './backend/kernels.js';
// Training, evaluation and the study.
export {
  type CompareOptions,
  type CompareResult,
  compare,
  parseArchs,
} from './commands/compare.js';
export {
  type DemoOptions,
  type DemoPlan,
  type DemoResult,
  demo,
  demoPlan,
} from './commands/demo.js';
export { type EvaluateOptions, type EvaluateResult, evaluate } from './commands/evaluate.js';
// Commands (one per CLI command).
export { type ExportOptions, type ExportResult, exportSlice } from './commands/export.js';
export {
  type ExportOnnxCommandOptions,
  type ExportOnnxCommandResult,
  exportOnnxCommand,
} from './commands/export-onnx.js';
export {
  formatInspectRecord,
  type InspectFailure,
  type InspectOk,
  type InspectOptions,
  type InspectRecord,
  inspect,
} from './commands/inspect.js';
// Models.
export { listModels, type ModelRow } from './commands/models.js';
// Inference on new studies (ichdet predict, Grad-CAM).
export {
  type PredictOptions,
  type PredictResult,
  predict,
} from './commands/predict.js';
// Evaluation (ichdet score and the metrics behind it).
export {
  resolveScoreOptions,
  type ScoreConfig,
  type ScoreOptions,
  type ScoreResult,
  score,
} from './commands/score.js';
// Image statistics (ichdet stats).
export {
  formatStats,
  type StatsOptions,
  type StatsResult,
  stats,
} from './commands/stats.js';
// Synthetic data.
export { type SynthResult, synth } from './commands/synth.js';
// DICOM layer.
export { codecsReady, decodeFrame, encodeFrame, initCodecs } from './dicom/codecs.js';
export {
  RSNA_REFERENCE,
  type SliceStats,
  STAT_NAMES,
  type StatName,
  type StatSummary,
  sliceStats,
  summarizeStats,
} from './dicom/ct-stats.js';
export { type FastResult, readWindowed, readWindowedUint8 } from './dicom/fastpath.js';
export { type HuOptions, needsRsnaFix, storedToHu } from './dicom/hu.js';
export { type ParsedDicom, parseDicomBytes } from './dicom/parse.js';
export {
  huImage,
  type Image,
  type PreprocessConfig,
  validatePreprocessConfig,
  windowedImage,
  windowedImageUint8,
} from './dicom/preprocess.js';
export { toUint8 } from './dicom/quantize.js';
export { decodeSlice, type ReadOptions, readAttributes, readSlice } from './dicom/read.js';
export { type ResizeMethod, resize } from './dicom/resize.js';
export type { CtSlice, SliceAttributes, StoredPixels } from './dicom/slice.js';
export {
  findTransferSyntax,
  SUPPORTED_SYNTAXES,
  type TransferSyntax,
  transferSyntaxName,
} from './dicom/syntax.js';
export {
  DEFAULT_WINDOWS,
  parseWindow,
  parseWindows,
  WINDOW_PRESETS,
  type Window,
  type WindowLevel,
  windowStack,
  windowStackUint8,
  windowTransform,
} from './dicom/window.js';
export {
  encodeDataset,
  encodeSlice,
  type WriteOptions,
  type WriteSliceSpec,
} from './dicom/write.js';
// Errors.
export {
  ConfigError,
  DicomError,
  IchdetError,
  InputError,
  NotACtSliceError,
  UnsupportedTransferSyntaxError,
} from './errors.js';
export { averagePrecision, rocAuc } from './eval/auc.js';
export { type BootstrapCi, type BootstrapOptions, bootstrapCi } from './eval/bootstrap.js';
export { LOG_LOSS_EPS, logLoss, weightedLogLoss } from './eval/logloss.js';
export {
  computeMetrics,
  type LabelMetrics,
  type MetricsOptions,
  type MetricsReport,
} from './eval/metrics.js';
export {
  renderStudyHtml,
  renderStudyMarkdown,
  type Study,
  type StudyModel,
} from './eval/report.js';
export {
  alignPredictions,
  parseRsnaLabels,
  parseSubmission,
  type RsnaLabels,
  type RsnaSubmission,
  readRsnaLabels,
  readSubmission,
  writeSubmission,
} from './eval/rsna.js';
export { formatMetricsTable } from './eval/table.js';
export {
  type CamMaps,
  camLayer,
  camToSlice,
  GradCam,
  PointingGame,
  type PointingRow,
  pointingHit,
} from './infer/gradcam.js';
export {
  type ExportOnnxOptions,
  type ExportRunOptions,
  type ExportRunResult,
  exportOnnx,
  exportRunToOnnx,
} from './infer/onnx-export.js';
export { inspectModel as inspectOnnx, type OnnxHeader } from './infer/onnx-proto.js';
export { type OnnxLoadOptions, OnnxModel } from './infer/onnx-runtime.js';
export {
  type CachePointing,
  type LabelMask,
  maskBits,
  pointingCsv,
  pointingOnCache,
  readMask,
} from './infer/pointing.js';
export {
  type InferenceRuntime,
  predictFiles,
  type SlicePrediction,
  tfjsRuntime,
} from './infer/predict.js';
export {
  groupSeries,
  groupStudies,
  type Series,
  type SliceRef,
  type Study as SeriesStudy,
} from './infer/series.js';
// Files.
export { decodeNpy, encodeNpy } from './io/npy.js';
export { decodePng, encodePngGray8, encodePngRgb8 } from './io/png.js';
export {
  adaptInputConv,
  archSpec,
  backbone,
  buildModel,
  resetHead,
  withHead,
} from './models/index.js';
export { REGISTRY } from './models/registry.js';
export { loadSavedModel, readModelMetadata, saveLayersModel } from './run/checkpoint.js';
export {
  resolveSynthOptions,
  SYNTH_DEFAULTS,
  type SynthOptions,
  type SynthOptionsInput,
} from './synth/options.js';
export { LABELS, SUBTYPES } from './synth/subtypes.js';
export { resolveTrainConfig, type TrainConfig, type TrainOptionsInput } from './train/config.js';
export { predictCache } from './train/predict.js';
export { type EpochRecord, type TrainOptions, type TrainResult, train } from './train/train.js';
