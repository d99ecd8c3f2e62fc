/**
 * Batch normalization in training mode, for every backend, and the fix of tfjs-layers 4.22's
 * `BatchNormalization` that makes it train with `scale: false` or `center: false`.
 *
 * The bug: in training mode `BatchNormalization.call` (tfjs-layers/src/layers/normalization.ts)
 * passes `this.gamma.read()` and `this.beta.read()` to `normalizeBatchInTraining`
 * unconditionally, but `build` creates `gamma` only when `scale` and `beta` only when `center`:
 * with `scale: false` (Keras' InceptionV3 `conv2d_bn`) the forward pass of a training step
 * throws "Cannot read properties of undefined (reading 'read')". Inference tests
 * `this.gamma == null` and passes `undefined` on, which computes the right values, but tfjs-core's
 * `batchNorm` then records a tape node whose `scale` input is undefined, and any backprop through
 * the layer fails on it ("reading 'dataId'"): Grad-CAM at a layer inside an InceptionV3 module.
 * Keras' semantics of a missing γ or β are γ = 1, β = 0, so this module normalizes with those
 * constants in their place, in training and, when one is missing, in inference; the layer's
 * weights (names, shapes, order) are untouched, so Keras weight files load as before.
 *
 * `patchBatchNormTraining()` replaces the training branch of the layer's `call` (inference runs
 * tfjs-layers' own code unless γ or β is missing) by `batchNormTraining`, which computes exactly what tfjs-layers
 * computes — batch mean, biased batch variance, (x − μ)/√(σ² + ε)·γ + β, and the moving
 * averages m ← m − (m − v)(1 − momentum) — and, on the wasm backend with the channel axis last,
 * does it with one fused SIMD kernel forward (2 reads, 1 write) and one backward (2 reads,
 * 1 write) instead of some twenty tfjs ops with their transposes and tiles.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { BATCH_NORM_KERNEL, batchNormTrain, batchNormTrainGrad, onWasm } from './simd.js';

export interface BatchNormResult {
  y: tf.Tensor;
  /** Batch mean per channel. */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel. */
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalization of x over every axis but `axis` (γ = 1 when gamma is null,
 * β = 0 when beta is null), differentiable in x, gamma and beta.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  axis: number,
  epsilon: number,
): BatchNormResult {
  return tf.tidy(() => {
    const a = axis < 0 ? axis + x.rank : axis;
    const c = x.shape[a];
    if (c === undefined) {
      throw new Error(`batch norm axis ${axis} is outside input shape [${x.shape.join(', ')}]`);
    }
    const g = gamma ?? tf.ones([c]);
    const b = beta ?? tf.zeros([c]);
    if (onWasm() && a === x.rank - 1 && x.dtype === 'float32') {
      const [y, stats] = batchNormTrain(x, g, b, epsilon);
      const [mean, variance] = tf.unstack(stats) as [tf.Tensor1D, tf.Tensor1D];
      return { y, mean, variance };
    }
    // tfjs-layers' own computation (normalizeBatchInTraining), with γ and β always present.
    const reduction = x.shape.map((_, i) => i).filter((i) => i !== a);
    const { mean, variance } = tf.moments(x, reduction);
    const shape = x.shape.map((d, i) => (i === a ? d : 1));
    const bc = (t: tf.Tensor) => (a === x.rank - 1 ? t : tf.reshape(t, shape));
    const y = tf.batchNorm(x, bc(mean), bc(variance), bc(b), bc(g), epsilon);
    return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  });
}

/** The gradient of the fused kernel: everything comes from one backward kernel. */
function registerBatchNormGradient(): void {
  tf.registerGradient({
    kernelName: BATCH_NORM_KERNEL,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
      const [x, gamma, stats] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const { epsilon } = attrs as { epsilon: number };
      const [dx, dgb] = batchNormTrainGrad(dy, x, stats, gamma, epsilon);
      return {
        x: () => dx,
        gamma: () => tf.squeeze(tf.slice(dgb, [0, 0], [1, -1]), [0]),
        beta: () => tf.squeeze(tf.slice(dgb, [1, 0], [1, -1]), [0]),
      };
    },
  });
}

/** What the patched `call` reads of a tfjs-layers BatchNormalization (private fields). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: { read(): tf.Tensor } | null;
  beta?: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(v: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(v: tf.Tensor): void };
}

type Call = (
  this: BatchNormLayer,
  inputs: tf.Tensor | tf.Tensor[],
  kwargs: tf.NamedAttrMap,
) => tf.Tensor | tf.Tensor[];

let patched = false;

/**
 * Replaces the training branch of tfjs-layers' `BatchNormalization.prototype.call` (once, for
 * the tfjs-layers instance this module imports) and registers the fused kernel's gradient.
 * Call after importing tfjs-layers; it registers gradients when imported.
 */
export function patchBatchNormTraining(): void {
  if (patched) return;
  patched = true;
  registerBatchNormGradient();
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization;
  const proto = (entry?.[0] as { prototype?: { call?: Call } } | undefined)?.prototype;
  const original = proto?.call;
  if (!proto || !original) {
    throw new Error('tfjs-layers has no BatchNormalization class to patch');
  }
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    if (kwargs?.training !== true) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const gammaOk = this.scale && this.gamma;
      const betaOk = this.center && this.beta;
      if ((gammaOk && betaOk) || !x || (this.axis !== -1 && this.axis !== x.rank - 1)) {
        return original.call(this, inputs, kwargs);
      }
      // Inference with a missing γ or β: tfjs-layers passes undefined to tfjs-core's batchNorm,
      // which computes the right values but records a tape node with an undefined input, so a
      // gradient through the layer (Grad-CAM from inside an InceptionV3 module) fails. The
      // constants γ = 1, β = 0 give the same values and a tape that backprop can walk.
      return tf.tidy(() => {
        const c = x.shape[x.rank - 1]!;
        return tf.batchNorm(
          x,
          this.movingMean.read(),
          this.movingVariance.read(),
          betaOk ? this.beta!.read() : tf.zeros([c]),
          gammaOk ? this.gamma!.read() : tf.ones([c]),
          this.epsilon,
        );
      });
    }
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!x) throw new Error('BatchNormalization received no input');
      const gamma = this.scale && this.gamma ? this.gamma.read() : null;
      const beta = this.center && this.beta ? this.beta.read() : null;
      const { y, mean, variance } = batchNormTraining(x, gamma, beta, this.axis, this.epsilon);
      const decay = 1 - this.momentum;
      for (const [v, value] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const orig = v.read();
          v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
        });
      }
      return y;
    });
  };
}
