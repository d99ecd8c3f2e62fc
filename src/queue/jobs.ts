/**
 * The jobs ichdet puts on its queues: their names, their data (paths and options only, never
 * pixels) and their ids. An id is a hash of the job's kind and data, so submitting the same work
 * twice names the same job and BullMQ keeps one: resubmission never duplicates work or outputs.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { CompareOptions } from '../commands/compare.js';
import type { CvConfig } from '../commands/cv.js';
import type { PredictFormat, PredictOptions } from '../commands/predict.js';

/** The queues a worker can serve (`--queues`). */
export const QUEUE_NAMES = ['prepare', 'train', 'predict'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** The environment variable `ichdet worker` passes its --store to its job processes in. */
export const STORE_ENV = 'ICHDET_STORE';
/**
 * Set (to the queue's name) in the environment of the job processes a worker starts for its
 * prepare queue: they load prepare's modules and start a decoding thread before their first job.
 */
export const WARM_ENV = 'ICHDET_WARM';

/** Redis key prefix of every ichdet queue. */
export const QUEUE_PREFIX = 'ichdet';

/** One partition of a prepare: `prepare --shard K/N` into the store, published with a manifest. */
export interface PrepareShardData {
  /**
   * The merge's --out: a BullMQ job has one parent, so two prepares of the same images (another
   * --out) must not name the same shard jobs (the second merge would wait for them forever).
   */
  out?: string;
  images: string;
  labels?: string;
  size: number;
  /** As the user gave them; absent: the defaults. */
  windows?: string;
  rsnaFix: boolean;
  /** `head` when the slices are cropped to the head; absent: no crop (the job ids stay). */
  crop?: 'head';
  recordsPerShard: number;
  shard: string;
  /**
   * How `shard` splits the file list: always `block` (contiguous runs, whose shard files the merge
   * takes as they are); in the data so that the job ids name the layout.
   */
  partition: 'block';
  /** Threads of the shard's prepare (the cache's bytes do not depend on it). */
  workers: number;
}

/** The merge of a prepare's partitions: the parent of the shard jobs in a BullMQ flow. */
export interface PrepareMergeData {
  out: string;
  /** The shard jobs' ids, in K order; their caches lie in STORE/work/<id>. */
  shards: string[];
}

/** Compare's options as a job carries them (no callbacks). */
export type CompareJobOptions = Omit<CompareOptions, 'log' | 'progress' | 'archs'> & {
  archs: string[];
  workers: number;
};

/** One architecture of a compare: `train` into OUT/runs/<arch>, resuming from its last/. */
export interface TrainArchData {
  compare: CompareJobOptions;
  arch: string;
}

/** The compare report, once every architecture is trained: the parent of the train jobs. */
export interface CompareReportData {
  compare: CompareJobOptions;
}

/** One fold of a cv: `train` into OUT/runs/fold<k>, resuming from its last/. */
export interface CvFoldData {
  cv: CvConfig;
  out: string;
  k: number;
}

/** The cv's out-of-fold predictions and metrics, once every fold is trained. */
export interface CvReportData {
  cv: CvConfig;
  out: string;
}

/** Predict's options as a job carries them: the model and inference settings (absolute paths). */
export type PredictJobOptions = Pick<
  PredictOptions,
  'model' | 'tta' | 'runtime' | 'onnxBackend' | 'threshold' | 'seriesModel' | 'topK' | 'workers'
> & { backend?: string };

/**
 * One study of a `predict --queue`: predict on its files, published to STORE/work/<key>. The key
 * depends on the study alone (model, options, files), so another predict over the same study (more
 * studies, another --out or --format) finds its output and predicts nothing again; the job id
 * also holds `flow`, since a BullMQ job has one parent.
 */
export interface PredictStudyData {
  predict: PredictJobOptions;
  study: string;
  /** The study's files (absolute), in the order predict reads them. */
  files: string[];
  /** For each file, its series' index among the study's series (in predict's series order). */
  seriesOf: number[];
  /** Where the output lies: STORE/work/<key> (studyKey). */
  key: string;
  /** A hash of the merge's own data: the job belongs to that merge alone. */
  flow: string;
}

/** The merge of a `predict --queue`'s studies into the outputs a local predict writes. */
export interface PredictMergeData {
  predict: PredictJobOptions;
  /** The inputs as given, absolute (predict.json's `inputs`). */
  inputs: string[];
  out: string;
  format: PredictFormat;
  /** Files listed under the inputs. */
  files: number;
  /** Files the header scan rejected, in file order (they come first in rejects.csv). */
  rejects: { file: string; reason: string }[];
  /** The study outputs' keys (STORE/work/<key>), in study order. */
  studies: string[];
  /** For each study job, the global index of each of its series in predict's series order. */
  ranks: number[][];
}

export type JobData =
  | { name: 'prepare-shard'; data: PrepareShardData }
  | { name: 'prepare-merge'; data: PrepareMergeData }
  | { name: 'train-arch'; data: TrainArchData }
  | { name: 'compare-report'; data: CompareReportData }
  | { name: 'cv-fold'; data: CvFoldData }
  | { name: 'cv-report'; data: CvReportData }
  | { name: 'predict-study'; data: PredictStudyData }
  | { name: 'predict-merge'; data: PredictMergeData };

export type JobName = JobData['name'];

/** A flow: its children on one queue, then its parent once they have all completed. */
export interface FlowSpec {
  queue: QueueName;
  parent: JobData;
  children: JobData[];
}

/** JSON with object keys sorted, so equal data hashes equally whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `<name>-<first 20 hex of sha256(name, data)>`: a BullMQ custom id (no `:`). */
export function jobId(job: JobData): string {
  const h = createHash('sha256')
    .update(`${job.name}\n${canonicalJson(job.data)}`)
    .digest('hex');
  return `${job.name}-${h.slice(0, 20)}`;
}

/** This process's worker name: `host:c<concurrency>:pid` (BullMQ's processedBy, the client name). */
export function workerName(concurrency: number): string {
  return `${hostname()}:c${concurrency}:${process.pid}`;
}

/** The concurrency a worker name records (1 for a name without it). */
export function concurrencyOf(name: string): number {
  const m = /:c(\d+):\d+$/.exec(name);
  return m ? Number(m[1]) : 1;
}
