/**
 * The stage-2 series model, after the 1st-place RSNA 2019 design: per slice the stage-1
 * probabilities, their logits and Δz to the next slice (optionally the stage-1 embedding through a
 * shared per-slice MLP), a body of 1-D convolutions along the slice axis (k5 → c1; k3 dilation 2,
 * k3 dilation 4, k3 dilation 2 → c2; masked batch norm + ReLU each), and two per-slice heads whose
 * logits are summed with the stage-1 logit: a 1-D conv head (k3 → 6) and a bidirectional GRU head
 * (→ dense 6). A study head pools the series' states — body, GRU and slice logits — by masked
 * attention and masked max into one learned `any` logit per series.
 *
 * Written with plain tfjs-core ops on named variables, not tfjs-layers, for two reasons:
 * - tfjs' Conv2D gradient rejects dilation > 1, so a dilated conv here is one matrix product and
 *   k shifted slices: y[t] = Σⱼ x[t + (j − (k−1)/2)·d] · W[j] (`dilatedConv1d`), zeros outside;
 * - padding is masked exactly: series of a batch are right-padded, every block's activation is
 *   multiplied by the mask (so a conv at a real slice sees zeros past the series' end exactly as
 *   it sees them at an unpadded series' edge), batch-norm statistics are taken over real slices
 *   only, the GRU holds its state over padded steps (the backward pass meets the padding first
 *   and keeps its zero initial state), and the study pooling ignores padded positions. Real
 *   slices' outputs are the same with or without padding (tested).
 *
 * Weights are saved as `model.json` (this config and a tfjs weights manifest) + `weights.bin`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, InputError } from '../errors.js';
import { LABEL_COUNT } from '../labels.js';
import { MODEL_JSON, WEIGHTS_BIN } from '../run/layout.js';
import { Rng } from '../util/rng.js';
import { SLICE_INPUTS } from './slice-inputs.js';

/** Per-slice inputs besides the embedding: 6 probabilities, 6 scaled logits, Δz / 5 mm. */
export { SLICE_INPUTS };
export const SERIES_MODEL_FORMAT = 'ichdet-series';

export interface SeriesModelConfig {
  /** Width of the first conv block (k5). */
  c1: number;
  /** Width of the dilated blocks. */
  c2: number;
  /** GRU units per direction. */
  gru: number;
  /** Stage-1 embedding width fed through the per-slice MLP (D → 512 → 128); 0 = not used. */
  embedding: number;
  /** Dropout of the embedding MLP (training only). */
  dropout: number;
  seed: number;
}

export const DEFAULT_SERIES_MODEL: SeriesModelConfig = {
  c1: 64,
  c2: 32,
  gru: 32,
  embedding: 0,
  dropout: 0.5,
  seed: 0,
};

/** The body's blocks: kernel size and dilation; widths c1 then c2. */
export const BLOCKS = [
  { k: 5, d: 1 },
  { k: 3, d: 2 },
  { k: 3, d: 4 },
  { k: 3, d: 2 },
] as const;
const BN_MOMENTUM = 0.9;
export const BN_EPS = 1e-3;
export function resolveSeriesModelConfig(o: Partial<SeriesModelConfig> = {}): SeriesModelConfig {
  const c = { ...DEFAULT_SERIES_MODEL, ...o };
  for (const k of ['c1', 'c2', 'gru'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) {
      throw new ConfigError(`series model ${k} must be a positive integer, received ${c[k]}`);
    }
  }
  if (!Number.isInteger(c.embedding) || c.embedding < 0) {
    throw new ConfigError(`series model embedding must be an integer ≥ 0, received ${c.embedding}`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    throw new ConfigError(`series model dropout must be in [0, 1), received ${c.dropout}`);
  }
  return c;
}

/**
 * `z` shifted along axis 1 (time): out[:, t] = z[:, t + o], zero where t + o is outside [0, T).
 */
export function shiftTime(z: tf.Tensor3D, o: number): tf.Tensor3D {
  const [b, t, c] = z.shape;
  if (o === 0) return z;
  if (Math.abs(o) >= t) return tf.zeros([b, t, c]);
  if (o > 0) {
    return tf.pad(tf.slice(z, [0, o, 0], [b, t - o, c]), [
      [0, 0],
      [0, o],
      [0, 0],
    ]);
  }
  return tf.pad(tf.slice(z, [0, 0, 0], [b, t + o, c]), [
    [0, 0],
    [-o, 0],
    [0, 0],
  ]);
}

/**
 * A 'same'-padded dilated 1-D convolution, x [B, T, C] × kernel [k, C, C'] → [B, T, C']:
 * y[t] = Σⱼ x[t + (j − (k−1)/2)·d] · kernel[j], zeros outside the series (k odd). One matrix
 * product of x with all k taps, then the k tap outputs shifted and added — only matMul, slice,
 * pad and add, whose gradients tfjs has on every backend.
 */
export function dilatedConv1d(x: tf.Tensor3D, kernel: tf.Tensor3D, dilation: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, t, c] = x.shape;
    const [k, cin, cout] = kernel.shape;
    if (cin !== c || k % 2 !== 1) {
      throw new ConfigError(
        `dilatedConv1d needs an odd kernel over ${c} channels, received [${kernel.shape.join(', ')}]`,
      );
    }
    // [C, k·C']: column block j is tap j.
    const w = tf.reshape(tf.transpose(kernel, [1, 0, 2]), [c, k * cout]) as tf.Tensor2D;
    const all = tf.reshape(tf.matMul(tf.reshape(x, [b * t, c]) as tf.Tensor2D, w), [
      b,
      t,
      k * cout,
    ]) as tf.Tensor3D;
    let y: tf.Tensor3D | null = null;
    for (let j = 0; j < k; j++) {
      const tap = tf.slice(all, [0, 0, j * cout], [b, t, cout]);
      const shifted = shiftTime(tap, (j - (k - 1) / 2) * dilation);
      y = y === null ? shifted : (tf.add(y, shifted) as tf.Tensor3D);
    }
    return y!;
  });
}

interface Spec {
  name: string;
  shape: number[];
  init: 'glorot' | 'zeros' | 'ones' | 'small';
  trainable: boolean;
}

function specsOf(c: SeriesModelConfig): Spec[] {
  const s: Spec[] = [];
  const w = (name: string, shape: number[], init: Spec['init'] = 'glorot') =>
    s.push({ name, shape, init, trainable: true });
  const bn = (name: string, ch: number) => {
    w(`${name}_gamma`, [ch], 'ones');
    w(`${name}_beta`, [ch], 'zeros');
    s.push({ name: `${name}_moving_mean`, shape: [ch], init: 'zeros', trainable: false });
    s.push({ name: `${name}_moving_variance`, shape: [ch], init: 'ones', trainable: false });
  };
  let inputs = SLICE_INPUTS;
  if (c.embedding > 0) {
    w('emb_dense1_kernel', [c.embedding, 512]);
    w('emb_dense1_bias', [512], 'zeros');
    bn('emb_bn1', 512);
    w('emb_dense2_kernel', [512, 128]);
    w('emb_dense2_bias', [128], 'zeros');
    bn('emb_bn2', 128);
    inputs += 128;
  }
  for (const [i, b] of BLOCKS.entries()) {
    const out = i === 0 ? c.c1 : c.c2;
    w(`conv${i + 1}_kernel`, [b.k, inputs, out]);
    w(`conv${i + 1}_bias`, [out], 'zeros');
    bn(`conv${i + 1}_bn`, out);
    inputs = out;
  }
  w('conv_head_kernel', [3, c.c2, LABEL_COUNT], 'small');
  w('conv_head_bias', [LABEL_COUNT], 'zeros');
  for (const dir of ['fwd', 'bwd']) {
    w(`gru_${dir}_kernel`, [c.c2, 3 * c.gru]);
    w(`gru_${dir}_recurrent_kernel`, [c.gru, 3 * c.gru]);
    w(`gru_${dir}_bias`, [3 * c.gru], 'zeros');
  }
  w('gru_head_kernel', [2 * c.gru, LABEL_COUNT], 'small');
  w('gru_head_bias', [LABEL_COUNT], 'zeros');
  const pooled = c.c2 + 2 * c.gru + LABEL_COUNT;
  w('study_attention_kernel', [pooled, 1]);
  w('study_attention_bias', [1], 'zeros');
  w('study_kernel', [2 * pooled, 1], 'small');
  w('study_bias', [1], 'zeros');
  return s;
}

function initValue(spec: Spec, rng: Rng): tf.Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init === 'zeros') return tf.zeros(spec.shape);
  if (spec.init === 'ones') return tf.ones(spec.shape);
  // Glorot uniform over the last two axes, the leading ones (conv taps) as receptive field.
  const out = spec.shape[spec.shape.length - 1]!;
  const fanIn = size / out;
  const fanOut = (size / (spec.shape[spec.shape.length - 2] ?? 1)) | 0;
  let limit = Math.sqrt(6 / (fanIn + fanOut));
  if (spec.init === 'small') limit *= 0.1;
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) v[i] = rng.uniform(-limit, limit);
  return tf.tensor(v, spec.shape);
}

/** What the model computes for a batch of series. */
export interface SeriesOutput {
  /** Per-slice logits [B, T, 6]. */
  slices: tf.Tensor3D;
  /** Per-series `any` logits [B]. */
  study: tf.Tensor1D;
}

/** The inputs of a batch: features [B, T, F] (zero at padding) and mask [B, T] (1 real, 0 pad). */
export interface SeriesBatch {
  x: tf.Tensor3D;
  mask: tf.Tensor2D;
  /** Embeddings [B, T, D] when the model uses them. */
  emb?: tf.Tensor3D;
}

/** Variables are named per model instance (tfjs names variables globally). */
let instances = 0;

export class SeriesModel {
  readonly config: SeriesModelConfig;
  readonly specs: Spec[];
  readonly vars = new Map<string, tf.Variable>();
  private dropoutSeed: number;

  constructor(config: Partial<SeriesModelConfig> = {}) {
    this.config = resolveSeriesModelConfig(config);
    this.specs = specsOf(this.config);
    const rng = new Rng(this.config.seed, 0x5e71e5);
    const prefix = `series${instances++}`;
    for (const s of this.specs) {
      const v = initValue(s, rng);
      this.vars.set(s.name, tf.variable(v, s.trainable, `${prefix}/${s.name}`));
      v.dispose();
    }
    this.dropoutSeed = this.config.seed * 7919 + 1;
  }

  private v(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (v === undefined) throw new ConfigError(`series model has no weight ${name}`);
    return v;
  }

  trainable(): tf.Variable[] {
    return this.specs.filter((s) => s.trainable).map((s) => this.v(s.name));
  }

  parameterCount(): number {
    return this.specs
      .filter((s) => s.trainable)
      .reduce((a, s) => a + s.shape.reduce((p, q) => p * q, 1), 0);
  }

  /**
   * Batch norm over the channels of x [..., C], statistics over the real positions (m: same
   * leading shape with a trailing 1) in training, the moving averages otherwise.
   */
  private bn(name: string, x: tf.Tensor, m: tf.Tensor, training: boolean): tf.Tensor {
    const gamma = this.v(`${name}_gamma`);
    const beta = this.v(`${name}_beta`);
    const mm = this.v(`${name}_moving_mean`);
    const mv = this.v(`${name}_moving_variance`);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (training) {
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const count = tf.maximum(tf.sum(m), 1);
      mean = tf.div(tf.sum(tf.mul(x, m), axes), count);
      variance = tf.div(tf.sum(tf.mul(tf.square(tf.sub(x, mean)), m), axes), count);
      const mNew = tf.add(tf.mul(mm, BN_MOMENTUM), tf.mul(mean, 1 - BN_MOMENTUM));
      const vNew = tf.add(tf.mul(mv, BN_MOMENTUM), tf.mul(variance, 1 - BN_MOMENTUM));
      // A variable takes a reference to the new value's data, so the tidy may dispose it.
      mm.assign(mNew);
      mv.assign(vNew);
    } else {
      mean = mm;
      variance = mv;
    }
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPS))), gamma), beta);
  }

  private gru(x: tf.Tensor3D, mask: tf.Tensor2D, dir: 'fwd' | 'bwd'): tf.Tensor3D {
    const [b, t] = x.shape;
    const h = this.config.gru;
    const k = this.v(`gru_${dir}_kernel`);
    const u = this.v(`gru_${dir}_recurrent_kernel`);
    const bias = this.v(`gru_${dir}_bias`);
    const xw = tf.reshape(tf.add(tf.matMul(tf.reshape(x, [b * t, x.shape[2]]), k), bias), [
      b,
      t,
      3 * h,
    ]);
    const uzr = tf.slice(u, [0, 0], [h, 2 * h]);
    const uh = tf.slice(u, [0, 2 * h], [h, h]);
    // Time-major pieces taken once: slicing step i out of [b, t, ·] in the loop copied (and its
    // gradient padded back) the whole sequence at every step; unstack's gradient is one stack.
    const xws = tf.unstack(tf.transpose(xw, [1, 0, 2])) as tf.Tensor2D[];
    const ms = tf.unstack(tf.reshape(tf.transpose(mask), [t, b, 1])) as tf.Tensor2D[];
    let state: tf.Tensor2D = tf.zeros([b, h]);
    const outs: tf.Tensor2D[] = new Array(t);
    for (let s = 0; s < t; s++) {
      const i = dir === 'fwd' ? s : t - 1 - s;
      const xt = xws[i]!;
      const mt = ms[i]!;
      const zr = tf.sigmoid(tf.add(tf.slice(xt, [0, 0], [b, 2 * h]), tf.matMul(state, uzr)));
      const z = tf.slice(zr, [0, 0], [b, h]);
      const r = tf.slice(zr, [0, h], [b, h]);
      const hh = tf.tanh(tf.add(tf.slice(xt, [0, 2 * h], [b, h]), tf.matMul(tf.mul(r, state), uh)));
      const next = tf.add(tf.mul(z, state), tf.mul(tf.sub(1, z), hh));
      // Padded steps keep the state (and output zeros).
      state = tf.add(tf.mul(mt, next), tf.mul(tf.sub(1, mt), state));
      outs[i] = tf.mul(state, mt);
    }
    return tf.stack(outs, 1) as tf.Tensor3D;
  }

  private dropout(x: tf.Tensor, training: boolean): tf.Tensor {
    const rate = this.config.dropout;
    if (!training || rate === 0) return x;
    const keep = tf.cast(
      tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', this.dropoutSeed++), rate),
      'float32',
    );
    return tf.div(tf.mul(x, keep), 1 - rate);
  }

  /** Logits of a batch; call inside tf.tidy (or a gradient function). */
  apply(batch: SeriesBatch, training: boolean): SeriesOutput {
    const { x, mask } = batch;
    const [b, t] = x.shape;
    const m3 = tf.expandDims(mask, 2) as tf.Tensor3D;
    let hIn: tf.Tensor3D = x;
    if (this.config.embedding > 0) {
      if (batch.emb === undefined) throw new ConfigError('this series model needs embeddings');
      const d = this.config.embedding;
      const e2 = tf.reshape(batch.emb, [b * t, d]);
      const m2 = tf.reshape(mask, [b * t, 1]);
      let e = tf.add(tf.matMul(e2, this.v('emb_dense1_kernel')), this.v('emb_dense1_bias'));
      e = this.dropout(tf.relu(this.bn('emb_bn1', e, m2, training)), training);
      e = tf.add(
        tf.matMul(e as tf.Tensor2D, this.v('emb_dense2_kernel')),
        this.v('emb_dense2_bias'),
      );
      e = this.dropout(tf.relu(this.bn('emb_bn2', e, m2, training)), training);
      hIn = tf.concat([x, tf.mul(tf.reshape(e, [b, t, 128]), m3) as tf.Tensor3D], 2);
    }
    let h: tf.Tensor3D = tf.mul(hIn, m3);
    for (const [i, blk] of BLOCKS.entries()) {
      const n = `conv${i + 1}`;
      const c = tf.add(
        dilatedConv1d(h, this.v(`${n}_kernel`) as tf.Tensor3D, blk.d),
        this.v(`${n}_bias`),
      );
      h = tf.mul(tf.relu(this.bn(`${n}_bn`, c, m3, training)), m3);
    }
    const convHead = tf.add(
      dilatedConv1d(h, this.v('conv_head_kernel') as tf.Tensor3D, 1),
      this.v('conv_head_bias'),
    );
    const g = tf.concat([this.gru(h, mask, 'fwd'), this.gru(h, mask, 'bwd')], 2);
    const g2 = tf.reshape(g, [b * t, 2 * this.config.gru]);
    const gruHead = tf.reshape(
      tf.add(tf.matMul(g2, this.v('gru_head_kernel')), this.v('gru_head_bias')),
      [b, t, LABEL_COUNT],
    );
    // Stage-1 logits (features 6..11 hold logit / 4): the heads learn a correction to them.
    const skip = tf.mul(tf.slice(x, [0, 0, LABEL_COUNT], [b, t, LABEL_COUNT]), 4);
    const slices = tf.add(tf.add(convHead, gruHead), skip) as tf.Tensor3D;

    // Study head: masked attention pooling and masked max pooling of the series' states
    // [body, GRU, slice logits] (the max of the slice logits is one input it can learn to use).
    const s = tf.concat([h, g, slices], 2);
    const f = s.shape[2];
    const scores = tf.reshape(
      tf.add(
        tf.matMul(tf.reshape(s, [b * t, f]), this.v('study_attention_kernel')),
        this.v('study_attention_bias'),
      ),
      [b, t],
    );
    const att = tf.softmax(tf.add(scores, tf.mul(tf.sub(mask, 1), 1e9)));
    const attPool = tf.sum(tf.mul(s, tf.expandDims(att, 2)), 1);
    const maxPool = tf.max(tf.add(s, tf.mul(tf.sub(m3, 1), 1e9)), 1);
    const pooled = tf.concat([attPool, maxPool], 1) as tf.Tensor2D;
    const study = tf.reshape(
      tf.add(tf.matMul(pooled, this.v('study_kernel')), this.v('study_bias')),
      [b],
    ) as tf.Tensor1D;
    return { slices, study };
  }

  /** Writes model.json (format, config, weights manifest) and weights.bin into `dir`. */
  async save(dir: string, metadata: object = {}): Promise<void> {
    const named: tf.NamedTensorMap = {};
    for (const s of this.specs) named[s.name] = this.v(s.name);
    const { data, specs } = await tf.io.encodeWeights(named);
    const buf = data instanceof ArrayBuffer ? data : tf.io.CompositeArrayBuffer.join(data);
    writeFileSync(join(dir, WEIGHTS_BIN), new Uint8Array(buf));
    const json = {
      format: SERIES_MODEL_FORMAT,
      config: this.config,
      metadata,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
    };
    writeFileSync(join(dir, MODEL_JSON), `${JSON.stringify(json)}\n`);
  }

  /** Loads a model `save` wrote. @throws InputError naming the file and what is wrong. */
  static load(dir: string): SeriesModel {
    const file = join(dir, MODEL_JSON);
    let json: {
      format?: unknown;
      config?: Partial<SeriesModelConfig>;
      weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[];
    };
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InputError(`cannot read series model ${file}: ${(err as Error).message}`);
    }
    if (json.format !== SERIES_MODEL_FORMAT || json.weightsManifest?.[0] === undefined) {
      throw new InputError(`${file}: not an ${SERIES_MODEL_FORMAT} model`);
    }
    const model = new SeriesModel(json.config ?? {});
    let bin: Buffer;
    try {
      bin = readFileSync(join(dir, WEIGHTS_BIN));
    } catch {
      throw new InputError(`series model ${dir}: ${WEIGHTS_BIN} is missing`);
    }
    const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
    const tensors = tf.io.decodeWeights(ab, json.weightsManifest[0].weights);
    for (const s of model.specs) {
      const t = tensors[s.name];
      if (t === undefined || t.shape.join(',') !== s.shape.join(',')) {
        throw new InputError(`${file}: weight ${s.name} is missing or has the wrong shape`);
      }
      model.v(s.name).assign(t);
    }
    tf.dispose(Object.values(tensors));
    return model;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
