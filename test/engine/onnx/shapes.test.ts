import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { onnxType } from '../../fixtures/onnx-reflect.js';
import { inferTypes } from '../../../main/engine/onnx/shapes.js';
import { encodeModel, smallResNet, tinyConvNet } from '../../fixtures/models.js';

const here = path.dirname(new URL(import.meta.url).pathname);

/** Shapes onnxruntime computes for every node output, by making each one a graph output. */
async function actualShapes(model: OnnxModel, batch: number): Promise<Map<string, readonly number[]>> {
  const proto = onnxType('ModelProto').toObject(model.proto as never) as Record<string, any>;
  const names = model.nodes().flatMap((n) => n.output.filter(Boolean));
  proto.graph.output = names.map((name) => ({ name }));
  const session = await ort.InferenceSession.create(encodeModel(proto));
  const input = model.inputs[0];
  const shape = input.dims.map((d) => (typeof d === 'number' ? d : batch));
  const out = await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape) });
  await session.release();
  return new Map(names.map((n) => [n, out[n].dims]));
}

describe('inferTypes', () => {
  for (const [label, load] of [
    ['tinyConvNet', async () => parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' })],
    ['smallResNet', async () => parseOnnx(smallResNet().bytes, { file: 'small.onnx' })],
    ['torch-small', async () => loadOnnx(path.join(here, '../../fixtures/torch-small.onnx'))],
  ] as const) {
    it(`infers every intermediate shape of ${label} as onnxruntime computes it, batch symbolic`, async () => {
      const model = await load();
      const types = inferTypes(model);
      const actual = await actualShapes(model, 3);
      for (const [name, dims] of actual) {
        const t = types.get(name);
        expect(t?.elemType, name).toBe(1);
        expect(t?.dims?.map((d) => (d === 'batch' ? 3 : d)), name).toEqual([...dims]);
      }
    });
  }
});
