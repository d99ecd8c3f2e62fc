/**
 * Layers Keras applications use that tfjs-layers 4.22 lacks. Each is registered with
 * `serialization.registerClass` so models that contain it save and load in the layers format.
 */

import * as tfc from '@tensorflow/tfjs-core';
import { serialization, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers, type Shape } from '@tensorflow/tfjs-layers';

/** Keras' `backend.epsilon()`, the floor under the standard deviation in `Normalization`. */
const KERAS_EPSILON = 1e-7;

function oneTensor(inputs: Tensor | Tensor[]): Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (!x) throw new Error('layer received no input tensor');
  return x;
}

function lastDim(inputShape: Shape | Shape[]): number {
  const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  const c = shape[shape.length - 1];
  if (c === null || c === undefined) {
    throw new Error(`the channel axis must be known, received input shape [${shape.join(', ')}]`);
  }
  return c;
}

/**
 * Keras `layers.Normalization(axis=-1)`: `(x - mean) / max(sqrt(variance), 1e-7)` per channel.
 * Its weights are `mean` (c), `variance` (c) and `count` (scalar), all non-trainable, in this
 * order — the order and shapes of the tf.keras EfficientNet `.h5` files, and the three weights
 * Keras counts as parameters (EfficientNetB0's 5,330,571 includes 3 + 3 + 1 of them).
 */
export class Normalization extends layers.Layer {
  static className = 'Normalization';
  private mean: LayerVariable | undefined;
  private variance: LayerVariable | undefined;

  override build(inputShape: Shape | Shape[]): void {
    const c = lastDim(inputShape);
    this.mean = this.addWeight('mean', [c], 'float32', initializers.zeros(), undefined, false);
    this.variance = this.addWeight(
      'variance',
      [c],
      'float32',
      initializers.ones(),
      undefined,
      false,
    );
    this.addWeight('count', [], 'float32', initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      if (!this.mean || !this.variance) throw new Error(`layer ${this.name} was called unbuilt`);
      const x = oneTensor(inputs);
      const std = tfc.maximum(tfc.sqrt(this.variance.read()), KERAS_EPSILON);
      return tfc.div(tfc.sub(x, this.mean.read()), std);
    });
  }
}
serialization.registerClass(Normalization);

export interface ChannelRescalingArgs {
  /** One factor per channel of the input. */
  scale: number[];
  name?: string;
}

/**
 * Keras `layers.Rescaling(scale=[…])` with a per-channel scale (tfjs' `rescaling` takes one
 * number). No weights.
 */
export class ChannelRescaling extends layers.Layer {
  static className = 'ChannelRescaling';
  readonly scale: number[];

  constructor(args: ChannelRescalingArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.scale = [...args.scale];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const c = lastDim(inputShape);
    if (c !== this.scale.length) {
      throw new Error(
        `${this.name}: scale has ${this.scale.length} factors, received ${c} channels`,
      );
    }
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => tfc.mul(oneTensor(inputs), tfc.tensor1d(this.scale)));
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale };
  }
}
serialization.registerClass(ChannelRescaling);
