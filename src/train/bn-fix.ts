/**
 * A fix for tfjs-layers 4.22: `BatchNormalization` with `scale: false` or `center: false` (as
 * Keras' InceptionV3 builds it: `scale=False`) crashes when called in training mode, because
 * its training path reads `gamma` and `beta` unconditionally (inference handles the missing
 * weights). This patch gives the training path constant ones / zeros in their place for the
 * duration of the call — exactly what the missing weights mean — and changes nothing else: the
 * layer keeps Keras' weights, names and serialisation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';

interface Readable {
  read(): tf.Tensor;
}

interface BatchNormLike {
  gamma: Readable | null | undefined;
  beta: Readable | null | undefined;
  axis: number;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
}

let patched = false;

export function patchBatchNormTraining(): void {
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(layers.batchNormalization({})) as BatchNormLike;
  const original = proto.call;
  proto.call = function (this: BatchNormLike, inputs, kwargs) {
    if (!kwargs?.training || (this.gamma != null && this.beta != null)) {
      return original.call(this, inputs, kwargs);
    }
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axis = this.axis >= 0 ? this.axis : this.axis + x.rank;
    const c = x.shape[axis]!;
    const noGamma = this.gamma == null;
    const noBeta = this.beta == null;
    if (noGamma) this.gamma = { read: () => tf.ones([c]) };
    if (noBeta) this.beta = { read: () => tf.zeros([c]) };
    try {
      return original.call(this, inputs, kwargs);
    } finally {
      if (noGamma) this.gamma = undefined;
      if (noBeta) this.beta = undefined;
    }
  };
}
