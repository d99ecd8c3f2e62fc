/**
 * The series model as ONNX, so `predict --runtime onnx` runs both stages in ONNX Runtime.
 *
 * Graph (one series, any length T; inference: batch norm with its moving statistics, no dropout,
 * no padding so no mask):
 * - inputs `x` [1, T, 13] (per slice: 6 clipped probabilities, 6 logits / 4, Δz / 5 mm — the
 *   same inputs `predictSeries` builds) and, for a model trained with `--embeddings`,
 *   `embeddings` [1, T, D];
 * - the embedding MLP (MatMul, batch norm folded into Mul + Add, Relu) concatenated to x;
 * - the four convolution blocks as ONNX `Conv` over [1, C, T] with `dilations` d and `pads`
 *   d·(k−1)/2 each side: y[t] = Σⱼ x[t + (j − (k−1)/2)·d] W[j], exactly `dilatedConv1d`;
 *   batch norm folded, Relu;
 * - the conv head (Conv k3), the bidirectional GRU (ONNX `GRU`, gates z, r, h as the model
 *   stores them, `linear_before_reset` 0: the reset gate multiplies the state before the
 *   recurrent matrix, input bias only) and its dense head; slice logits = conv head + GRU head +
 *   4 × x[..., 6:12] (the stage-1 logit);
 * - the study head: attention (softmax over T) and max pooling of [body, GRU, slice logits].
 * Outputs `slices` [1, T, 6] and `study` [1], both probabilities (sigmoid applied).
 *
 * Parity with the tfjs model is tested (≤ 1e-4, several lengths). The forward/reversed average
 * of `predictSeries` is done by the caller, which runs the graph on both orders
 * (`predictSeriesOnnx`).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, InputError } from '../errors.js';
import { attrInt, attrInts, attrString, floatValueInfo, OnnxGraph } from '../infer/onnx-graph.js';
import { encodeModel, inspectModel, type ModelProto } from '../infer/onnx-proto.js';
import { loadOrt, type OnnxBackend, type OnnxLoadOptions } from '../infer/onnx-runtime.js';
import { LABEL_COUNT } from '../labels.js';
import { BLOCKS, BN_EPS, type SeriesModel, SLICE_INPUTS } from './model.js';
import type { FeatureSeries, FeatureSet } from './read-features.js';
import { averageDirections } from './slice-inputs.js';
import { reverseSeries, seriesModelInput } from './train.js';

export const SERIES_ONNX_X = 'x';
export const SERIES_ONNX_EMB = 'embeddings';
export const SERIES_ONNX_SLICES = 'slices';
export const SERIES_ONNX_STUDY = 'study';
export const SERIES_ONNX_FILE = 'model.onnx';
const OPSET = 17;

/** [k, in, out] (tfjs layout of the series model) → [out, in, k] (ONNX Conv). */
function convWeight(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let j = 0; j < k; j++)
    for (let i = 0; i < cin; i++)
      for (let o = 0; o < cout; o++) out[(o * cin + i) * k + j] = w[(j * cin + i) * cout + o]!;
  return out;
}

/** [in, 3h] (z | r | h columns) → [3h, in] (ONNX GRU W or R, one direction). */
function transpose2(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

/** The ONNX ModelProto of a series model (see the file comment for the graph). */
export function seriesOnnxProto(model: SeriesModel, metadata: object = {}): ModelProto {
  const c = model.config;
  const w = (name: string): Float32Array => {
    const v = model.vars.get(name);
    if (v === undefined) throw new Error(`series model has no weight ${name}`);
    return v.dataSync() as Float32Array;
  };
  const g = new OnnxGraph([SERIES_ONNX_X, SERIES_ONNX_EMB, SERIES_ONNX_SLICES, SERIES_ONNX_STUDY]);
  // Batch norm folded: y = x · s + t, s = γ / √(var + ε), t = β − mean · s; shape for broadcasting.
  const bn = (x: string, name: string, channels: number, shape: number[]) => {
    const gamma = w(`${name}_gamma`);
    const beta = w(`${name}_beta`);
    const mean = w(`${name}_moving_mean`);
    const variance = w(`${name}_moving_variance`);
    const s = new Float32Array(channels);
    const t = new Float32Array(channels);
    for (let i = 0; i < channels; i++) {
      s[i] = gamma[i]! / Math.sqrt(variance[i]! + BN_EPS);
      t[i] = beta[i]! - mean[i]! * s[i]!;
    }
    return g.op('Add', [
      g.op('Mul', [x, g.floats(`${name}_scale`, shape, s)]),
      g.floats(`${name}_shift`, shape, t),
    ]);
  };
  const inputs = [floatValueInfo(SERIES_ONNX_X, [1, 'T', SLICE_INPUTS])];
  let features = SLICE_INPUTS;
  let hIn = SERIES_ONNX_X;
  if (c.embedding > 0) {
    const d = c.embedding;
    inputs.push(floatValueInfo(SERIES_ONNX_EMB, [1, 'T', d]));
    let e = g.op('Add', [
      g.op('MatMul', [
        SERIES_ONNX_EMB,
        g.floats('emb_dense1_kernel', [d, 512], w('emb_dense1_kernel')),
      ]),
      g.floats('emb_dense1_bias', [512], w('emb_dense1_bias')),
    ]);
    e = g.op('Relu', [bn(e, 'emb_bn1', 512, [512])]);
    e = g.op('Add', [
      g.op('MatMul', [e, g.floats('emb_dense2_kernel', [512, 128], w('emb_dense2_kernel'))]),
      g.floats('emb_dense2_bias', [128], w('emb_dense2_bias')),
    ]);
    e = g.op('Relu', [bn(e, 'emb_bn2', 128, [128])]);
    hIn = g.op('Concat', [SERIES_ONNX_X, e], 'concat', [attrInt('axis', 2)]);
    features += 128;
  }
  // Body over [1, C, T].
  let h = g.op('Transpose', [hIn], 'transpose', [attrInts('perm', [0, 2, 1])]);
  let cin = features;
  for (const [i, b] of BLOCKS.entries()) {
    const cout = i === 0 ? c.c1 : c.c2;
    const n = `conv${i + 1}`;
    const conv = g.op(
      'Conv',
      [
        h,
        g.floats(`${n}_kernel`, [cout, cin, b.k], convWeight(w(`${n}_kernel`), b.k, cin, cout)),
        g.floats(`${n}_bias`, [cout], w(`${n}_bias`)),
      ],
      'conv',
      [
        attrInts('kernel_shape', [b.k]),
        attrInts('dilations', [b.d]),
        attrInts('pads', [(b.d * (b.k - 1)) / 2, (b.d * (b.k - 1)) / 2]),
        attrInts('strides', [1]),
      ],
    );
    h = g.op('Relu', [bn(conv, `${n}_bn`, cout, [1, cout, 1])]);
    cin = cout;
  }
  const convHead = g.op(
    'Conv',
    [
      h,
      g.floats(
        'conv_head_kernel',
        [LABEL_COUNT, c.c2, 3],
        convWeight(w('conv_head_kernel'), 3, c.c2, LABEL_COUNT),
      ),
      g.floats('conv_head_bias', [LABEL_COUNT], w('conv_head_bias')),
    ],
    'conv',
    [
      attrInts('kernel_shape', [3]),
      attrInts('dilations', [1]),
      attrInts('pads', [1, 1]),
      attrInts('strides', [1]),
    ],
  );
  // GRU over [T, 1, C].
  const H = c.gru;
  const W = new Float32Array(2 * 3 * H * c.c2);
  const R = new Float32Array(2 * 3 * H * H);
  const B = new Float32Array(2 * 6 * H);
  for (const [k, dir] of ['fwd', 'bwd'].entries()) {
    W.set(transpose2(w(`gru_${dir}_kernel`), c.c2, 3 * H), k * 3 * H * c.c2);
    R.set(transpose2(w(`gru_${dir}_recurrent_kernel`), H, 3 * H), k * 3 * H * H);
    B.set(w(`gru_${dir}_bias`), k * 6 * H); // input bias; the recurrent bias stays 0
  }
  const seq = g.op('Transpose', [h], 'transpose', [attrInts('perm', [2, 0, 1])]);
  const y = g.op(
    'GRU',
    [
      seq,
      g.floats('gru_W', [2, 3 * H, c.c2], W),
      g.floats('gru_R', [2, 3 * H, H], R),
      g.floats('gru_B', [2, 6 * H], B),
    ],
    'gru',
    [
      attrInt('hidden_size', H),
      attrString('direction', 'bidirectional'),
      attrInt('linear_before_reset', 0),
    ],
  );
  // Y [T, 2, 1, H] → [1, T, 2, H] → [1, T, 2H] (forward then backward, as tf.concat).
  const gru = g.op('Reshape', [
    g.op('Transpose', [y], 'transpose', [attrInts('perm', [2, 0, 1, 3])]),
    g.int64s('gru_shape', [1, -1, 2 * H]),
  ]);
  const gruHead = g.op('Add', [
    g.op('MatMul', [gru, g.floats('gru_head_kernel', [2 * H, LABEL_COUNT], w('gru_head_kernel'))]),
    g.floats('gru_head_bias', [LABEL_COUNT], w('gru_head_bias')),
  ]);
  const skip = g.op('Mul', [
    g.op('Slice', [
      SERIES_ONNX_X,
      g.int64s('skip_start', [LABEL_COUNT]),
      g.int64s('skip_end', [2 * LABEL_COUNT]),
      g.int64s('skip_axis', [2]),
    ]),
    g.floats('skip_scale', [], Float32Array.of(4)),
  ]);
  const slices = g.op('Add', [
    g.op('Add', [
      g.op('Transpose', [convHead], 'transpose', [attrInts('perm', [0, 2, 1])]),
      gruHead,
    ]),
    skip,
  ]);
  // Study head over s = [body, GRU, slice logits] [1, T, P].
  const P = c.c2 + 2 * H + LABEL_COUNT;
  const s = g.op(
    'Concat',
    [g.op('Transpose', [h], 'transpose', [attrInts('perm', [0, 2, 1])]), gru, slices],
    'concat',
    [attrInt('axis', 2)],
  );
  const scores = g.op('Add', [
    g.op('MatMul', [s, g.floats('study_attention_kernel', [P, 1], w('study_attention_kernel'))]),
    g.floats('study_attention_bias', [1], w('study_attention_bias')),
  ]);
  const att = g.op('Softmax', [scores], 'softmax', [attrInt('axis', 1)]);
  const attPool = g.op(
    'ReduceSum',
    [g.op('Mul', [s, att]), g.int64s('time_axis', [1])],
    'reducesum',
    [attrInt('keepdims', 0)],
  );
  const maxPool = g.op('ReduceMax', [s], 'reducemax', [
    attrInts('axes', [1]),
    attrInt('keepdims', 0),
  ]);
  const pooled = g.op('Concat', [attPool, maxPool], 'concat', [attrInt('axis', 1)]);
  const study = g.op('Add', [
    g.op('MatMul', [pooled, g.floats('study_kernel', [2 * P, 1], w('study_kernel'))]),
    g.floats('study_bias', [1], w('study_bias')),
  ]);
  g.output('Sigmoid', [slices], SERIES_ONNX_SLICES);
  g.output('Sigmoid', [g.op('Reshape', [study, g.int64s('study_shape', [1])])], SERIES_ONNX_STUDY);
  return {
    irVersion: 8,
    producerName: 'ichdet',
    producerVersion: '',
    docString:
      'ichdet series model (stage 2): x [1, T, 13] per-slice stage-1 inputs → slices [1, T, 6], study [1] probabilities',
    graph: {
      name: 'ichdet_series',
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: [
        floatValueInfo(SERIES_ONNX_SLICES, [1, 'T', LABEL_COUNT]),
        floatValueInfo(SERIES_ONNX_STUDY, [1]),
      ],
    },
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: [
      { key: 'ichdet', value: JSON.stringify({ kind: 'series', config: c, ...metadata }) },
    ],
  };
}

/** The series model as an ONNX file (bytes). */
export function exportSeriesOnnx(model: SeriesModel, metadata: object = {}): Uint8Array {
  return encodeModel(seriesOnnxProto(model, metadata));
}

/** A series model loaded in ONNX Runtime. */
export interface SeriesOnnxModel {
  readonly file: string;
  readonly backend: OnnxBackend;
  /** Whether the graph reads embeddings. */
  readonly embeddings: boolean;
  /** Probabilities of one series in one order: slices [L × 6], study. */
  run(
    x: Float32Array,
    emb: Float32Array | null,
    length: number,
  ): Promise<{ slices: Float32Array; study: number }>;
  dispose(): Promise<void>;
}

/**
 * Loads a series model's .onnx file (written by `export-onnx --run SRUN`); InputError when it is
 * missing or is not a series model.
 */
export async function loadSeriesOnnx(
  file: string,
  o: OnnxLoadOptions = {},
): Promise<SeriesOnnxModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new InputError(`cannot read ONNX series model ${file}: ${(err as Error).message}`);
  }
  const header = inspectModel(bytes);
  if (
    !header.inputs.some((i) => i.name === SERIES_ONNX_X) ||
    !header.outputs.some((i) => i.name === SERIES_ONNX_STUDY)
  ) {
    throw new InputError(
      `${file} is not an ichdet series model (no "${SERIES_ONNX_X}" input and "${SERIES_ONNX_STUDY}" output); export one with ichdet export-onnx --run SRUN`,
    );
  }
  const embeddings = header.inputs.some((i) => i.name === SERIES_ONNX_EMB);
  const { backend, ort } = await loadOrt(o.backend ?? 'auto');
  const session = await ort.InferenceSession.create(bytes, {
    ...(backend === 'native' && { intraOpNumThreads: o.threads ?? 1 }),
  });
  return {
    file,
    backend,
    embeddings,
    async run(x, emb, length) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
        [SERIES_ONNX_X]: new ort.Tensor('float32', x, [1, length, SLICE_INPUTS]),
      };
      if (embeddings) {
        if (emb === null)
          throw new ConfigError(`${file} reads CNN embeddings, which were not given`);
        feeds[SERIES_ONNX_EMB] = new ort.Tensor('float32', emb, [1, length, emb.length / length]);
      }
      const out = await session.run(feeds);
      const slices = out[SERIES_ONNX_SLICES]!.data as Float32Array;
      const study = (out[SERIES_ONNX_STUDY]!.data as Float32Array)[0]!;
      return { slices: Float32Array.from(slices), study };
    },
    async dispose() {
      await session.release();
    },
  };
}

/**
 * `predictSeries` in ONNX Runtime: each series run forward and reversed, the two passes averaged
 * slice by slice and for the study output.
 */
export async function predictSeriesOnnx(
  model: SeriesOnnxModel,
  set: FeatureSet,
  series: readonly FeatureSeries[],
): Promise<{ slices: Float32Array[]; study: Float32Array }> {
  const slices: Float32Array[] = [];
  const study = new Float32Array(series.length);
  for (const [i, s] of series.entries()) {
    const f = seriesModelInput(set, s, model.embeddings);
    const b = seriesModelInput(set, reverseSeries(s), model.embeddings);
    const fo = await model.run(f.x, f.emb, f.length);
    const bo = await model.run(b.x, b.emb, b.length);
    slices.push(averageDirections(fo.slices, bo.slices, f.length));
    study[i] = (fo.study + bo.study) / 2;
  }
  return { slices, study };
}
