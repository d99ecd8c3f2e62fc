/**
 * Models on disk in the TensorFlow.js layers format — `model.json` (topology, weights manifest,
 * ichdet's metadata) and `weights.bin` — the format `tf.loadLayersModel` reads in a browser and
 * `tensorflowjs_converter` reads in Python. Written through tfjs-core's IO handler interface
 * with plain `fs`, so no tfjs-node is needed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { InputError } from '../errors.js';
import { MODEL_JSON, WEIGHTS_BIN } from './layout.js';
// Registers ichdet's custom layers (Normalization, ChannelRescaling) for deserialisation.
import '../models/layers.js';

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return data instanceof ArrayBuffer ? data : tf.io.CompositeArrayBuffer.join(data);
}

/** Saves `model` to `dir` (created) as model.json + weights.bin, with its card (model-card.ts) in model.json. */
export async function saveLayersModel(
  model: LayersModel,
  dir: string,
  metadata: object = {},
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const weightData =
        a.weightData === undefined ? new ArrayBuffer(0) : joinWeightData(a.weightData);
      const json: tf.io.ModelJSON = {
        modelTopology: a.modelTopology ?? {},
        format: a.format ?? 'layers-model',
        generatedBy: a.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
        convertedBy: null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs ?? [] }],
        userDefinedMetadata: { ichdet: metadata },
      };
      writeFileSync(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      writeFileSync(join(dir, MODEL_JSON), `${JSON.stringify(json)}\n`);
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    }),
    { includeOptimizer: false },
  );
}

/** The raw `ichdet` metadata of a saved model (what `saveLayersModel` wrote); see model-card.ts. */
export function readModelMetadata(dir: string): Record<string, unknown> {
  const json = readModelJson(dir);
  const meta = json.userDefinedMetadata?.ichdet;
  return meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>) : {};
}

export function readModelJson(dir: string): tf.io.ModelJSON {
  const file = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`no saved model in ${dir}: ${MODEL_JSON} is missing`);
  }
  try {
    return JSON.parse(text) as tf.io.ModelJSON;
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Loads a model saved by `saveLayersModel` (or any single-file tfjs layers model) from `dir`. */
export async function loadSavedModel(dir: string): Promise<LayersModel> {
  const json = readModelJson(dir);
  const handler: tf.io.IOHandler = {
    load: async () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = join(dir, p);
            let b: Buffer;
            try {
              b = readFileSync(file);
            } catch {
              throw new InputError(`saved model ${dir}: weight file ${p} is missing`);
            }
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      }),
  };
  return loadLayersModel(handler);
}
