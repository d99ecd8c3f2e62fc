/**
 * The subset of the ONNX protobuf schema ichdet writes and reads, as a protobufjs JSON
 * descriptor. Field numbers are those of `onnx/onnx.proto` (ONNX IR version 8), so files written
 * with it load in every ONNX runtime; only the messages and fields the exporter uses are listed
 * (unknown fields are skipped by readers, as protobuf requires).
 */
import protobuf from 'protobufjs';

/** ONNX `TensorProto.DataType` values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** ONNX `AttributeProto.AttributeType`. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

/** ONNX IR version 8 (ONNX 1.10+), which every runtime supporting opset ≤ 17 reads. */
export const IR_VERSION = 8;

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            docString: { type: 'string', id: 12 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);

/** The message types, ready to `encode`/`decode`. */
export const onnx = {
  ModelProto: root.lookupType('onnx.ModelProto'),
  GraphProto: root.lookupType('onnx.GraphProto'),
  ValueInfoProto: root.lookupType('onnx.ValueInfoProto'),
  StringStringEntryProto: root.lookupType('onnx.StringStringEntryProto'),
};

// Plain-object shapes of the messages, as the exporter builds them (protobufjs `fromObject` input).

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: Dimension[] } } };
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  opsetImport: { domain: string; version: number }[];
  metadataProps: { key: string; value: string }[];
}

/** Serialises a model to the ONNX binary format. */
export function encodeModel(m: ModelProto): Uint8Array {
  const msg = onnx.ModelProto.fromObject(m);
  return onnx.ModelProto.encode(msg).finish();
}

/** What `inspectModel` reads from an .onnx file without decoding its weights. */
export interface OnnxHeader {
  metadata: Record<string, string>;
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
  producer: string;
}

/**
 * Reads an ONNX file's metadata_props and graph input/output shapes, skipping everything else
 * (nodes and initializers are stepped over, not decoded).
 */
export function inspectModel(bytes: Uint8Array): OnnxHeader {
  const out: OnnxHeader = { metadata: {}, inputs: [], outputs: [], producer: '' };
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 14 && (tag & 7) === 2) {
      const e = onnx.StringStringEntryProto.decode(r, r.uint32()).toJSON() as {
        key?: string;
        value?: string;
      };
      out.metadata[e.key ?? ''] = e.value ?? '';
    } else if (field === 2 && (tag & 7) === 2) {
      out.producer = r.string();
    } else if (field === 7 && (tag & 7) === 2) {
      const end = r.uint32() + r.pos;
      while (r.pos < end) {
        const gt = r.uint32();
        const gf = gt >>> 3;
        if ((gf === 11 || gf === 12) && (gt & 7) === 2) {
          const v = onnx.ValueInfoProto.decode(r, r.uint32()).toJSON() as {
            name?: string;
            type?: {
              tensorType?: {
                shape?: { dim?: { dimValue?: string | number; dimParam?: string }[] };
              };
            };
          };
          const shape = (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
            d.dimParam !== undefined ? d.dimParam : Number(d.dimValue ?? 0),
          );
          (gf === 11 ? out.inputs : out.outputs).push({ name: v.name ?? '', shape });
        } else {
          r.skipType(gt & 7);
        }
      }
    } else {
      r.skipType(tag & 7);
    }
  }
  return out;
}
