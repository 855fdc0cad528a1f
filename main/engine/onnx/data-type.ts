// ONNX's TensorProto.DataType values, apart from the protobuf codec (onnx-codec.ts), so that code
// checking element types (a pack's input) does not load protobufjs with them.

/** ONNX TensorProto.DataType values we read or write. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
