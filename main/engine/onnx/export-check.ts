// Exports that lie: a model exported in training mode normalises each batch by its own statistics
// and drops activations at random (its outputs are not the trained model's, even unpatched), and a
// model listing its weights as graph inputs makes onnxruntime warn once per weight and skip its
// constant folding. The first is refused wherever a model is run; the second is fixed in the bytes
// handed to onnxruntime, with one line saying so.
import { RwsError } from '../../core/errors.js';
import { intAttr, nodeName } from './graph.js';
import { parseOnnx, type OnnxModel } from './model.js';
import { DataType, toNumber, type NodeProto, type TensorProto } from './onnx-proto.js';

/** One thing wrong with an export: `error`s are refused, `warning`s are told. */
export interface ExportProblem {
  code: 'onnx-training-mode' | 'onnx-initializer-inputs';
  severity: 'error' | 'warning';
  message: string;
  /** The node (or tensor) at fault. */
  field?: string;
}

const REEXPORT = 're-export it in eval mode (model.eval(), and torch.onnx.export(..., training=torch.onnx.TrainingMode.EVAL) or PRESERVE)';

/** The model's graph inputs that are also initializers (`keep_initializers_as_inputs`), where the IR allows dropping them. */
export function initializerInputs(model: OnnxModel): string[] {
  // Before IR 4 every initializer had to be listed as an input too: that is no lie.
  if (toNumber(model.proto.ir_version) < 4) return [];
  return model.graph.input.filter((v) => model.hasInitializer(v.name)).map((v) => v.name);
}

/** The value of a boolean that is a constant (an initializer or a Constant node), else undefined. */
function constantBool(model: OnnxModel, name: string | undefined): boolean | undefined {
  if (!name) return undefined;
  let t: TensorProto | null | undefined;
  if (model.hasInitializer(name)) t = model.tensor(name);
  else {
    const p = model.graphIndex().producer.get(name);
    if (p?.op_type === 'Constant') t = p.attribute.find((a) => a.name === 'value')?.t;
  }
  if (!t || (t.data_type !== DataType.BOOL && t.data_type !== DataType.UINT8)) return undefined;
  const byte = t.raw_data?.length ? t.raw_data[0] : t.int32_data?.[0];
  return byte === undefined ? undefined : byte !== 0;
}

/** What is wrong with a model as an export (nothing: an empty list). */
export function exportProblems(model: OnnxModel): ExportProblem[] {
  const problems: ExportProblem[] = [];
  const file = model.file;
  model.nodes().forEach((node: NodeProto, i: number) => {
    const name = nodeName(node, i);
    if (node.op_type === 'BatchNormalization' && (intAttr(node, 'training_mode', 0) === 1 || node.output.filter(Boolean).length > 1)) {
      problems.push({
        code: 'onnx-training-mode',
        severity: 'error',
        message: `${file}: BatchNormalization "${name}" is in training mode: it normalises each batch by the batch's own statistics instead of the trained ones; ${REEXPORT}`,
        field: name,
      });
    }
    if (node.op_type === 'Dropout') {
      const training = constantBool(model, node.input[2]);
      const old = node.attribute.some((a) => a.name === 'is_test') && intAttr(node, 'is_test', 1) === 0;
      if (training === true || old) {
        problems.push({
          code: 'onnx-training-mode',
          severity: 'error',
          message: `${file}: Dropout "${name}" is in training mode: it zeroes activations at random on every run; ${REEXPORT}`,
          field: name,
        });
      }
    }
  });
  const inputs = initializerInputs(model);
  if (inputs.length) {
    problems.push({
      code: 'onnx-initializer-inputs',
      severity: 'warning',
      message: `${file}: ${inputs.length} weight${inputs.length === 1 ? ' is' : 's are'} also listed as graph inputs (torch's keep_initializers_as_inputs); they are treated as the constants they are`,
      field: inputs[0],
    });
  }
  return problems;
}

/** Refuses a model exported in training mode (naming the node); returns the warnings to tell. */
export function assertHonestExport(model: OnnxModel): string[] {
  const problems = exportProblems(model);
  const refused = problems.find((p) => p.severity === 'error');
  if (refused) throw new RwsError(refused.code, refused.message, { file: model.file, field: refused.field });
  return problems.map((p) => p.message);
}

/** The model as onnxruntime should get it: without weights listed as graph inputs (the same model otherwise). */
export function withoutInitializerInputs(model: OnnxModel): OnnxModel {
  const names = new Set(initializerInputs(model));
  if (!names.size) return model;
  const copy = parseOnnx(model.encode({ embedExternal: true }), { file: model.file });
  copy.graph.input = copy.graph.input.filter((v) => !names.has(v.name));
  return parseOnnx(copy.encode(), { file: model.file });
}
