// Auto with a deliberately harmful signature in the shipped pack: the fog signature turned around and
// made three times as strong (it scrambles the first layers), and one that drives the stem's biases
// far up (it collapses the predictions). Both are real candidates; the model's own outputs must keep
// Auto off them, over a folder and on a camera stream, on foggy and on clean images.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corrupt, type Image } from '../../../main/core/corruptions/index.js';
import { mixSeed } from '../../../main/core/random.js';
import type { Signature } from '../../../main/core/signature.js';
import { argmaxRow, batchDims, unitToBytes } from '../../../main/core/tensors.js';
import { packCandidates } from '../../../main/engine/auto/choice.js';
import { createChooser } from '../../../main/engine/auto/chooser.js';
import { AutoMix } from '../../../main/engine/auto/mix.js';
import { readFashionImages } from '../../../main/engine/auto/train.js';
import { toTensor } from '../../../main/engine/io/image-decode.js';
import { loadOnnx } from '../../../main/engine/onnx/model.js';
import { loadPack, type PackManifest } from '../../../main/engine/packs/pack.js';
import { loadSignatures, readSignature } from '../../../main/engine/signatures/fit.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';

const data = process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const packDir = path.join(root, 'native-models', 'fashion-mnist');
const have = existsSync(path.join(data, 't10k-images-idx3-ubyte.gz')) && existsSync(path.join(packDir, 'pack.json'));

/** A signature's tensors turned into harm: `scale` × the deltas, plus `biasShift` on every bias. */
function harm(sig: Signature, id: string, scale: number, biasShift: number): Signature {
  return {
    meta: { ...sig.meta, id, condition: 'fog' },
    tensors: sig.tensors.map((t) => ({ ...t, values: Float32Array.from(t.values, (v) => v * scale + (t.shape.length === 1 ? biasShift : 0)) })),
  };
}

describe.skipIf(!have)('Auto with harmful signatures in the pack', () => {
  it('never runs a file under a signature the outputs say hurts, and never falls more than 1 pp below the clean model', async () => {
    const pack = await loadPack(packDir, [path.join(root, 'signatures', 'fashion-mnist')]);
    const fog = await readSignature(pack.signatureFiles.get('fog')!);
    const sigs = await loadSignatures(pack.signatureFiles);
    sigs.set('fog-reversed', harm(fog, 'fog-reversed', -3, 0));
    sigs.set('fog-collapse', harm(fog, 'fog-collapse', 0, 25));
    const manifest: PackManifest = {
      ...pack.manifest,
      signatures: [...pack.manifest.signatures, { id: 'fog-reversed', condition: 'fog', sha256: 'a'.repeat(64), transfer: false }, { id: 'fog-collapse', condition: 'fog', sha256: 'b'.repeat(64), transfer: false }],
    };
    const candidates = packCandidates(manifest);
    expect(candidates.map((c) => c.id)).toEqual(expect.arrayContaining(['fog-reversed', 'fog-collapse']));
    const patcher = await Patcher.create(await loadOnnx(pack.modelPath), sigs, { threads: 2 });
    try {
      const spec = manifest.input;
      const classes = manifest.labels.length;
      const { images, labels } = await readFashionImages(data, 't10k', 256, 1000);
      const sets: [string, Image[]][] = [
        ['clean', images],
        ['fog', images.map((im, i) => corrupt(im, 'fog/physical', 3, mixSeed(7, i)))],
        ['low-light', images.map((im, i) => corrupt(im, 'low-light/physical', 3, mixSeed(8, i)))],
      ];
      const tensor = (ims: Image[]) => {
        const per = spec.width * spec.height * spec.channels;
        const x = new Float32Array(ims.length * per);
        ims.forEach((im, i) => x.set(toTensor(unitToBytes(im.data), im.channels, spec), i * per));
        return x;
      };
      const accuracy = (scores: Float32Array, from: number) => {
        let right = 0;
        for (let i = 0; i < scores.length / classes; i++) if (argmaxRow(scores, i, classes) === labels[from + i]) right++;
        return right;
      };
      for (const [name, set] of sets) {
        // The harm is real: each harmful signature alone loses badly on clean images.
        for (const bad of name === 'clean' ? ['fog-reversed', 'fog-collapse'] : []) {
          await patcher.setMix({});
          const clean = accuracy(await patcher.run(tensor(set), batchDims(spec, set.length)), 0);
          await patcher.setMix({ [bad]: 1 });
          expect(accuracy(await patcher.run(tensor(set), batchDims(spec, set.length)), 0), `${bad} on ${name}`).toBeLessThan(clean - 0.15 * set.length);
        }
        await patcher.setMix({});
        const cleanRight = accuracy(await patcher.run(tensor(set), batchDims(spec, set.length)), 0);
        // A folder, 32 images a batch.
        const folder = createChooser('folder', patcher, candidates, { classes, kind: manifest.output.kind });
        let right = 0;
        for (let start = 0; start < set.length; start += 32) {
          const part = set.slice(start, start + 32);
          const r = await folder.run(tensor(part), batchDims(spec, part.length));
          for (const c of r.choices) expect(c.id, `${name}: a folder image ran under ${c.id}`).not.toMatch(/^fog-(reversed|collapse)$/);
          right += accuracy(r.scores, start);
        }
        expect(right, `${name}: Auto over the folder`).toBeGreaterThanOrEqual(cleanRight - 0.01 * set.length);
        // A camera stream over the same images, with the pack's classifier proposing.
        const recogniser = manifest.autoMix?.classifier ? AutoMix.fromPack(manifest) : undefined;
        const stream = createChooser('stream', patcher, candidates, { classes, kind: manifest.output.kind, recogniser });
        for (const im of set) {
          const r = await stream.run(tensor([im]), batchDims(spec, 1), () => [im]);
          expect(r.choices[0]!.id, `${name}: a frame ran under it`).not.toMatch(/^fog-(reversed|collapse)$/);
        }
      }
    } finally {
      await patcher.dispose();
    }
  }, 120_000);
});
