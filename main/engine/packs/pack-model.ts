// Whether a pack's description of its model holds: the input spec against the model (names,
// layout, size, element type), the output name and the label count. A pack that lies about its
// model is refused here, naming the field, instead of giving onnxruntime's raw error or silently
// wrong scores.
import type { OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/data-type.js';
import { fail } from './field-error.js';
import type { InputSpec } from './input-spec.js';

/** The parts of a manifest checked against the model. */
export interface PackModelSpec {
  model: string;
  input: InputSpec;
  output: { name: string };
  labels: string[];
}

/**
 * The check `loadPack` leaves out with `checkModel: false`, as plain data (it crosses to the
 * inference worker): the manifest's parts and the pack.json they come from.
 */
export interface PackModelCheck {
  file: string;
  spec: PackModelSpec;
}

/** The PackModelCheck of `manifest`, read from `file`. */
export function packModelCheck(manifest: PackModelSpec, file: string): PackModelCheck {
  const { model, input, output, labels } = manifest;
  return { file, spec: { model, input, output: { name: output.name }, labels } };
}

/** The model's input and output dims as text, for messages. */
function dimsText(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}

const FEEDABLE = new Set<number>([DataType.FLOAT]);

/**
 * The manifest against its model: `input.name` is one of the model's inputs, of float32, with the
 * layout, channels, height and width the manifest says (where the model fixes them); `output.name`
 * is one of its outputs, and a fixed class count equals the number of labels.
 */
export function checkPackModel(manifest: PackModelSpec, model: OnnxModel, file: string): void {
  const spec = manifest.input;
  const input = model.inputs.find((i) => i.name === spec.name);
  if (!input) fail(file, 'input.name', `${manifest.model} has no input "${spec.name}" (its inputs: ${model.inputs.map((i) => i.name).join(', ') || 'none'})`);
  if (!FEEDABLE.has(input.elemType)) {
    fail(file, 'input.name', `${manifest.model}'s input "${spec.name}" takes element type ${input.elemType}, not float32; rws feeds float32 images`);
  }
  const d = input.dims;
  if (d.length !== 4) fail(file, 'input.name', `${manifest.model}'s input "${spec.name}" has shape ${dimsText(d)}, not an image batch [N, C, H, W] or [N, H, W, C]`);
  const [c, h, w] = spec.layout === 'NCHW' ? [d[1], d[2], d[3]] : [d[3], d[1], d[2]];
  const fixed = (v: number | string | undefined): v is number => typeof v === 'number' && v > 0;
  if (fixed(c) && c !== spec.channels) {
    const other = spec.layout === 'NCHW' ? d[3] : d[1];
    if (fixed(other) && other === spec.channels) {
      fail(file, 'input.layout', `"${spec.layout}", but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)}: its channels come ${spec.layout === 'NCHW' ? 'last (NHWC)' : 'second (NCHW)'}`);
    }
    fail(file, 'input.channels', `${spec.channels}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): ${c} channels`);
  }
  if (fixed(h) && h !== spec.height) fail(file, 'input.height', `${spec.height}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): height ${h}`);
  if (fixed(w) && w !== spec.width) fail(file, 'input.width', `${spec.width}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): width ${w}`);
  const output = model.outputs.find((o) => o.name === manifest.output.name);
  if (!output) fail(file, 'output.name', `${manifest.model} has no output "${manifest.output.name}" (its outputs: ${model.outputs.map((o) => o.name).join(', ')})`);
  const classes = output.dims[output.dims.length - 1];
  if (fixed(classes) && classes !== manifest.labels.length) {
    fail(file, 'labels', `${manifest.labels.length} labels, but ${manifest.model}'s output "${output.name}" ${dimsText(output.dims)} has ${classes} classes`);
  }
}
