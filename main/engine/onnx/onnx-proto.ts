// The ONNX protobuf schema (onnx.proto3 as of ONNX 1.16, IR version 10), parsed at runtime with
// protobufjs instead of generated code so there is nothing to regenerate: to follow a newer ONNX,
// add its fields here with the field numbers from onnx/onnx.proto3 upstream. Every field is
// listed because protobufjs drops fields it does not know, and a model written back must keep them.
import protobuf from 'protobufjs';

const ONNX_PROTO3 = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11;
    TYPE_PROTO = 13; FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
    SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  string name = 1;
  string ref_attr_name = 21;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  SparseTensorProto sparse_tensor = 22;
  TypeProto tp = 14;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
  repeated TypeProto type_protos = 15;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  string overload = 8;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
}

message TrainingInfoProto {
  GraphProto initialization = 1;
  GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3;
  repeated StringStringEntryProto update_binding = 4;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20;
  repeated FunctionProto functions = 25;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message TensorAnnotation {
  string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13; COMPLEX64 = 14;
    COMPLEX128 = 15; BFLOAT16 = 16; FLOAT8E4M3FN = 17; FLOAT8E4M3FNUZ = 18; FLOAT8E5M2 = 19;
    FLOAT8E5M2FNUZ = 20; UINT4 = 21; INT4 = 22;
  }
  repeated int64 dims = 1;
  int32 data_type = 2;
  message Segment {
    int64 begin = 1;
    int64 end = 2;
  }
  Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  enum DataLocation {
    DEFAULT = 0;
    EXTERNAL = 1;
  }
  DataLocation data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  TensorProto values = 1;
  TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  message Sequence {
    TypeProto elem_type = 1;
  }
  message Map {
    int32 key_type = 1;
    TypeProto value_type = 2;
  }
  message Optional {
    TypeProto elem_type = 1;
  }
  message SparseTensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  // Only in onnx-ml; kept so such models survive a round trip.
  message Opaque {
    string domain = 1;
    string name = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Optional optional_type = 9;
    SparseTensor sparse_tensor_type = 8;
    Opaque opaque_type = 7;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}

enum OperatorStatus {
  EXPERIMENTAL = 0;
  STABLE = 1;
}

message FunctionProto {
  string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated AttributeProto attribute_proto = 11;
  repeated NodeProto node = 7;
  string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  string domain = 10;
  string overload = 13;
  repeated ValueInfoProto value_info = 12;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

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

let root: protobuf.Root | undefined;

/** The parsed ONNX schema, built on first use (parsing costs a few ms we need not pay at import). */
export function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO3, { keepCase: true }).root;
  return root;
}

/**
 * Generates every ONNX message's encoder and decoder now: protobufjs writes them on first use, which
 * costs a model's first decode about as much again as the decode itself. The inference worker calls
 * this while it waits for its model, so `rws run` does not pay it on its critical path.
 */
export function prepareOnnxCodecs(): void {
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) o.setup();
      if (o instanceof protobuf.Namespace) visit(o);
    }
  };
  visit(onnxRoot());
}

/** The protobufjs type of one ONNX message, e.g. `onnxType('ModelProto')`. */
export function onnxType(name: string): protobuf.Type {
  return onnxRoot().lookupType(`onnx.${name}`);
}

/** An int64 field as a JS number (ONNX dims and attributes fit in 2^53). */
export function toNumber(v: Int64 | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}
