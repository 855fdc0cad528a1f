// An ONNX model as the training backend (onnx_torch.py) takes it: the nodes in topological order
// with their attributes decoded to JSON, and every initializer (and tensor attribute) in one
// safetensors file. The ONNX format stays read in one place (the engine's TypeScript); the Python
// side only maps ops onto torch.
import { RwsError } from '../../core/errors.js';
import { encodeSafetensors, type SafetensorsDtype, type SafetensorsInput } from '../../core/safetensors.js';
import { nodeName } from '../onnx/graph.js';
import { isFloatType, type OnnxModel } from '../onnx/model.js';
import { DataType, toNumber, type AttributeProto, type TensorProto } from '../onnx/onnx-proto.js';

/** One node of the plan: op, tensor names in and out, attributes as JSON (`{tensor: key}` for tensors). */
export interface PlanNode {
  name: string;
  op: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, unknown>;
}

export interface TorchPlan {
  nodes: PlanNode[];
  inputs: string[];
  outputs: string[];
  opset: number;
}

const INT_DTYPES: Record<number, [SafetensorsDtype, number]> = {
  [DataType.INT64]: ['I64', 8],
  [DataType.INT32]: ['I32', 4],
  [DataType.INT8]: ['I8', 1],
  [DataType.UINT8]: ['U8', 1],
  [DataType.BOOL]: ['BOOL', 1],
};

/** A tensor's values as safetensors bytes: floats as f32 (however stored), integers as they are. */
function tensorInput(model: OnnxModel | undefined, t: TensorProto, name: string, where: string): SafetensorsInput {
  const shape = t.dims.map(toNumber);
  if (isFloatType(t.data_type)) {
    const values = model && model.hasInitializer(t.name) && model.tensor(t.name) === t ? model.floats(t.name) : floatsOf(t, where);
    return { name, dtype: 'F32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  }
  const kind = INT_DTYPES[t.data_type];
  if (!kind) throw new RwsError('train-unsupported', `${where}: tensor "${t.name}" has data type ${t.data_type}, which the training backend does not take`, { field: t.name });
  const [dtype, size] = kind;
  const count = shape.reduce((a, b) => a * b, 1);
  if (t.raw_data?.length) return { name, dtype, shape, data: t.raw_data.slice(0, count * size) };
  const out = new Uint8Array(count * size);
  const view = new DataView(out.buffer);
  if (t.data_type === DataType.INT64) t.int64_data.forEach((v, i) => view.setBigInt64(i * 8, BigInt(toNumber(v)), true));
  else if (size === 4) t.int32_data.forEach((v, i) => view.setInt32(i * 4, v, true));
  else t.int32_data.forEach((v, i) => view.setUint8(i, v & 0xff));
  return { name, dtype, shape, data: out };
}

/** Float values of a tensor that is not an initializer (a Constant's), stored as raw f32 or float_data. */
function floatsOf(t: TensorProto, where: string): Float32Array {
  if (t.data_type !== DataType.FLOAT) throw new RwsError('train-unsupported', `${where}: constant "${t.name}" is not float32`, { field: t.name });
  if (t.raw_data?.length) {
    const copy = new Uint8Array(t.raw_data.length);
    copy.set(t.raw_data);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.float_data);
}

function attrValue(a: AttributeProto, key: string, tensors: SafetensorsInput[], where: string): unknown {
  switch (a.type) {
    case 1:
      return a.f;
    case 2:
      return toNumber(a.i);
    case 3:
      return new TextDecoder().decode(a.s);
    case 4:
      tensors.push(tensorInput(undefined, a.t as TensorProto, key, where));
      return { tensor: key };
    case 6:
      return [...a.floats];
    case 7:
      return a.ints.map(toNumber);
    case 8:
      return ((a as unknown as { strings: Uint8Array[] }).strings ?? []).map((s) => new TextDecoder().decode(s));
    default:
      throw new RwsError('train-unsupported', `${where}: attribute "${a.name}" holds a subgraph or a type the training backend does not take`, { field: a.name });
  }
}

/** The plan and the weights file of `model` for onnx_torch.py. */
export function torchPlan(model: OnnxModel): { plan: TorchPlan; weights: Uint8Array } {
  const tensors: SafetensorsInput[] = [];
  for (const t of model.graph.initializer) tensors.push(tensorInput(model, t, t.name, model.file));
  const nodes = model.nodes().map((n, i): PlanNode => {
    const name = nodeName(n, i);
    const attrs: Record<string, unknown> = {};
    for (const a of n.attribute) attrs[a.name] = attrValue(a, `attr:${i}:${a.name}`, tensors, `${model.file}: node "${name}" (${n.op_type})`);
    return { name, op: n.op_type, ...(n.domain ? { domain: n.domain } : {}), inputs: [...n.input], outputs: [...n.output], attrs };
  });
  const opset = toNumber(model.proto.opset_import.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  return {
    plan: { nodes, inputs: model.inputs.map((i) => i.name), outputs: model.outputs.map((o) => o.name), opset },
    weights: encodeSafetensors(tensors, {}),
  };
}
