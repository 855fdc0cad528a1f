// rws pack init / add-signature, then rws run --pack and rws inspect on the packs they make.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { testImage } from '../engine/folder/fixtures.js';
import { CLASSIFIERS, FAMILY_DIR, familyFiles } from '../fixtures/families.js';
import { convClassifier } from '../fixtures/models.js';
import { rws } from './cli-harness.js';

let dir: string;
let images: string;

beforeAll(async () => {
  // In this process rws runs from TypeScript: point it at a compiled inference worker.
  process.env.RWS_INFERENCE_WORKER = fileURLToPath(compiledWorkerUrl());
  dir = mkdtempSync(path.join(tmpdir(), 'rws-pack-'));
  images = path.join(dir, 'images');
  mkdirSync(images);
  for (let i = 0; i < 5; i++) await testImage(i, 48, 40).png().toFile(path.join(images, `${i}.png`));
});
afterAll(() => {
  delete process.env.RWS_INFERENCE_WORKER;
});

describe('rws pack init, add-signature, then run --pack: every family, form and batch', () => {
  for (const f of familyFiles(CLASSIFIERS)) {
    it(f.stem, async () => {
      const out = path.join(dir, f.stem);
      const init = await rws('pack', 'init', f.file, '--out', out, '--preset', 'imagenet');
      expect(init.stderr).toBe('');
      expect(init.code).toBe(0);
      expect(init.stdout).toMatch(new RegExp(`input    "${f.batch === 'fixed' ? 'input\\.1' : 'input'}" float32 \\[${f.batch === 'fixed' ? '1' : 'batch'}, 3, 32, 32\\]: NCHW, batch ${f.batch === 'fixed' ? 'fixed at 1' : 'dynamic'}`));
      expect(init.stdout).toMatch(/checked  a generated 32×32 test image ran through the model: 10 finite scores/);
      const sig = path.join(dir, `${f.stem}.rws.safetensors`);
      expect((await rws('extract', '--clean', f.file, '--robust', f.robustFile, '--condition', 'fog', '--out', sig)).code).toBe(0);
      const add = await rws('pack', 'add-signature', out, sig);
      expect(add.code).toBe(0);
      expect(add.stdout).toMatch(/added signature "fog" \(fog\)/);
      const json = path.join(dir, `${f.stem}.json`);
      const run = await rws('run', '--pack', out, '--mix', 'fog=1', '--quiet', '--json', json, images);
      expect(run.stderr).not.toMatch(/warning|rws: /);
      expect(run.stderr).toMatch(new RegExp(`5 images classified, 0 failed, .* batch ${f.batch === 'fixed' ? 1 : '\\d+'}`));
      expect(run.code).toBe(0);
      const results = JSON.parse(readFileSync(json, 'utf8'));
      expect(results.results).toHaveLength(5);
      expect(results.failed).toEqual([]);
      for (const r of results.results) expect(r.top[0].score).toBeGreaterThan(0);
    });
  }
});

describe('rws pack init: what it reads, and what it refuses', () => {
  it('writes the labels it is given, and refuses a count that differs from the output', async () => {
    const f = familyFiles(['resnet'])[0]!;
    const labels = path.join(dir, 'labels.txt');
    writeFileSync(labels, ['cat', 'dog', 'car', '', 'bus', 'tree', 'sky', 'road', 'sea', 'sun', 'moon'].join('\n'));
    const ok = await rws('pack', 'init', f.file, '--out', path.join(dir, 'labelled'), '--labels', labels);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'labelled', 'pack.json'), 'utf8')).labels).toEqual(['cat', 'dog', 'car', 'bus', 'tree', 'sky', 'road', 'sea', 'sun', 'moon']);
    expect(ok.stdout).toMatch(/preprocessing: none .* a torchvision model wants --preset imagenet/);
    writeFileSync(labels, 'cat\ndog\n');
    const bad = await rws('pack', 'init', f.file, '--out', path.join(dir, 'mislabelled'), '--labels', labels);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/labels\.txt: 2 labels, but output "\d+" \[1, 10\] of .*resnet-folded-fixed\.onnx has 10 classes/);
  });

  it.skipIf(process.platform === 'win32')('refuses a FIFO as the labels or the model at once, naming it, and puts the bytes it checked in the pack', async () => {
    const f = familyFiles(['resnet'])[0]!;
    const pipe = path.join(dir, 'labels-pipe.txt');
    execFileSync('mkfifo', [pipe]);
    const labels = await rws('pack', 'init', f.file, '--out', path.join(dir, 'piped'), '--labels', pipe);
    expect(labels.code).toBe(1);
    expect(labels.stderr).toMatch(/labels-pipe\.txt: refused as the labels: it is a FIFO \(named pipe\), not a regular file/);
    const model = await rws('pack', 'init', pipe, '--out', path.join(dir, 'piped'));
    expect(model.code).toBe(1);
    expect(model.stderr).toMatch(/labels-pipe\.txt: refused as the model: it is a FIFO \(named pipe\), not a regular file/);
    const out = path.join(dir, 'bytes');
    expect((await rws('pack', 'init', f.file, '--out', out)).code).toBe(0);
    expect(readFileSync(path.join(out, 'model.onnx')).equals(readFileSync(f.file))).toBe(true);
  });

  it('refuses a folder that is not empty unless --force, and a model exported in training mode', async () => {
    const f = familyFiles(['resnet'])[0]!;
    const busy = path.join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    const r = await rws('pack', 'init', f.file, '--out', busy);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/busy: the folder is not empty/);
    expect((await rws('pack', 'init', f.file, '--out', busy, '--force')).code).toBe(0);
    expect(readFileSync(path.join(busy, 'notes.txt'), 'utf8')).toBe('mine');
    const training = await rws('pack', 'init', path.join(FAMILY_DIR, 'mobilenetv3-training.onnx'), '--out', path.join(dir, 'training'));
    expect(training.code).toBe(1);
    expect(training.stderr).toMatch(/mobilenetv3-training\.onnx: BatchNormalization "\/features\/features\.0\/features\.0\.1\/BatchNormalization" is in training mode/);
  });

  it('asks for the size of a model whose size is free, and refuses an ImageNet preset for grey input', async () => {
    const file = path.join(dir, 'free-size.onnx');
    writeFileSync(file, convClassifier(4, ['batch', 1, 'h', 'w'], 3));
    const free = await rws('pack', 'init', file, '--out', path.join(dir, 'free'));
    expect(free.code).toBe(2);
    expect(free.stderr).toMatch(/input "input" has shape \[batch, 1, h, w\]: its size is free; give it with --width and --height/);
    expect((await rws('pack', 'init', file, '--out', path.join(dir, 'free'), '--width', '20', '--height', '16')).code).toBe(0);
    const grey = await rws('pack', 'init', file, '--out', path.join(dir, 'grey'), '--width', '20', '--height', '16', '--preset', 'imagenet');
    expect(grey.code).toBe(2);
    expect(grey.stderr).toMatch(/--preset imagenet: .* takes 1-channel images/);
  });

  it('takes a model that ends in a Softmax as giving probabilities, and one that does not as giving logits, unless told', async () => {
    const soft = path.join(dir, 'softmax.onnx');
    const plain = path.join(dir, 'plain.onnx');
    writeFileSync(soft, convClassifier(6, ['batch', 3, 8, 8], 3, { softmax: true }));
    writeFileSync(plain, convClassifier(6, ['batch', 3, 8, 8], 3));
    const kind = (pack: string) => JSON.parse(readFileSync(path.join(pack, 'pack.json'), 'utf8')).output.kind;
    const a = await rws('pack', 'init', soft, '--out', path.join(dir, 'soft'));
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/output   "probs" \[batch, 3\] as probabilities/);
    expect(a.stdout).toMatch(/output "probs" taken as probabilities: the model ends in a Softmax \(\/softmax\); use --output-kind logits if it does not give the classes' probabilities/);
    expect(kind(path.join(dir, 'soft'))).toBe('probabilities');
    const b = await rws('pack', 'init', plain, '--out', path.join(dir, 'plain'));
    expect(b.stdout).toMatch(/output "logits" taken as logits \(a softmax is applied\)/);
    expect(kind(path.join(dir, 'plain'))).toBe('logits');
    const c = await rws('pack', 'init', soft, '--out', path.join(dir, 'soft-told'), '--output-kind', 'logits');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).not.toMatch(/taken as/);
    expect(kind(path.join(dir, 'soft-told'))).toBe('logits');
  });

  it('a model with 1000 classes: inspect shows ten labels, not a thousand', async () => {
    const file = path.join(dir, 'thousand.onnx');
    writeFileSync(file, convClassifier(5, [1, 3, 8, 8], 1000));
    const labels = path.join(dir, 'thousand.txt');
    writeFileSync(labels, Array.from({ length: 1000 }, (_, i) => `class ${i}`).join('\n'));
    expect((await rws('pack', 'init', file, '--out', path.join(dir, 'thousand'), '--labels', labels)).code).toBe(0);
    const r = await rws('inspect', path.join(dir, 'thousand'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/labels \(1000\): class 0, class 1, .*class 9, … \(--json lists all\)\n/);
    expect(r.stdout).not.toMatch(/class 10\b/);
    expect(JSON.parse((await rws('inspect', path.join(dir, 'thousand'), '--json')).stdout).labels).toHaveLength(1000);
  });
});

describe('rws pack add-signature', () => {
  it('refuses a signature made for another model, and takes it with --transfer when only the hashes differ', async () => {
    const [resnet] = familyFiles(['resnet']);
    const out = path.join(dir, 'transfer');
    expect((await rws('pack', 'init', resnet!.file, '--out', out)).code).toBe(0);
    // A signature for the same graph whose base weights differ: made on the robust model as "clean".
    const sig = path.join(dir, 'other-base.rws.safetensors');
    expect((await rws('extract', '--clean', resnet!.robustFile, '--robust', resnet!.file, '--condition', 'fog', '--id', 'fog-transfer', '--out', sig)).code).toBe(0);
    const refused = await rws('pack', 'add-signature', out, sig);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/other-base\.rws\.safetensors: does not fit .*model\.onnx: tensor ".+" was made for another base model .*add --transfer/);
    const taken = await rws('pack', 'add-signature', out, sig, '--transfer');
    expect(taken.code).toBe(0);
    const pack = JSON.parse(readFileSync(path.join(out, 'pack.json'), 'utf8'));
    expect(pack.signatures).toEqual([expect.objectContaining({ id: 'fog-transfer', condition: 'fog', transfer: true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
    expect(pack.conditions).toEqual([{ id: 'fog-transfer', name: 'fog', mix: { 'fog-transfer': 1 } }]);
    const again = await rws('pack', 'add-signature', out, sig, '--transfer');
    expect(again.stdout).toMatch(/updated signature "fog-transfer"/);
    expect(JSON.parse(readFileSync(path.join(out, 'pack.json'), 'utf8')).signatures).toHaveLength(1);
  });
});

describe('exports that list their weights as graph inputs', () => {
  it('run with one warning, not one onnxruntime warning per weight', async () => {
    // onnxruntime writes its warnings straight to the process's stderr: look at a child process's.
    const patcher = pathToFileURL(path.join(path.dirname(fileURLToPath(compiledWorkerUrl())), 'patcher.js')).href;
    const model = pathToFileURL(path.join(path.dirname(fileURLToPath(compiledWorkerUrl())), '..', 'onnx', 'model.js')).href;
    const script = `import { Patcher } from '${patcher}'; import { loadOnnx } from '${model}';
      const p = await Patcher.create(await loadOnnx(${JSON.stringify(path.join(FAMILY_DIR, 'resnet-inputs.onnx'))}), new Map(), { threads: 1 });
      const y = await p.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
      console.log(JSON.stringify({ warnings: p.warnings, scores: y.length }));
      await p.dispose();`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    expect(stderr).not.toMatch(/appears in graph inputs/);
    const r = JSON.parse(stdout);
    expect(r.scores).toBe(10);
    expect(r.warnings).toEqual([expect.stringMatching(/resnet-inputs\.onnx: 14 weights are also listed as graph inputs/)]);
  });
});
