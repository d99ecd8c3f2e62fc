/**
 * The files of a run folder, named in one place. A training run (`ichdet train --out RUN`):
 *
 *     RUN/config.json       the full training config (run/config.ts)
 *     RUN/metrics.jsonl     one line per epoch
 *     RUN/last/             the latest checkpoint: model.json + weights.bin (the model card in
 *                           model.json), optimizer.json + optimizer.bin, state.json
 *     RUN/best/             the best checkpoint on --monitor (model.json + weights.bin)
 *     RUN/best/model.onnx   the ONNX export, when `ichdet export-onnx` wrote it there
 *     RUN/eval/metrics.json the evaluation of a checkpoint (`ichdet evaluate`)
 *
 * A model folder (a checkpoint) is any folder with model.json; every command that takes a run
 * also takes a model folder.
 */

export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
export const LAST_DIR = 'last';
export const BEST_DIR = 'best';
export const STATE_FILE = 'state.json';
export const OPTIMIZER_JSON = 'optimizer.json';
export const OPTIMIZER_BIN = 'optimizer.bin';
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const ONNX_FILE = 'model.onnx';
export const EVAL_DIR = 'eval';
export const EVAL_METRICS_FILE = 'metrics.json';

/** Which checkpoint of a run: the best on the monitored metric, or the latest. */
export type CheckpointName = 'best' | 'last';
export const CHECKPOINTS: readonly CheckpointName[] = ['best', 'last'];
