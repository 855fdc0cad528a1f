// A model pack built in code for the service, serve and e2e tests: smallResNet (or tinyConvNet) with
// seeded random weights, and signatures for fog and low-light that patch its first layer(s).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeSignature } from '../../main/core/signature-codec.js';
import type { Signature } from '../../main/core/signature.js';
import { parseOnnx } from '../../main/engine/onnx/model.js';
import { hashTensor } from '../../main/engine/signatures/tensor-hash.js';
import { seededRandom, smallResNet, tinyConvNet } from '../fixtures/models.js';

export const FIXTURE_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Write a pack into `dir` (created); returns the pack folder. Signatures live in the pack's own `signatures/`. */
export function writeFixturePack(dir: string, opts: { model?: 'small-resnet' | 'tiny'; strength?: number } = {}): string {
  mkdirSync(path.join(dir, 'signatures'), { recursive: true });
  const fixture = opts.model === 'tiny' ? tinyConvNet() : smallResNet();
  writeFileSync(path.join(dir, 'model.onnx'), fixture.bytes);
  const model = parseOnnx(fixture.bytes, { file: path.join(dir, 'model.onnx') });
  const layers = model.layers().slice(0, 2);
  const strength = opts.strength ?? 0.5;
  const sigs: { id: string; condition: string; sha256: string }[] = [];
  ['fog', 'low-light'].forEach((id, n) => {
    const rnd = seededRandom(100 + n);
    const tensors: Signature['tensors'] = [];
    const baseHashes: Record<string, string> = {};
    for (const l of layers) {
      for (const name of [l.weight, l.bias].filter((x): x is string => !!x)) {
        const clean = model.floats(name);
        const dims = model.initializers().find((i) => i.name === name)!.dims.map(Number);
        // Deltas proportional to each weight's size, so the patch changes predictions but stays plausible.
        let rms = 0;
        for (const v of clean) rms += v * v;
        rms = Math.sqrt(rms / clean.length) || 0.1;
        const values = Float32Array.from(clean, () => (rnd() - 0.5) * 2 * strength * rms * 3);
        tensors.push({ name, shape: dims, values, channelAxis: name === l.weight ? l.channelAxis : 0, mode: 'add' });
        baseHashes[name] = hashTensor(clean);
      }
    }
    const sig: Signature = {
      meta: { format: 'rws/1', id, condition: id, severity: [1, 5], method: 'plain', layers: layers.length, quant: 'int8', baseHashes, batchNorm: 'folded', baseModel: 'fixture' },
      tensors,
    };
    const bytes = encodeSignature(sig, 'int8');
    writeFileSync(path.join(dir, 'signatures', `${id}.rws.safetensors`), bytes);
    sigs.push({ id, condition: id, sha256: createHash('sha256').update(bytes).digest('hex') });
  });
  const pack = {
    format: 'rws-pack/1',
    id: 'fixture',
    name: 'Fixture pack',
    version: '0.0.1',
    task: 'classification',
    model: 'model.onnx',
    input: { name: fixture.input.name, layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.286], std: [0.353], resize: 'fill' },
    output: { name: fixture.output, kind: 'logits' },
    labels: FIXTURE_LABELS,
    signatures: sigs,
    conditions: [
      { id: 'fog', name: 'Fog', mix: { fog: 1 } },
      { id: 'low-light', name: 'Low light', mix: { 'low-light': 1 } },
    ],
    mixes: [{ id: 'foggy-night', name: 'Foggy night', mix: { fog: 1, 'low-light': 1 } }],
  };
  writeFileSync(path.join(dir, 'pack.json'), JSON.stringify(pack, null, 2));
  return dir;
}
