// What pack.json declares about its model, held against the model itself before anything is sized
// from it: a manifest declaring a 100000×100000 input for a 28×28 model is refused here, by field,
// instead of driving a decode to allocate what it claims.
import { RwsError } from '../../core/errors.js';
import path from 'node:path';
import { checkExternalData, parseOnnx, type ValueInfo } from '../onnx/model.js';

/** What pack.json declares about its model (a PackManifest has these fields). */
export interface DeclaredModel {
  model: string;
  input: { layout: 'NCHW' | 'NHWC'; channels: number; height: number; width: number };
  output: { name: string };
  labels: string[];
}

const shape = (v: ValueInfo) => `[${v.dims.join('×')}]`;

/**
 * Refuse a manifest whose input (channels, height, width) or label count differs from the model's
 * fixed dimensions (free, symbolic dimensions take what the manifest says, within the schema's
 * limits), and a model whose external data could not be used (see `checkExternalData`).
 */
export async function checkPackModel(m: DeclaredModel, modelBytes: Uint8Array, modelPath: string, file: string): Promise<void> {
  // The graph is enough: external data is checked, not read.
  const model = parseOnnx(modelBytes, { file: modelPath });
  const refuse = (field: string, why: string): never => {
    throw new RwsError('pack-field', `${file}: field "${field}": ${why}`, { file, field });
  };
  const input = model.inputs[0];
  if (!input) refuse('model', `${m.model} has no input`);
  const dims = input!.dims;
  if (dims.length !== 0 && dims.length !== 4) refuse('input.layout', `the model's input "${input!.name}" ${shape(input!)} is not an image batch (4 dimensions)`);
  if (dims.length === 4) {
    const at = m.input.layout === 'NCHW' ? { channels: 1, height: 2, width: 3 } : { height: 1, width: 2, channels: 3 };
    for (const [field, i] of Object.entries(at) as [keyof typeof at, number][]) {
      const d = dims[i];
      if (typeof d === 'number' && d > 0 && d !== m.input[field]) {
        refuse(`input.${field}`, `${m.input[field]}, but the model's input "${input!.name}" ${shape(input!)} (${m.input.layout}) has ${field} ${d}`);
      }
    }
  }
  const output = model.outputs.find((o) => o.name === m.output.name) ?? model.outputs[0];
  const classes = output?.dims[output.dims.length - 1];
  if (output && typeof classes === 'number' && classes > 0 && classes !== m.labels.length) {
    refuse('labels', `${m.labels.length} labels, but the model's output "${output.name}" ${shape(output)} has ${classes} classes`);
  }
  await checkExternalData(model, path.dirname(modelPath));
}
