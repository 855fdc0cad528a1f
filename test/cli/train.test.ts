// rws train as a user runs it: a pack made by rws pack init, a folder of images, a signature
// trained, measured, added to the pack and used by rws run; the Auto classifier; a training killed
// and resumed; what it says when torch is missing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSignature } from '../../main/core/signature-codec.js';
import { pythonCommand } from '../../main/engine/train/torch-graph.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { testImage } from '../engine/folder/fixtures.js';
import { familyFiles } from '../fixtures/families.js';
import { ensureBuilt, rws } from './cli-harness.js';

const hasTorch = spawnSync(pythonCommand(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`SKIPPED test/cli/train (all but the missing-torch test): ${pythonCommand()} has no torch (apt-get install python3-torch, or set RWS_PYTHON)`);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let labelled: string;
let field: string;
const MODEL = familyFiles(['resnet'])[1]!.file;

/** A fresh pack of the tiny torch-exported ResNet (32×32 RGB, 10 classes). */
async function newPack(name: string, model = MODEL): Promise<string> {
  const out = path.join(dir, name);
  const r = await rws('pack', 'init', model, '--out', out, '--preset', 'none');
  expect(r.code, r.stderr).toBe(0);
  return out;
}

beforeAll(async () => {
  process.env.RWS_INFERENCE_WORKER = fileURLToPath(compiledWorkerUrl());
  dir = mkdtempSync(path.join(tmpdir(), 'rws-train-cli-'));
  labelled = path.join(dir, 'labelled');
  field = path.join(dir, 'field');
  mkdirSync(path.join(field, 'day 1'), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const sub = path.join(labelled, String(i % 10));
    mkdirSync(sub, { recursive: true });
    await testImage(i, 48, 40).png().toFile(path.join(sub, `${i}.png`));
    await testImage(i + 100, 48, 40).jpeg().toFile(path.join(field, i < 15 ? '' : 'day 1', `f${i}.jpg`));
  }
});
afterAll(() => {
  delete process.env.RWS_INFERENCE_WORKER;
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTorch)('rws train: a signature for your model from your images, end to end', () => {
  it('unlabelled field images (--labels model): trained, measured, added to the pack, used by rws run', async () => {
    const pack = await newPack('field-pack');
    const r = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog', '--epochs', '1', '--batch', '8', '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/30 images from .*field at 32×32 \(0 could not be read; labels: none\)/);
    expect(r.stderr).toMatch(/targets: the clean model's own predictions on the uncorrupted images, sharpened to temperature 0\.5 \(self-distillation\); 3 images held back/);
    expect(r.stdout).toMatch(/signature "fog" \(fog\) → .*field-pack\/signatures\/fog\.rws\.safetensors \([0-9.]+ KiB, int8, 3 layers, 4 steps/);
    expect(r.stdout).toMatch(/measured on 3 held-back images, agreement with the clean model's top class on the clean image \(the data has no labels\)/);
    expect(r.stdout).toMatch(/ {4}clean images +100\.0% +[0-9.]+%/);
    expect(r.stdout).toMatch(/added in .*pack\.json/);
    // --epochs given: nothing said about passes.
    expect(r.stderr).not.toMatch(/passes over the/);
    const manifest = JSON.parse(readFileSync(path.join(pack, 'pack.json'), 'utf8'));
    expect(manifest.signatures.map((s: { id: string }) => s.id)).toEqual(['fog']);
    expect(existsSync(path.join(pack, 'signatures', 'fog.train'))).toBe(false);
    const sig = decodeSignature(readFileSync(path.join(pack, 'signatures', 'fog.rws.safetensors')), 'fog');
    expect(sig.meta).toMatchObject({ condition: 'fog', method: 'finetune', layers: 3, quant: 'int8', effect: { images: 3, against: 'clean-model', training: { targets: 'clean-model', targetTemperature: 0.5, images: 27 } } });
    expect(sig.meta.description).toMatch(/targets: the clean model's predictions on the clean images, sharpened to temperature 0\.5$/);
    const run = await rws('run', '--pack', pack, '--mix', 'fog', '--quiet', field);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/30 images classified, 0 failed/);
    // A second training of the same id is refused (it would replace the pack's signature) unless asked.
    const again = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/field-pack\/pack\.json: field "signatures": the pack already has a signature "fog": give --id to train another one, or --replace to replace it/);
  });

  it('without --epochs on a small folder: more passes than the recipe\'s, said, at most 50', async () => {
    const pack = await newPack('default-passes-pack');
    // 27 training images in one batch: one step a pass, so the 200 steps stop at 50 passes.
    const r = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog', '--batch', '27', '--threads', '1', '--no-add', '--out', path.join(dir, 'default-passes'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rws train: fog: 50 passes over the 27 training images, 50 steps of 27 \(at least 200, or 50 passes; --epochs to choose\)/);
    expect(r.stdout).toMatch(/3 layers, 50 steps in /);
  });

  it('labelled sub-folders, leave-one-family-out: measured on the left-out family, written but not added', async () => {
    const pack = await newPack('lofo-pack');
    const out = path.join(dir, 'lofo-out');
    const r = await rws('train', '--pack', pack, '--data', labelled, '--condition', 'fog', '--exclude-family', 'physical', '--epochs', '1', '--batch', '8', '--quant', 'f32', '--out', out, '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/labels: class sub-folders/);
    expect(r.stdout).toMatch(/top-1 accuracy against the data's labels/);
    expect(r.stdout).toMatch(/physical \(left out of training\)/);
    expect(r.stdout).toMatch(/fog, left out \(physical\)/);
    expect(r.stdout).toMatch(/not added to the pack/);
    const sig = decodeSignature(readFileSync(path.join(out, 'fog-without-physical.rws.safetensors')), 'sig');
    expect(sig.meta.effect).toMatchObject({ leftOut: { lineages: ['physical'] }, training: { excluded: ['physical'], families: ['rws-v1', 'imagenet-c', 'display-haze'] } });
    expect(JSON.parse(readFileSync(path.join(pack, 'pack.json'), 'utf8')).signatures).toEqual([]);
  });

  it('--auto: the pack\'s condition classifier from the same images', async () => {
    const pack = await newPack('auto-pack');
    const r = await rws('train', '--pack', pack, '--data', field, '--auto', '--auto-per-class', '4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/auto classifier: 41 classes from 24 images \(4 per condition and strength\) → autoMix\.classifier in .*auto-pack\/pack\.json/);
    const manifest = JSON.parse(readFileSync(path.join(pack, 'pack.json'), 'utf8'));
    expect(manifest.autoMix.classifier.classes).toHaveLength(41);
    expect(manifest.autoMix.classifier.classes[0]).toEqual({ condition: 'clean', severity: 0 });
  });

  it('a model exported with its batch fixed at 1 (torch\'s default): whole batches where its graph allows, one image at a time where not', async () => {
    const fixed = (family: 'resnet' | 'vit') => familyFiles([family]).find((f) => f.form === 'folded' && f.batch === 'fixed')!.file;
    for (const [family, whole] of [['resnet', true], ['vit', false]] as const) {
      const pack = await newPack(`${family}-fixed-pack`, fixed(family));
      const out = path.join(dir, `${family}-fixed-out`);
      const r = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog', '--epochs', '1', '--batch', '8', '--out', out, '--no-add', '--threads', '1');
      expect(r.code, r.stderr).toBe(0);
      const sig = decodeSignature(readFileSync(path.join(out, 'fog.rws.safetensors')), 'sig');
      if (whole) {
        expect(r.stderr).toMatch(/is exported with its batch fixed at 1, but its graph gives the same outputs at any batch: training in whole batches/);
        expect(sig.meta.effect).toMatchObject({ training: { batchNorm: 'adapt' } });
      } else {
        expect(r.stderr).toMatch(/its graph needs its fixed batch of 1 \(it gives other outputs at another\): training one image at a time with BatchNorm statistics fixed \(slower, and a model with BatchNorm layers, folded or not, trains worse\); a model exported with a dynamic batch trains better/);
        expect(sig.meta.effect).toMatchObject({ training: { batchNorm: 'fixed' } });
        // Asked to adapt, it does, and does not say the statistics stay fixed.
        const adapt = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog', '--epochs', '1', '--batch', '8', '--out', `${out}-adapt`, '--no-add', '--threads', '1', '--batchnorm', 'adapt');
        expect(adapt.code, adapt.stderr).toBe(0);
        expect(adapt.stderr).not.toMatch(/statistics fixed/);
        expect(decodeSignature(readFileSync(path.join(`${out}-adapt`, 'fog.rws.safetensors')), 'sig').meta.effect).toMatchObject({ training: { batchNorm: 'adapt' } });
      }
    }
  });

  it('refuses, naming the file and the field: --labels folder without class folders, a family the condition lacks', async () => {
    const pack = await newPack('refused-pack');
    const a = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog', '--labels', 'folder');
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/rws: .*field: --labels folder needs one sub-folder per class, named by a label of the pack or its index, but images lie beside the sub-folders \(f0\.jpg\)/);
    const b = await rws('train', '--pack', pack, '--data', field, '--condition', 'rain', '--exclude-family', 'display-haze');
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--exclude-family display-haze: not a family or lineage of rain/);
    const c = await rws('train', '--pack', path.join(dir, 'nowhere'), '--data', field, '--condition', 'fog');
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/nowhere\/pack\.json: cannot read the pack manifest/);
  });
});

describe.skipIf(!hasTorch)('rws train: killed, then --resume', () => {
  it('continues from the saved step instead of starting again', async () => {
    await ensureBuilt();
    const pack = await newPack('resume-pack');
    const args = [path.join(root, 'bin', 'rws.js'), 'train', '--pack', pack, '--data', labelled, '--condition', 'fog', '--epochs', '4', '--batch', '4', '--save-every', '0', '--threads', '1', '--nuisances'];
    const state = path.join(pack, 'signatures', 'fog.train', 'state.json');
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const step = () => (existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as { step: number }).step : 0);
    const deadline = Date.now() + 120_000;
    while (step() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const killedAt = step();
    expect(killedAt).toBeGreaterThanOrEqual(3);
    expect(killedAt).toBeLessThan(28);
    // A bare --nuisances is the standard reach, and a resume with another reach is refused, naming the flag.
    expect((JSON.parse(readFileSync(state, 'utf8')) as { identity: { nuisances?: string } }).identity.nuisances).toBe('standard');
    const otherReach = await rws(...args.slice(1, -1), '--nuisances', 'wide', '--resume');
    expect(otherReach.code).toBe(2);
    expect(otherReach.stderr).toMatch(/field "identity\.nuisances": this training was started with another --nuisances \(it was "standard", now "wide"\)/);
    // Without --resume the saved state is refused; with it the training goes on from there.
    const refused = await rws(...args.slice(1));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/fog\.train\/state\.json: a training of "fog" stopped here at step \d+ of 28: add --resume to continue it/);
    // Resumed without --epochs, it goes on with the 4 passes it started with, not today's default for 27 images (29).
    const resumed = await rws(...args.slice(1).filter((a, i, all) => a !== '--epochs' && all[i - 1] !== '--epochs'), '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).not.toMatch(/passes over the/);
    expect(resumed.stderr).toMatch(new RegExp(`resuming "fog" at step ${killedAt} of 28`));
    expect(resumed.stdout).toMatch(new RegExp(`28 steps in .*, resumed at step ${killedAt}\\)`));
    expect(existsSync(state)).toBe(false);
  });
});

describe('rws train without PyTorch', () => {
  it('says what to install, before reading any image', async () => {
    const pack = await newPack('no-torch-pack');
    const before = process.env.RWS_PYTHON;
    process.env.RWS_PYTHON = path.join(dir, 'no-python-here');
    try {
      const r = await rws('train', '--pack', pack, '--data', field, '--condition', 'fog');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/rws: training needs PyTorch: .*no-python-here could not be started \(ENOENT\); install Debian's python3-torch \(apt-get install python3-torch\) or point RWS_PYTHON at a Python that has torch/);
      expect(r.stderr).not.toMatch(/images from/);
    } finally {
      if (before === undefined) delete process.env.RWS_PYTHON;
      else process.env.RWS_PYTHON = before;
    }
  });
});
