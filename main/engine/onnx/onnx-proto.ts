// The ONNX model's protobuf layer: the types of the messages the engine reads, and their encoder
// and decoder, generated from onnx.proto3 into onnx-codec.ts (scripts/gen-onnx-codec.mjs) so that
// reading a model parses no schema and generates no code at run time.
import { onnx } from './onnx-codec.js';

export { DataType } from './data-type.js';

/** protobufjs decodes int64 as a Long when the `long` package is present, else as a number. */
export type Int64 = number | { toNumber(): number };

export interface StringStringEntryProto { key: string; value: string }
export interface DimensionProto { dim_value?: Int64; dim_param?: string; denotation?: string; value?: string }
export interface TensorShapeProto { dim: DimensionProto[] }
export interface TypeProto {
  tensor_type?: { elem_type: number; shape?: TensorShapeProto | null };
  sequence_type?: unknown;
  map_type?: unknown;
  optional_type?: unknown;
  sparse_tensor_type?: { elem_type: number; shape?: TensorShapeProto | null };
  denotation?: string;
  value?: string;
}
export interface ValueInfoProto { name: string; type?: TypeProto | null; doc_string?: string }
export interface TensorProto {
  dims: Int64[];
  data_type: number;
  name: string;
  raw_data: Uint8Array;
  float_data: number[];
  int32_data: number[];
  int64_data: Int64[];
  double_data: number[];
  uint64_data: Int64[];
  string_data: Uint8Array[];
  external_data: StringStringEntryProto[];
  data_location: number;
  segment?: unknown;
  doc_string?: string;
}
export interface AttributeProto {
  name: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: TensorProto | null;
  ints: Int64[];
  floats: number[];
  g?: GraphProto | null;
  graphs?: GraphProto[];
}
export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain: string;
  attribute: AttributeProto[];
}
export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  sparse_initializer: unknown[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  value_info: ValueInfoProto[];
}
export interface ModelProto {
  ir_version: Int64;
  opset_import: { domain: string; version: Int64 }[];
  producer_name: string;
  graph?: GraphProto | null;
  functions: unknown[];
}

/** A generated message codec, as the engine uses it (onnx-codec.ts is not type-checked). */
interface MessageCodec {
  decode(bytes: Uint8Array): unknown;
  encode(message: unknown): { finish(): Uint8Array };
}
const ModelCodec = (onnx as unknown as { ModelProto: MessageCodec }).ModelProto;

/** Decodes ModelProto bytes (throws on bytes that are not one). */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return ModelCodec.decode(bytes) as ModelProto;
}

/** Encodes a ModelProto; protobufjs gives a Buffer on Node. */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return ModelCodec.encode(model).finish();
}

/** An int64 field as a JS number (ONNX dims and attributes fit in 2^53). */
export function toNumber(v: Int64 | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}
