/**
 * The model card: what a saved ichdet model says about itself, stored in its model.json
 * (`userDefinedMetadata.ichdet`) by training and copied into an ONNX export's metadata. It is
 * the contract between training and every consumer (evaluate, predict, Grad-CAM, ONNX, the
 * viewer, the PACS service): the architecture, the input it expects and how the cache that fed
 * it was made. Read back through `readModelCard`, which checks each field's type, and
 * `inputCard`, which also requires what inference needs.
 */
import { ConfigError } from '../errors.js';
import type { Preprocessing } from '../models/registry.js';
import { readModelMetadata } from './checkpoint.js';
import { MODEL_JSON } from './layout.js';

export interface CardWindow {
  name: string;
  center: number;
  width: number;
}

/** A model card as stored; only `arch`, `size` and `channels` are present in every model. */
export interface ModelCard {
  arch: string;
  /** Input side in pixels. */
  size: number;
  /** Input channels (cache channels × (2·context + 1)). */
  channels: number;
  /** 2.5D neighbours each side. */
  context?: 0 | 1 | 2;
  preprocessing?: Preprocessing;
  cacheChannels?: number;
  cacheSize?: number;
  windows?: CardWindow[];
  /** Whether the RSNA 12-bit fix was applied when the cache was made (default true). */
  rsnaFix?: boolean;
  /** `head`: slices were cropped to the head before resizing (default `none`). */
  crop?: 'none' | 'head';
  labels?: string[];
  ichdetVersion?: string;
  epoch?: number;
  step?: number;
  optimizerSteps?: number;
  monitor?: string;
  value?: number | null;
}

/** A card with everything inference needs to rebuild the model input from DICOM. */
export interface InputCard extends ModelCard {
  context: 0 | 1 | 2;
  preprocessing: Preprocessing;
  cacheChannels: number;
  cacheSize: number;
  windows: CardWindow[];
  rsnaFix: boolean;
  crop: 'none' | 'head';
}

type Check = (v: unknown) => boolean;
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const posInt: Check = (v) => Number.isInteger(v) && (v as number) > 0;
const CHECKS: Record<keyof ModelCard, [Check, string]> = {
  arch: [(v) => typeof v === 'string' && v !== '', 'an architecture name'],
  size: [posInt, 'a positive integer'],
  channels: [posInt, 'a positive integer'],
  context: [(v) => v === 0 || v === 1 || v === 2, '0, 1 or 2'],
  preprocessing: [(v) => v === 'caffe' || v === 'tf' || v === 'none', 'caffe, tf or none'],
  cacheChannels: [posInt, 'a positive integer'],
  cacheSize: [posInt, 'a positive integer'],
  windows: [
    (v) =>
      Array.isArray(v) &&
      v.every(
        (w) =>
          w !== null &&
          typeof w === 'object' &&
          typeof (w as CardWindow).name === 'string' &&
          num((w as CardWindow).center) &&
          num((w as CardWindow).width),
      ),
    'a list of {name, center, width}',
  ],
  rsnaFix: [(v) => typeof v === 'boolean', 'true or false'],
  crop: [(v) => v === 'none' || v === 'head', 'none or head'],
  labels: [(v) => Array.isArray(v) && v.every((s) => typeof s === 'string'), 'a list of names'],
  ichdetVersion: [(v) => typeof v === 'string', 'a version string'],
  epoch: [num, 'a number'],
  step: [num, 'a number'],
  optimizerSteps: [num, 'a number'],
  monitor: [(v) => typeof v === 'string', 'a metric name'],
  value: [(v) => v === null || num(v), 'a number or null'],
};

/**
 * Checks a card's fields (those present; unknown extra fields are kept); ConfigError names the
 * file, the field and the value received.
 */
export function parseModelCard(meta: Record<string, unknown>, where: string): ModelCard {
  for (const k of ['arch', 'size', 'channels'] as const) {
    if (meta[k] === undefined) {
      throw new ConfigError(
        `${where} has no ichdet metadata "${k}"; was it saved by ichdet train?`,
      );
    }
  }
  for (const [k, [ok, what]] of Object.entries(CHECKS) as [keyof ModelCard, [Check, string]][]) {
    const v = meta[k];
    if (v !== undefined && !ok(v)) {
      throw new ConfigError(
        `${where}: ichdet metadata "${k}" must be ${what}, received ${JSON.stringify(v)}`,
      );
    }
  }
  return meta as unknown as ModelCard;
}

/** The card of the model saved in `dir` (checked); ConfigError when it has none. */
export function readModelCard(dir: string): ModelCard {
  return parseModelCard(readModelMetadata(dir), `${dir}/${MODEL_JSON}`);
}

/**
 * Requires the fields inference needs; `rsnaFix` defaults to true and `crop` to none (models
 * saved before they were stored).
 */
export function toInputCard(card: ModelCard, where: string): InputCard {
  for (const k of ['context', 'preprocessing', 'cacheChannels', 'cacheSize', 'windows'] as const) {
    if (card[k] === undefined) {
      throw new ConfigError(
        `${where} has no ichdet metadata "${k}"; was it saved by ichdet train?`,
      );
    }
  }
  return { ...card, rsnaFix: card.rsnaFix ?? true, crop: card.crop ?? 'none' } as InputCard;
}

/** The input card of the model saved in `dir`. */
export function inputCard(dir: string): InputCard {
  return toInputCard(readModelCard(dir), `${dir}/${MODEL_JSON}`);
}
