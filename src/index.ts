/**
 * ichdet as a library: every CLI command is a typed function exported here, next to the
 * building blocks it is made of.
 */

export { BACKENDS, type BackendChoice, initBackend } from './backend/init.js';
export { registerWasmTrainingKernels } from './backend/kernels.js';
// Training, evaluation and the study.
export {
  type CompareOptions,
  type CompareResult,
  compare,
  parseArchs,
} from './commands/compare.js';
export {
  type CvConfig,
  type CvOptions,
  type CvResult,
  checkFoldRuns,
  cv,
  foldTrainSplits,
  splitFolds,
} from './commands/cv.js';
export {
  type DemoOptions,
  type DemoPlan,
  type DemoResult,
  demo,
  demoPlan,
} from './commands/demo.js';
export { type EvaluateOptions, type EvaluateResult, evaluate } from './commands/evaluate.js';
export {
  type EvaluateSeriesOptions,
  type EvaluateSeriesResult,
  evaluateSeries,
} from './commands/evaluate-series.js';
// Commands (one per CLI command).
export { type ExportOptions, type ExportResult, exportSlice } from './commands/export.js';
export {
  type ExportOnnxCommandOptions,
  type ExportOnnxCommandResult,
  exportOnnxCommand,
} from './commands/export-onnx.js';
export {
  type ExportSeriesOnnxOptions,
  type ExportSeriesOnnxResult,
  exportSeriesOnnxCommand,
} from './commands/export-series-onnx.js';
export { type IndexOptions, type IndexResult, indexImages } from './commands/index-meta.js';
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
  writePredictOutputs,
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
// The web viewer (ichdet view).
export { type ViewOptions, type ViewResult, view } from './commands/view.js';
// The PACS triage service (ichdet watch).
export { type WatchOptions, type WatchResult, watch } from './commands/watch.js';
// Slice identity and labels.
export { compareSlices, contextIndices, imageIdOf } from './data/series.js';
// DICOM layer.
export {
  CodecsNotLoadedError,
  codecsReady,
  decodeFrame,
  encodeFrame,
  initCodecs,
} from './dicom/codecs.js';
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
export { sliceNormal, slicePosition } from './dicom/geometry.js';
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
export {
  decodeSlice,
  type ReadOptions,
  readAttributes,
  readSlice,
  withCodecs,
} from './dicom/read.js';
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
  Interrupted,
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
  type SeriesStage,
  type SeriesStageMetrics,
  type Study,
  type StudyModel,
  stageGainText,
  stagesCsv,
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
// Inference as composable steps, for services that hold bytes (PACS, DICOMweb).
export {
  type InferenceConfig,
  type InferenceOptions,
  resolveInferenceConfig,
} from './infer/config.js';
export {
  type CamMaps,
  camLayer,
  camToBox,
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
export {
  type LoadedOrt,
  loadOrt,
  type ModuleImporter,
  NATIVE_INSTALL_LINE,
  ONNX_BACKENDS,
  ONNX_PACKAGES,
  type OnnxBackend,
  type OnnxBackendChoice,
  type OnnxLoadOptions,
  OnnxModel,
  parseOnnxBackend,
} from './infer/onnx-runtime.js';
export {
  type CachePointing,
  type LabelMask,
  maskBits,
  pointingCsv,
  pointingOnCache,
  readMask,
} from './infer/pointing.js';
export {
  type Aggregator,
  type InferenceRuntime,
  maxAggregator,
  type PredictInput,
  predictBatch,
  predictFiles,
  predictInputs,
  type SlicePrediction,
  scanInputs,
  seriesInputs,
  tfjsRuntime,
} from './infer/predict.js';
export {
  type CachePredictions,
  predictCache,
  predictCacheWithEmbeddings,
} from './infer/predict-cache.js';
export { RUNTIMES, type RuntimeName, TTA_MODES, type TtaMode } from './infer/runtime.js';
export { startRuntime } from './infer/runtimes.js';
export {
  groupSeries,
  groupStudies,
  type Series,
  type SliceRef,
  type Study as SeriesStudy,
} from './infer/series.js';
export {
  type PredictionsWithEmbeddings,
  startTfjsRuntime,
  type TfjsRuntime,
} from './infer/tfjs-runtime.js';
// Files.
export { decodeNpy, encodeNpy } from './io/npy.js';
export { decodePng, encodePngGray8, encodePngRgb8 } from './io/png.js';
export { ANY_INDEX, LABEL_COUNT, LABEL_NAMES, SUBTYPE_NAMES } from './labels.js';
export {
  adaptInputConv,
  archSpec,
  backbone,
  buildModel,
  resetHead,
  withHead,
} from './models/index.js';
export {
  ARCH_NAMES,
  type ArchName,
  REGISTRY,
  type ResolveArchOptions,
  resolveArch,
} from './models/registry.js';
// Jobs on BullMQ + Redis workers (ichdet worker, jobs, prepare/compare/cv/predict --queue).
export { checkRedis, redisOptions } from './queue/connection.js';
export type { Submitted } from './queue/flow.js';
export { jobId, QUEUE_NAMES } from './queue/jobs.js';
export { predictFlow } from './queue/predict.js';
export {
  checkOutputOf,
  type Manifest,
  publish,
  seal,
  verifyPublished,
} from './queue/publish.js';
export { formatJobs, listJobs, type QueueStatus } from './queue/status.js';
export {
  type CompareQueueOptions,
  type CvQueueOptions,
  compareFlow,
  cvFlow,
  type PredictQueueOptions,
  submitCompare,
  submitCv,
  submitPredict,
} from './queue/submit.js';
export {
  defaultShards,
  type PrepareQueueOptions,
  prepareFlow,
  submitPrepare,
} from './queue/submit-prepare.js';
export { runWorker, type WorkerOptions } from './queue/worker.js';
export { loadSavedModel, readModelMetadata, saveLayersModel } from './run/checkpoint.js';
export { readTrainConfig } from './run/config.js';
export { recoverFolder, writeFolder } from './run/folder.js';
// The run folder's home: layout, typed config, model card, atomic folder swap.
export {
  type CheckpointName,
  CONFIG_FILE,
  MODEL_JSON,
  ONNX_FILE,
} from './run/layout.js';
export {
  type InputCard,
  inputCard,
  type ModelCard,
  readModelCard,
} from './run/model-card.js';
export {
  ModelFolder,
  openRun,
  RunFolder,
  resolveModelDir,
  type ThresholdChoice,
} from './run/run.js';
export {
  loadSeriesAggregator,
  loadSeriesOnnxAggregator,
  type SeriesAggregator,
  seriesThreshold,
} from './series/aggregator.js';
export {
  evaluateSeriesRun,
  isSeriesRun,
  readSeriesConfig,
  type SeriesEvaluation,
} from './series/evaluate.js';
// Stage 2: the out-of-fold features the series model learns from.
export {
  compareFeatureRows,
  FEATURES_COLUMNS,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  type FeaturePart,
  type FeatureRow,
  type Features,
  type FeaturesInput,
  type FeaturesMeta,
  readFeatures,
  writeFeatures,
} from './series/features.js';
export {
  applyFoldNorm,
  FOLD_NORM_FILE,
  type FoldNorm,
  fitFoldNorm,
} from './series/fold-norm.js';
export {
  type MetricBlock,
  type StudyBlock,
  smoothAlongZ,
} from './series/metrics.js';
export {
  DEFAULT_SERIES_MODEL,
  dilatedConv1d,
  SeriesModel,
  type SeriesModelConfig,
} from './series/model.js';
export {
  exportSeriesOnnx,
  loadSeriesOnnx,
  predictSeriesOnnx,
  SERIES_ONNX_FILE,
  type SeriesOnnxModel,
  seriesOnnxProto,
} from './series/onnx.js';
export {
  type FeatureSeries,
  type FeatureSet,
  loadFeatureSeries,
} from './series/read-features.js';
export {
  predictSeries,
  resolveTrainSeriesConfig,
  type SeriesMetrics,
  type TrainSeriesConfig,
  type TrainSeriesOptions,
  type TrainSeriesResult,
  trainSeries,
} from './series/train.js';
export {
  resolveSynthOptions,
  SYNTH_DEFAULTS,
  type SynthOptions,
  type SynthOptionsInput,
} from './synth/options.js';
export { LABELS, SUBTYPES } from './synth/subtypes.js';
export { resolveTrainConfig, type TrainConfig, type TrainOptionsInput } from './train/config.js';
export { type EpochRecord, type TrainOptions, type TrainResult, train } from './train/train.js';
// Progress and cancellation.
export {
  jsonReporter,
  type ReportEvent,
  type Reporter,
  reporterOf,
  silentReporter,
  terminalReporter,
} from './util/reporter.js';
export { OrthancClient, PacsError, PacsUnavailable, StowTarget } from './watch/orthanc.js';
export { DEFAULT_RULES, parseRules, type SeriesRules, selectSeries } from './watch/rules.js';
export { readSrProbabilities } from './watch/sr.js';
