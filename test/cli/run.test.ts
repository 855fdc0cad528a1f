import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, copyFile, mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../main/cli/index.js';
import { encodeSignature } from '../../main/core/signature-codec.js';
import type { Signature } from '../../main/core/signature.js';
import { parseOnnx } from '../../main/engine/onnx/model.js';
import { parseJournal } from '../../main/engine/folder/journal.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { seededRandom } from '../fixtures/models.js';
import { folderTestModel, makeImageFolder, testImage, type ImageFolder } from '../engine/folder/fixtures.js';
import { ensureBuilt } from './cli-harness.js';
import { modelWithInputSide } from '../fixtures/hostile-pack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let tmp: string;
let folder: ImageFolder;
let modelFile: string;

/** Run `rws ...` in this process; returns the exit code and what it printed. */
async function rws(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'rws', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.exitCode = undefined;
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

const childEnv = { ...process.env };
beforeAll(async () => {
  // In this process rws runs from TypeScript: point it at a compiled inference worker.
  process.env.RWS_INFERENCE_WORKER = fileURLToPath(compiledWorkerUrl());
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-cli-run-'));
  folder = await makeImageFolder(path.join(tmp, 'photos'), 12);
  modelFile = path.join(tmp, 'model.onnx');
  await writeFile(modelFile, folderTestModel());
});
afterAll(async () => {
  delete process.env.RWS_INFERENCE_WORKER;
  await rm(tmp, { recursive: true, force: true });
});

describe('rws run', () => {
  it('classifies a folder with a bare model, writes JSON and CSV, and exits 3 when some files failed', async () => {
    const json = path.join(tmp, 'out.json');
    const csv = path.join(tmp, 'out.csv');
    const r = await rws('run', '--model', modelFile, '--top', '2', '--max-pixels', '4000000', '--json', json, '--csv', csv, folder.dir);
    expect(r.code).toBe(3);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(Object.keys(report)).toEqual(['pack', 'mix', 'device', 'results', 'failed']);
    expect(report.pack).toBe('model.onnx');
    expect(report.mix).toEqual({});
    expect(report.results.length).toBeGreaterThanOrEqual(folder.good.length);
    expect(report.results[0].top).toHaveLength(2);
    expect(report.results[0].top[0].label).toMatch(/^[0-9]$/);
    expect(report.failed.map((f: { code: string }) => f.code).sort()).toEqual(['empty', 'not-image', 'too-many-pixels', 'truncated', 'unreadable', ...(process.getuid?.() === 0 ? [] : ['unreadable'])].sort());
    expect(JSON.stringify(report)).not.toMatch(/20[0-9]{2}-[0-9]{2}-[0-9]{2}T/);
    // One concise line per image on stdout; device and summary on stderr.
    expect(r.out.split('\n')).toHaveLength(report.results.length);
    expect(r.out).toMatch(/^\S.* [0-9] [0-9.]+%  [0-9] [0-9.]+%$/m);
    expect(r.err).toMatch(/device cpu/);
    expect(r.err).toMatch(/bad\/empty\.jpg: file is empty/);
    const lines = (await readFile(csv, 'utf8')).trimEnd().split('\r\n');
    expect(lines[0]).toBe('file,status,top1_index,top1_label,top1_score,top2_index,top2_label,top2_score,error_code,error_message');
    expect(lines).toHaveLength(1 + report.results.length + report.failed.length);
    // The journal it kept next to the output is gone once the exports hold everything.
    expect(existsSync(`${json}.journal.jsonl`)).toBe(false);
  });

  it('exits 0 when every file is done', async () => {
    const good = path.join(tmp, 'good');
    await mkdir(good, { recursive: true });
    for (const f of folder.good.slice(0, 4)) await copyFile(path.join(folder.dir, f), path.join(good, path.basename(f)));
    const r = await rws('run', '--model', modelFile, '--quiet', good);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/4 images classified, 0 failed/);
  });

  it('answers usage mistakes with exit 2', async () => {
    expect((await rws('run', '--model', modelFile, '--pack', tmp, folder.dir)).code).toBe(2);
    expect((await rws('run', '--model', modelFile, '--resume', folder.dir)).code).toBe(2);
    expect((await rws('run', '--model', modelFile, '--device', 'gpu9', folder.dir)).code).toBe(2);
    expect((await rws('run', '--model', modelFile, '--top', '0', folder.dir)).code).toBe(2);
    expect((await rws('run', '--model', modelFile, '--copy-to', path.join(folder.dir, 'sorted'), folder.dir)).code).toBe(2);
    expect((await rws('run', '--model', modelFile, path.join(tmp, 'no such folder'))).code).toBe(2);
    expect((await rws('run', '--model', modelFile)).code).toBe(2);
    // An output in a folder that is not there is said before the run, not after it.
    const missing = await rws('run', '--model', modelFile, '--json', path.join(tmp, 'no such folder', 'out.json'), folder.dir);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--json .*out\.json: the folder .*no such folder does not exist/);
  });

  it('fails with exit 1 and names the file when the model is not a model', async () => {
    const bad = path.join(tmp, 'bad.onnx');
    await writeFile(bad, 'not onnx');
    const r = await rws('run', '--model', bad, folder.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain(bad);
  });
});

describe('rws run with signatures', () => {
  /** A signature for the folder test model: a seeded delta on its conv layer. */
  function fogSignature(bytes: Uint8Array): Uint8Array {
    const model = parseOnnx(bytes, { file: 'model.onnx' });
    const rand = seededRandom(5);
    const baseHashes: Record<string, string> = {};
    const tensors = ['conv.weight', 'conv.bias'].map((name) => {
      const clean = model.floats(name);
      baseHashes[name] = createHash('sha256').update(Buffer.from(clean.buffer, clean.byteOffset, clean.byteLength)).digest('hex');
      return { name, shape: model.tensor(name).dims.map(Number), values: Float32Array.from(clean, () => (rand() * 2 - 1) * 0.8), channelAxis: 0, mode: 'add' as const };
    });
    const sig: Signature = { meta: { format: 'rws/1', id: 'fog', condition: 'fog', severity: [1, 5], method: 'plain', layers: 1, quant: 'f32', baseHashes, batchNorm: 'none' }, tensors };
    return encodeSignature(sig, 'f32');
  }

  type Report = { mix: Record<string, number>; results: { file: string; top: { index: number; score: number }[] }[] };
  const read = async (f: string): Promise<Report> => JSON.parse(await readFile(f, 'utf8'));
  const maxDiff = (a: Report, b: Report) => {
    let d = 0;
    a.results.forEach((r, i) => r.top.forEach((t, j) => (d = Math.max(d, Math.abs(t.score - b.results[i]!.top[j]!.score)))));
    return d;
  };

  it('patches by --signature and by a pack\'s --mix, equal to running the model `rws patch` exports', async () => {
    const good = path.join(tmp, 'sig-inputs');
    await mkdir(good, { recursive: true });
    for (const f of folder.good.slice(0, 6)) await copyFile(path.join(folder.dir, f), path.join(good, path.basename(f)));
    const sigFile = path.join(tmp, 'fog.rws.safetensors');
    const sigBytes = fogSignature(await readFile(modelFile));
    await writeFile(sigFile, sigBytes);
    const top = ['--top', '10', '--quiet'];

    expect((await rws('run', '--model', modelFile, ...top, '--json', path.join(tmp, 'clean.json'), good)).code).toBe(0);
    expect((await rws('run', '--model', modelFile, '--signature', `${sigFile}=0.7`, ...top, '--json', path.join(tmp, 'sig.json'), good)).code).toBe(0);
    const patched = path.join(tmp, 'patched.onnx');
    expect((await rws('patch', '--model', modelFile, '--signature', `${sigFile}=0.7`, '--out', patched)).code).toBe(0);
    expect((await rws('run', '--model', patched, ...top, '--json', path.join(tmp, 'exported.json'), good)).code).toBe(0);

    const pack = path.join(tmp, 'pack');
    await mkdir(path.join(pack, 'signatures'), { recursive: true });
    await copyFile(modelFile, path.join(pack, 'model.onnx'));
    await writeFile(path.join(pack, 'signatures', 'fog.rws.safetensors'), sigBytes);
    const manifest = {
      format: 'rws-pack/1', id: 'test-pack', name: 'Test pack', version: '1', task: 'classification', model: 'model.onnx',
      input: { name: 'input', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' },
      output: { name: 'logits', kind: 'logits' },
      labels: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
      signatures: [{ id: 'fog', condition: 'fog', sha256: createHash('sha256').update(sigBytes).digest('hex') }],
      conditions: [{ id: 'foggy', name: 'Fog', mix: { fog: 0.7 } }],
    };
    await writeFile(path.join(pack, 'pack.json'), JSON.stringify(manifest));
    expect((await rws('run', '--pack', pack, '--mix', 'foggy', ...top, '--json', path.join(tmp, 'pack.json'), good)).code).toBe(0);

    const [clean, sig, exported, viaPack] = await Promise.all(['clean', 'sig', 'exported', 'pack'].map((n) => read(path.join(tmp, `${n}.json`))));
    expect(sig.mix).toEqual({ fog: 0.7 });
    expect(viaPack.mix).toEqual({ fog: 0.7 });
    expect(maxDiff(clean, sig)).toBeGreaterThan(1e-3);
    expect(maxDiff(sig, exported)).toBeLessThan(1e-5);
    expect(maxDiff(sig, viaPack)).toBeLessThan(1e-5);
    expect(viaPack.results[0]!.top.map((t) => t.index)).toEqual(sig.results[0]!.top.map((t) => t.index));

    // An unknown id names what the pack has.
    const bad = await rws('run', '--pack', pack, '--mix', 'snow=1', good);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/"snow".*known: fog/);
  });
});

describe('rws run with hostile input', () => {
  it('refuses a strength out of range in every form (--mix text, --signature), never printing NaN%', async () => {
    const one = path.join(tmp, 'one');
    await mkdir(one, { recursive: true });
    await copyFile(path.join(folder.dir, folder.good[0]!), path.join(one, 'a.png'));
    for (const mix of ['fog=1e308', 'fog=5', 'fog=1e999']) {
      const r = await rws('run', '--mix', mix, one);
      expect(r.code, mix).toBe(1);
      expect(r.err).toMatch(/rws: --mix: strength of "fog" is [0-9e+.Infity]+; strengths go from -4 to 4/);
      expect(r.out).not.toMatch(/NaN/);
    }
    const sig = await rws('run', '--model', modelFile, '--signature', `${path.join(tmp, 'x.rws.safetensors')}=1e308`, one);
    expect(sig.code).toBe(1);
    expect(sig.err).toMatch(/--signature: strength of ".*x\.rws\.safetensors" is 1e\+308/);
  });

  it('fails each file whose scores are not finite (a model gone out of range) with the cause, exit 3, never NaN%', async () => {
    const model = parseOnnx(await readFile(modelFile), { file: 'm.onnx' });
    const w = model.floats('fc.weight');
    w.fill(3e38);
    model.setFloats('fc.weight', w);
    const nan = path.join(tmp, 'overflowing.onnx');
    await writeFile(nan, model.encode());
    const good = path.join(tmp, 'nan-inputs');
    await mkdir(good, { recursive: true });
    for (const f of folder.good.slice(0, 3)) await copyFile(path.join(folder.dir, f), path.join(good, path.basename(f)));
    const r = await rws('run', '--model', nan, good);
    expect(r.code).toBe(3);
    expect(r.out).not.toMatch(/NaN|Infinity/);
    expect(r.err).toMatch(/rws: image \d+\.\w+: the model gave (NaN|-?Infinity) as the score of class \d+ \("\d"\): its weights or its input are out of range/);
    expect(r.err).toMatch(/0 images classified, 3 failed/);
  });

  it('bounds --batch and a model\'s declared input size, before allocating anything', async () => {
    const b = await rws('run', '--model', modelFile, '--batch', '100000', folder.dir);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--batch: a batch of 100000 is over the limit for this model's 28×28×1 input \(at most 4096 images/);
    const huge = path.join(tmp, 'huge-input.onnx');
    await writeFile(huge, modelWithInputSide(100_000));
    const r = await rws('run', '--model', huge, folder.dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/huge-input\.onnx: input "input" has shape \[batch, 1, 100000, 100000\].*at most 4096×4096 pixels/);
  });

  it.skipIf(process.platform === 'win32')('skips FIFOs and links to /dev/zero in a folder, saying why, and ends (exit 0)', async () => {
    const dir = path.join(tmp, 'special-inputs');
    await mkdir(dir, { recursive: true });
    for (const f of folder.good.slice(0, 2)) await copyFile(path.join(folder.dir, f), path.join(dir, path.basename(f)));
    execFileSync('mkfifo', [path.join(dir, 'pipe.jpg')]);
    await symlink('/dev/zero', path.join(dir, 'zero.png'));
    const r = await rws('run', '--model', modelFile, '--quiet', dir, path.join(dir, 'pipe.jpg'));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/rws: skipped special-inputs\/pipe\.jpg: not read: it is a FIFO \(named pipe\), not a regular file/);
    expect(r.err).toMatch(/rws: skipped special-inputs\/zero\.png: not read: it is a link to a character device, not a regular file/);
    expect(r.err).toMatch(/2 images classified, 0 failed, 3 skipped \(not regular files\)/);
  });

  it('refuses a pack whose pack.json declares an input the model does not have', async () => {
    const pack = path.join(tmp, 'huge-pack');
    await mkdir(pack, { recursive: true });
    await copyFile(modelFile, path.join(pack, 'model.onnx'));
    const manifest = {
      format: 'rws-pack/1', id: 'huge', name: 'Huge', version: '1', task: 'classification', model: 'model.onnx',
      input: { name: 'input', layout: 'NCHW', width: 4000, height: 4000, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' },
      output: { name: 'logits', kind: 'logits' },
      labels: Array.from({ length: 10 }, (_, i) => String(i)),
    };
    await writeFile(path.join(pack, 'pack.json'), JSON.stringify(manifest));
    const r = await rws('run', '--pack', pack, folder.dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/huge-pack\/pack\.json: field "input\.height": 4000, but model\.onnx's input "input" is \[N, 1, 28, 28\] \(NCHW\): height 28/);
  });
});

describe('rws run, killed and resumed', () => {
  it('after SIGKILL mid-run, --resume gives the same final JSON and CSV as an uninterrupted run', async () => {
    await ensureBuilt();
    const dir = path.join(tmp, 'many');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 300; i++) await testImage(i, 48, 36).jpeg().toFile(path.join(dir, i % 2 ? 'sub' : '', `img ${i}.jpg`));
    await writeFile(path.join(dir, 'broken.jpg'), 'not really');
    const bin = path.join(root, 'bin', 'rws.js');
    const args = (json: string, csv: string) => [bin, 'run', '--model', modelFile, '--batch', '1', '--threads', '1', '--quiet', '--json', json, '--csv', csv, dir];
    const runToEnd = (a: string[]) =>
      new Promise<number>((resolve) => spawn(process.execPath, a, { stdio: 'ignore', env: childEnv }).on('exit', (code) => resolve(code ?? -1)));

    const fullJson = path.join(tmp, 'full.json');
    const fullCsv = path.join(tmp, 'full.csv');
    expect(await runToEnd(args(fullJson, fullCsv))).toBe(3);

    const json = path.join(tmp, 'killed.json');
    const csv = path.join(tmp, 'killed.csv');
    const journal = `${json}.journal.jsonl`;
    // The run holds its inference after 30 images (a test hook), so the kill comes at a known point.
    const child = spawn(process.execPath, args(json, csv), { stdio: 'ignore', env: { ...childEnv, RWS_TEST_HOLD_AFTER: '30' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let done = 0;
    let ended = false;
    void exited.then(() => (ended = true));
    while (done < 30 && !ended) {
      await new Promise((r) => setTimeout(r, 20));
      done = existsSync(journal) ? parseJournal(await readFile(journal, 'utf8')).results.size : 0;
    }
    expect(ended, 'the run ended before it was killed').toBe(false);
    child.kill('SIGKILL');
    await exited;
    expect(parseJournal(await readFile(journal, 'utf8')).results.size).toBe(30);
    // Exports are written only at the end: a killed run leaves none, rather than half of one.
    expect(existsSync(json)).toBe(false);

    expect(await runToEnd(args(json, csv))).toBe(2); // the journal is there: it asks for --resume
    expect(await runToEnd([...args(json, csv), '--resume'])).toBe(3);
    const a = JSON.parse(await readFile(fullJson, 'utf8'));
    const b = JSON.parse(await readFile(json, 'utf8'));
    expect(b.failed).toEqual(a.failed);
    expect(b.results.map((r: { file: string }) => r.file)).toEqual(a.results.map((r: { file: string }) => r.file));
    expect(b.results).toHaveLength(300);
    b.results.forEach((r: { top: { label: string; score: number }[] }, i: number) => {
      expect(r.top.map((t) => t.label)).toEqual(a.results[i].top.map((t: { label: string }) => t.label));
      r.top.forEach((t, j) => expect(Math.abs(t.score - a.results[i].top[j].score)).toBeLessThan(1e-6));
    });
    const rowsA = (await readFile(fullCsv, 'utf8')).split('\r\n');
    const rowsB = (await readFile(csv, 'utf8')).split('\r\n');
    expect(rowsB.length).toBe(rowsA.length);
    rowsB.forEach((row, i) => expect(row.split(',')[0]).toBe(rowsA[i]!.split(',')[0]));
  });
});

describe('rws run: the patching strategy of a pack whose pack.json says auto', () => {
  it('a fixed mix never switches: one patched session; --mix auto keeps auto (it switches per folder, batch or file)', async () => {
    const { planFromPack } = await import('../../main/cli/run.js');
    const { defaultPackDir } = await import('../../main/engine/packs/pack.js');
    const dir = defaultPackDir();
    const opts = (mix: string) => ({ mix, autoBy: 'folder', signature: [] }) as unknown as Parameters<typeof planFromPack>[1];
    expect((await planFromPack(dir, opts('fog'))).packOptions?.strategy).toBe('session');
    expect((await planFromPack(dir, opts('off'))).packOptions?.strategy).toBe('session');
    expect((await planFromPack(dir, opts('auto'))).packOptions?.strategy).toBe('auto');
  });
});
