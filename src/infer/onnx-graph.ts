/**
 * An ONNX graph under construction: nodes and initializers with unique value names, attribute
 * and value-info helpers. Shared by the CNN exporter (`onnx-export.ts`) and the series model's
 * (`series/onnx.ts`), so both name values, store weights and describe tensors one way.
 */
import {
  type AttributeProto,
  AttributeType,
  DataType,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export function attrInt(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

export function attrInts(name: string, ints: number[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints };
}

export function attrFloat(name: string, f: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f };
}

export function attrString(name: string, s: string): AttributeProto {
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(s) };
}

/** The little-endian bytes of a copy of `data` (an initializer's rawData). */
export function floatBytes(data: Float32Array): Uint8Array {
  const copy = new Float32Array(data);
  return new Uint8Array(copy.buffer);
}

/**
 * A float32 graph input or output. A dimension is a size, a symbolic name, or null for a free
 * one (named `N` at axis 0, `d<i>` elsewhere).
 */
export function floatValueInfo(
  name: string,
  dims: readonly (number | string | null)[],
): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: {
          dim: dims.map((d, i) =>
            typeof d === 'number' ? { dimValue: d } : { dimParam: d ?? (i === 0 ? 'N' : `d${i}`) },
          ),
        },
      },
    },
  };
}

/** Nodes and initializers of the graph under construction, with unique value names. */
export class OnnxGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used: Set<string>;

  /** @param reserved the graph's input and output names, never given to another value */
  constructor(reserved: readonly string[] = []) {
    this.used = new Set(reserved);
  }

  /** `base`, or `base_1`, `base_2`, … whichever is still free. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  floats(base: string, dims: number[], data: Float32Array): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: floatBytes(data) });
    return name;
  }

  int64s(base: string, values: number[]): string {
    const name = this.unique(base);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: DataType.INT64,
      rawData: new Uint8Array(raw.buffer),
    });
    return name;
  }

  scalar(base: string, v: number): string {
    const name = this.unique(base);
    this.initializers.push({
      name,
      dims: [],
      dataType: DataType.FLOAT,
      rawData: floatBytes(Float32Array.of(v)),
    });
    return name;
  }

  /** Adds a node; returns the name of its (one) output, `out` (default: the op's) made unique. */
  op(
    opType: string,
    inputs: string[],
    out: string = opType.toLowerCase(),
    attribute: AttributeProto[] = [],
  ): string {
    const output = this.unique(out);
    this.nodes.push({ name: output, opType, input: inputs, output: [output], attribute });
    return output;
  }

  /** Adds a node whose output is the graph output `name` (reserved, so kept as it is). */
  output(opType: string, inputs: string[], name: string, attribute: AttributeProto[] = []): string {
    this.used.add(name);
    this.nodes.push({ name, opType, input: inputs, output: [name], attribute });
    return name;
  }
}
