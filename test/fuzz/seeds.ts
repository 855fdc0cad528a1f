// The seed corpus: small valid files made in code from the test fixtures and the codec. The same
// bytes are committed under test/fuzz/corpus/ (so a reader can look at them and other tools can use
// them); `corpus.test.ts` checks they still match and `UPDATE_CORPUS=1` rewrites them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeSafetensors } from '../../main/core/safetensors.js';
import { encodeSignature } from '../../main/core/signature-codec.js';
import type { Quantization, Signature } from '../../main/core/signature.js';
import { parseOnnx } from '../../main/engine/onnx/model.js';
import { hashTensor } from '../../main/engine/signatures/tensor-hash.js';
import { encodeModel, GraphBuilder, seededRandom, tinyConvNet, withExternalData } from '../fixtures/models.js';

export type SeedKind = 'signature' | 'safetensors' | 'pack' | 'onnx' | 'pack-folder';

export interface Seed {
  kind: SeedKind;
  name: string;
  bytes: Uint8Array;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A signature over tinyConvNet's first conv (weight 8×1×3×3 and bias), stored as `quant`. */
function signature(quant: Quantization, id: string, extra: Partial<Signature['meta']> = {}): Uint8Array {
  const model = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
  const layer = model.layers()[0]!;
  const rnd = seededRandom(7);
  const tensors: Signature['tensors'] = [];
  const baseHashes: Record<string, string> = {};
  for (const name of [layer.weight, layer.bias!]) {
    const clean = model.floats(name);
    const dims = model.initializers().find((i) => i.name === name)!.dims.map(Number);
    tensors.push({ name, shape: dims, values: Float32Array.from(clean, () => (rnd() - 0.5) * 0.1), channelAxis: 0, mode: 'add' });
    baseHashes[name] = hashTensor(clean);
  }
  // A BatchNorm variance patched in log space, as extraction does for unfolded BN.
  const v = model.floats('/bn1.running_var');
  tensors.push({ name: '/bn1.running_var', shape: [v.length], values: Float32Array.from(v, () => (rnd() - 0.5) * 0.01), channelAxis: 0, mode: 'log' });
  baseHashes['/bn1.running_var'] = hashTensor(v);
  return encodeSignature(
    {
      meta: { format: 'rws/1', id, condition: id, severity: [1, 5], method: 'projected', layers: 1, quant, baseHashes, batchNorm: 'log-variance', baseModel: 'tiny', effect: { gap: 0.5 }, energyShare: 0.97, description: 'fuzz seed', ...extra },
      tensors,
    },
    quant,
  );
}

/** A pack.json for the fuzz pack folder (model.onnx = tinyConvNet, signatures fog and low-light). */
function packJson(sigs: Record<string, Uint8Array>, modelBytes: Uint8Array, full: boolean): Uint8Array {
  const pack: Record<string, unknown> = {
    format: 'rws-pack/1',
    id: 'fuzz',
    name: 'Fuzz pack',
    version: '1.0.0',
    task: 'classification',
    model: 'model.onnx',
    input: { name: 'input', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.286], std: [0.353], resize: 'fill' },
    output: { name: 'logits', kind: 'logits' },
    labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
    signatures: Object.entries(sigs).map(([id, b]) => ({ id, condition: id, sha256: sha(b) })),
  };
  if (full) {
    pack.modelSha256 = sha(modelBytes);
    (pack.signatures as Record<string, unknown>[])[1]!.transfer = true;
    (pack.signatures as Record<string, unknown>[])[1]!.file = 'low-light.rws.safetensors';
    pack.conditions = [
      { id: 'fog', name: 'Fog', mix: { fog: 1 }, description: 'fog' },
      { id: 'dark', name: 'Dark', mix: { 'low-light': 0.8 } },
    ];
    pack.mixes = [{ id: 'foggy-night', name: 'Foggy night', mix: { fog: 1, 'low-light': 1 } }];
    pack.patching = { strategy: 'head' };
  }
  return new TextEncoder().encode(JSON.stringify(pack, null, 2));
}

/** A model with an If node whose branches are subgraphs, a MatMul+Add and an f16 initializer. */
function branchyModel(): Uint8Array {
  const g = new GraphBuilder(5);
  const w = g.weight('w', [4, 3], g.uniform(12, 1));
  const b = g.weight('b', [3], g.uniform(3, 1));
  const mm = g.node('MatMul', ['input', w], {}, '/mm');
  const add = g.node('Add', [mm, b], {}, '/add');
  const half = { name: 'h', dims: [2], data_type: 10, raw_data: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]) };
  const branch = (op: string) => ({ name: op, node: [{ op_type: op, input: [add, 'h'], output: [`${op}_out`] }], output: [{ name: `${op}_out` }] });
  const model = g.model({ name: 'input', shape: ['batch', 4] }, { name: 'y', shape: ['batch', 3] });
  const graph = model.graph as { node: object[]; initializer: object[] };
  graph.initializer.push(half);
  graph.node.push({ op_type: 'If', input: ['cond'], output: ['y'], attribute: [{ name: 'then_branch', type: 5, g: branch('Add') }, { name: 'else_branch', type: 5, g: branch('Mul') }] });
  return encodeModel(model);
}

/** Every seed, made afresh (deterministic: the same bytes on every machine). */
export function makeSeeds(): Seed[] {
  const sigs = { fog: signature('int8', 'fog'), 'low-light': signature('int4', 'low-light') };
  const tiny = tinyConvNet().bytes;
  const external = withExternalData();
  const seeds: Seed[] = [
    { kind: 'signature', name: 'fog-int8.rws.safetensors', bytes: sigs.fog },
    { kind: 'signature', name: 'low-light-int4.rws.safetensors', bytes: sigs['low-light'] },
    { kind: 'signature', name: 'rain-f32.rws.safetensors', bytes: signature('f32', 'rain') },
    { kind: 'signature', name: 'snow-f16.rws.safetensors', bytes: signature('f16', 'snow', { method: 'plain', severity: [2.5, 3] }) },
    {
      kind: 'safetensors',
      name: 'mixed-dtypes.safetensors',
      bytes: encodeSafetensors(
        [
          { name: 'a', dtype: 'F32', shape: [2, 2], data: new Uint8Array(new Float32Array([1, -2, 3.5, 0]).buffer) },
          { name: 'b', dtype: 'I64', shape: [1], data: new Uint8Array(8) },
          { name: 'c', dtype: 'BOOL', shape: [0], data: new Uint8Array(0) },
          { name: 'd', dtype: 'BF16', shape: [3], data: new Uint8Array(6) },
        ],
        { note: 'fuzz seed', nested: '{"k": [1, 2]}' },
      ),
    },
    { kind: 'pack', name: 'pack-minimal.json', bytes: packJson(sigs, tiny, false) },
    { kind: 'pack', name: 'pack-full.json', bytes: packJson(sigs, tiny, true) },
    { kind: 'onnx', name: 'tiny-conv.onnx', bytes: tiny },
    { kind: 'onnx', name: 'external-data.onnx', bytes: external.bytes },
    { kind: 'onnx', name: 'branches.onnx', bytes: branchyModel() },
    // The pack-folder target's input describes a pack folder (a HostileSpec); this one changes nothing.
    { kind: 'pack-folder', name: 'as-made.json', bytes: new TextEncoder().encode('{"files":{},"manifest":{}}\n') },
  ];
  return seeds;
}

/** Files the fuzz pack folder holds besides pack.json; the ONNX target's folder holds weights.bin. */
export function fuzzFolderFiles(): { pack: Record<string, Uint8Array>; onnx: Record<string, Uint8Array> } {
  const external = withExternalData();
  const weights = new Uint8Array(readFileSync(external.dataFile));
  return {
    pack: {
      'model.onnx': tinyConvNet().bytes,
      'signatures/fog.rws.safetensors': signature('int8', 'fog'),
      'signatures/low-light.rws.safetensors': signature('int4', 'low-light'),
    },
    onnx: { 'weights.bin': weights },
  };
}
