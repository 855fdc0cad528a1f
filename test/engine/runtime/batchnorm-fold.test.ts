import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseOnnx } from '../../../main/engine/onnx/model.js';
import { readOrtGraph } from '../../../main/engine/onnx/ort-format.js';
import { batchNormFolds, foldBatchNorm } from '../../../main/engine/runtime/batchnorm-fold.js';
import { encodeModel, GraphBuilder, tinyConvNet } from '../../fixtures/models.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rws-fold-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The model as onnxruntime optimises it at `level` (saved in its own format), and its graph. */
async function optimised(bytes: Uint8Array, level: 'basic' | 'all'): Promise<{ bytes: Uint8Array; graph: ReturnType<typeof readOrtGraph> }> {
  const file = path.join(dir, `${level}.ort`);
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, optimizedModelFilePath: file, logSeverityLevel: 3 });
  await s.release();
  const out = new Uint8Array(readFileSync(file));
  return { bytes: out, graph: readOrtGraph(out) };
}

describe('BatchNorm folding as onnxruntime does it', () => {
  it('finds the Conv → BatchNorm pairs onnxruntime folded that read a patched tensor', async () => {
    const model = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
    const { graph } = await optimised(tinyConvNet().bytes, 'all');
    const folds = batchNormFolds(model, new Set(['/conv1.weight']), graph);
    expect(folds.map((f) => [f.weight, f.bias, f.scale, f.variance, f.epsilon])).toEqual([['/conv1.weight', '/conv1.bias', '/bn1.weight', '/bn1.running_var', Math.fround(1e-5)]]);
    expect(batchNormFolds(model, new Set(['/fc.weight']), graph)).toEqual([]);
  });

  it('gives the folded weights and biases bit for bit, with a conv bias and without', async () => {
    const g = new GraphBuilder(31);
    let x = g.conv('input', 3, 8, 3, { name: '/a' });
    x = g.batchNorm(x, 8, '/a_bn');
    x = g.node('Relu', [x], {}, '/a/Relu');
    x = g.conv(x, 8, 4, 3, { name: '/b', bias: false });
    g.batchNorm(x, 4, '/b_bn');
    const bytes = encodeModel(g.model({ name: 'input', shape: [1, 3, 8, 8] }, { name: 'out', shape: [1, 4, 8, 8] }));
    const model = parseOnnx(bytes, { file: 'two.onnx' });
    // At level `basic` onnxruntime folds without re-ordering the weights: its tensors can be read as they are.
    const { bytes: saved, graph } = await optimised(bytes, 'basic');
    const folds = batchNormFolds(model, new Set(['/a.weight', '/b.weight']), graph);
    expect(folds).toHaveLength(2);
    const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
    for (const f of folds) {
      const ours = foldBatchNorm(f, (n) => model.floats(n));
      const theirs = (name: string) => {
        const t = graph.initializers.find((i) => i.name === name)!;
        return new Float32Array(saved.slice(t.offset, t.offset + t.byteLength).buffer);
      };
      // onnxruntime names the folded weight after the conv's (`ConvBnFusion_W_/a.weight`).
      const node = graph.nodes.find((n) => n.opType === 'Conv' && n.inputs[1]!.endsWith(f.weight))!;
      expect(bits(ours.weight)).toEqual(bits(theirs(node.inputs[1]!)));
      expect(bits(ours.bias)).toEqual(bits(theirs(node.inputs[2]!)));
    }
  });
});
