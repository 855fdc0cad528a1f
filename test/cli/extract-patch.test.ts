import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSignature } from '../../main/core/signature-codec.js';
import { parseOnnx } from '../../main/engine/onnx/model.js';
import { Patcher } from '../../main/engine/runtime/patcher.js';
import { seededRandom, smallResNet, tinyConvNet } from '../fixtures/models.js';
import { rws } from './cli-harness.js';

let dir: string;
let cleanFile: string;
let robustFile: string;
let otherFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rws-cli-'));
  const fx = smallResNet();
  cleanFile = path.join(dir, 'clean.onnx');
  writeFileSync(cleanFile, fx.bytes);
  // The "robust" model: the first two layers moved (a shallow fine-tune's shape of change).
  const robust = parseOnnx(fx.bytes, { file: 'robust.onnx' });
  const rand = seededRandom(11);
  for (const l of robust.layers().slice(0, 2)) {
    for (const n of [l.weight, l.bias].filter((x): x is string => Boolean(x))) {
      robust.setFloats(n, Float32Array.from(robust.floats(n), (v) => v + (rand() * 2 - 1) * 0.05));
    }
  }
  robustFile = path.join(dir, 'robust.onnx');
  writeFileSync(robustFile, robust.encode());
  otherFile = path.join(dir, 'other.onnx');
  writeFileSync(otherFile, smallResNet(99).bytes);
});

async function logits(model: Uint8Array | string, x: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model as any);
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, [1, 1, 28, 28]) });
  await s.release();
  return out[s.outputNames[0]!]!.data as Float32Array;
}

describe('rws extract', () => {
  it('writes a signature, printing what it kept, the share and the size', async () => {
    const out = path.join(dir, 'fog.rws.safetensors');
    const r = await rws('extract', '--clean', cleanFile, '--robust', robustFile, '--condition', 'fog', '--quant', 'int8', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kept 2 of \d+ layers/);
    expect(r.stdout).toMatch(/energy share kept: 100\.00%/);
    expect(r.stdout).toMatch(/× smaller/);
    const sig = decodeSignature(readFileSync(out), out);
    expect(sig.meta.condition).toBe('fog');
    expect(sig.meta.quant).toBe('int8');
    expect(sig.meta.layers).toBe(2);
  });

  it('refuses models of different graphs, naming the tensor, with exit code 1', async () => {
    const r = await rws('extract', '--clean', cleanFile, '--robust', writeTiny(), '--condition', 'fog', '--out', path.join(dir, 'x.rws.safetensors'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tensor "/);
  });

  it('rejects a bad --quant as a usage error (exit 2)', async () => {
    const r = await rws('extract', '--clean', cleanFile, '--robust', robustFile, '--condition', 'fog', '--quant', 'int3', '--out', path.join(dir, 'x.rws.safetensors'));
    expect(r.code).toBe(2);
  });
});

function writeTiny(): string {
  const f = path.join(dir, 'tiny.onnx');
  writeFileSync(f, tinyConvNet().bytes);
  return f;
}

describe('rws patch', () => {
  it('exports a model whose logits equal the live Patcher\'s with the same mix (≤ 1e-5)', async () => {
    const sigFile = path.join(dir, 'fog-f32.rws.safetensors');
    expect((await rws('extract', '--clean', cleanFile, '--robust', robustFile, '--condition', 'fog', '--quant', 'f32', '--out', sigFile)).code).toBe(0);
    const out = path.join(dir, 'patched.onnx');
    const r = await rws('patch', '--model', cleanFile, '--signature', `${sigFile}=0.7`, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const x = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100);
    const exported = await logits(out, x);
    const model = parseOnnx(readFileSync(cleanFile), { file: cleanFile });
    for (const strategy of ['head', 'session'] as const) {
      const p = await Patcher.create(model, new Map([['fog', decodeSignature(readFileSync(sigFile), sigFile)]]), { strategy, device: 'cpu' });
      await p.setMix({ fog: 0.7 });
      const live = await p.run(x, [1, 1, 28, 28]);
      await p.dispose();
      let maxDiff = 0;
      for (let i = 0; i < live.length; i++) maxDiff = Math.max(maxDiff, Math.abs(live[i]! - exported[i]!));
      expect(maxDiff).toBeLessThanOrEqual(1e-5);
    }
    // And the export really differs from the clean model.
    const clean = await logits(cleanFile, x);
    expect(Math.max(...clean.map((v, i) => Math.abs(v - exported[i]!)))).toBeGreaterThan(1e-4);
  });

  it('refuses a signature made for another model, naming the tensor; --force applies it with a warning', async () => {
    const sigFile = path.join(dir, 'fog.rws.safetensors');
    const out = path.join(dir, 'patched-other.onnx');
    const refused = await rws('patch', '--model', otherFile, '--signature', sigFile, '--out', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/fog\.rws\.safetensors.*tensor ".+" was made for another base model/);
    const forced = await rws('patch', '--model', otherFile, '--signature', sigFile, '--force', '--out', out);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: .*applied anyway/);
  });
});

describe('rws inspect', () => {
  it('describes a signature and whether it fits a model, as JSON', async () => {
    const sigFile = path.join(dir, 'fog.rws.safetensors');
    const ok = JSON.parse((await rws('inspect', sigFile, '--model', cleanFile, '--json')).stdout);
    expect(ok.kind).toBe('signature');
    expect(ok.fit.fits).toBe(true);
    const bad = JSON.parse((await rws('inspect', sigFile, '--model', otherFile, '--json')).stdout);
    expect(bad.fit.fits).toBe(false);
    expect(bad.fit.problems[0].kind).toBe('hash');
  });

  it('describes a model with its layers in graph order', async () => {
    const r = await rws('inspect', cleanFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/parameters/);
    expect(r.stdout).toMatch(/\n\s+0 Conv/);
  });

  it.skipIf(process.platform === 'win32')('refuses a FIFO or a link to /dev/zero at once, whatever its name says it is', async () => {
    execFileSync('mkfifo', [path.join(dir, 'pipe.onnx'), path.join(dir, 'pipe')]);
    symlinkSync('/dev/zero', path.join(dir, 'zero.rws.safetensors'));
    const started = Date.now();
    for (const [name, what] of [['pipe.onnx', 'the model: it is a FIFO'], ['pipe', 'a model or signature: it is a FIFO'], ['zero.rws.safetensors', 'the signature: it is a character device']]) {
      const r = await rws('inspect', path.join(dir, name));
      expect(r.code, name).toBe(1);
      expect(r.stderr).toContain(`rws: ${path.join(dir, name)}: refused as ${what}`);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('names the file when it is not ONNX', async () => {
    const junk = path.join(dir, 'junk.onnx');
    writeFileSync(junk, 'hello, not a model');
    const r = await rws('inspect', junk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('junk.onnx');
  });
});
