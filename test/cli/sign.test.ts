import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../main/engine/packs/trust.js';
import { writeFixturePack } from '../service/fixture-pack.js';
import { rws } from './cli-harness.js';

let root: string;
let keys: string;
let otherKeys: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rws-sign-'));
  keys = path.join(root, 'keys');
  otherKeys = path.join(root, 'other-keys');
  expect((await rws('keygen', '--out', keys, '--name', 'maker')).code).toBe(0);
  expect((await rws('keygen', '--out', otherKeys)).code).toBe(0);
});

describe('rws keygen', () => {
  it('writes a private key only its owner can read, a public key, and never overwrites', async () => {
    expect(existsSync(path.join(keys, 'maker.pub.pem'))).toBe(true);
    if (process.platform !== 'win32') expect(statSync(path.join(keys, 'maker.key.pem')).mode & 0o077).toBe(0);
    const again = await rws('keygen', '--out', keys, '--name', 'maker');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/maker\.key\.pem: already exists/);
  });
});

describe('rws sign and rws verify', () => {
  it('signs files and verifies them against trusted keys; another key or a change is refused (exit 3)', async () => {
    const dir = writeFixturePack(path.join(root, 'sigs'), { model: 'tiny' });
    const fog = path.join(dir, 'signatures', 'fog.rws.safetensors');
    const ll = path.join(dir, 'signatures', 'low-light.rws.safetensors');
    const s = await rws('sign', '--key', path.join(keys, 'maker.key.pem'), fog, ll);
    expect(s.code).toBe(0);
    expect(existsSync(`${fog}.sig`)).toBe(true);

    const ok = await rws('verify', '--trusted', path.join(keys, 'maker.pub.pem'), fog, ll);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok .*fog\.rws\.safetensors: signed by key [0-9a-f]{16} \(maker\.pub\.pem\)/);

    const other = await rws('verify', '--trusted', otherKeys, fog);
    expect(other.code).toBe(3);
    expect(other.stdout).toMatch(/refused .*fog\.rws\.safetensors: refused: signed by key [0-9a-f]{16}, which is not among the keys given with --trusted/);

    const model = path.join(dir, 'model.onnx');
    const partly = await rws('verify', '--trusted', keys, fog, model);
    expect(partly.code).toBe(3);
    expect(partly.stdout).toMatch(/model\.onnx: refused: it is not signed/);

    const noKeys = await rws('verify', fog);
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toMatch(/name the trusted public keys/);
  });

  it('signs a pack folder only when pack.json lists the right model hash; verify checks the whole pack', async () => {
    const dir = writeFixturePack(path.join(root, 'pack'), { model: 'tiny' });
    const key = path.join(keys, 'maker.key.pem');
    const hash = sha256Hex(readFileSync(path.join(dir, 'model.onnx')));
    const refused = await rws('sign', '--key', key, dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`add "modelSha256": "${hash}"`);

    const file = path.join(dir, 'pack.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...m, modelSha256: hash }, null, 2));
    expect((await rws('sign', '--key', key, dir)).code).toBe(0);
    const ok = await rws('verify', '--trusted', keys, dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/pack\.json signed by a trusted key, model and 2 signature\(s\) match/);
    // Loading it under the policy reads its signatures too: the signed pack.json vouches for them.
    const inspect = await rws('inspect', dir, '--trusted-keys', keys);
    expect(inspect.stderr).toBe('');
    expect(inspect.code).toBe(0);

    // The packs' signatures are vouched for by the signed pack.json: a swapped file is refused.
    writeFileSync(path.join(dir, 'signatures', 'fog.rws.safetensors'), readFileSync(path.join(dir, 'signatures', 'low-light.rws.safetensors')));
    const swapped = await rws('verify', '--trusted', keys, dir);
    expect(swapped.code).toBe(3);
    expect(swapped.stdout).toMatch(/refused signature "fog": .*SHA-256 differs/);
  });

  it('reports every file of the pack that does not match, even when a library copy would be used instead', async () => {
    const dir = writeFixturePack(path.join(root, 'shadowed'), { model: 'tiny' });
    const file = path.join(dir, 'pack.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...m, modelSha256: sha256Hex(readFileSync(path.join(dir, 'model.onnx'))) }, null, 2));
    expect((await rws('sign', '--key', path.join(keys, 'maker.key.pem'), dir)).code).toBe(0);
    // The user library holds the right fog; the pack's own copy is tampered with.
    const library = path.join(root, 'library');
    mkdirSync(library, { recursive: true });
    const fog = path.join(dir, 'signatures', 'fog.rws.safetensors');
    copyFileSync(fog, path.join(library, 'fog.rws.safetensors'));
    writeFileSync(fog, readFileSync(path.join(dir, 'signatures', 'low-light.rws.safetensors')));
    process.env.RWS_SIGNATURES = library;
    try {
      const r = await rws('verify', '--trusted', keys, dir);
      expect(r.code).toBe(3);
      expect(r.stdout).toContain(`refused signature "fog": ${fog}: SHA-256 differs from the one pack.json lists for "fog" (the copy in ${library} matches and would be used)`);
      expect(r.stdout).toMatch(/^refused .*shadowed: 1 signature file\(s\) of the pack differ from pack\.json or cannot be read$/m);
      expect(r.stdout).not.toMatch(/^ok/m);
    } finally {
      delete process.env.RWS_SIGNATURES;
    }
  });
});

describe('--trusted-keys where the CLI loads packs, models and signatures', () => {
  it('refuses an unsigned pack and unsigned signature files, naming what and why', async () => {
    const dir = writeFixturePack(path.join(root, 'policy'), { model: 'tiny' });
    const inspect = await rws('inspect', dir, '--trusted-keys', keys);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toMatch(/pack\.json: refused: it is not signed \(no pack\.json\.sig next to it\), and only files signed by the keys in --trusted-keys/);
    expect((await rws('inspect', dir)).code).toBe(0);

    const model = path.join(dir, 'model.onnx');
    const fog = path.join(dir, 'signatures', 'fog.rws.safetensors');
    const out = path.join(root, 'patched.onnx');
    const patch = () => rws('patch', '--trusted-keys', keys, '--model', model, '--signature', `${fog}=0.5`, '--out', out);
    const unsigned = await patch();
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/model\.onnx: refused: it is not signed/);

    expect((await rws('sign', '--key', path.join(keys, 'maker.key.pem'), model)).code).toBe(0);
    expect((await patch()).stderr).toMatch(/fog\.rws\.safetensors: refused: it is not signed/);
    expect((await rws('sign', '--key', path.join(otherKeys, 'rws-signing.key.pem'), fog)).code).toBe(0);
    expect((await patch()).stderr).toMatch(/fog\.rws\.safetensors: refused: signed by key [0-9a-f]{16}, which is not among the keys in --trusted-keys/);
    expect((await rws('sign', '--key', path.join(keys, 'maker.key.pem'), fog)).code).toBe(0);
    // rws run with a bare model and signature files goes through the same check.
    const images = path.join(root, 'no-images');
    const run = await rws('run', '--trusted-keys', keys, '--model', model, '--signature', path.join(dir, 'signatures', 'low-light.rws.safetensors'), images);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/low-light\.rws\.safetensors: refused: it is not signed/);

    const done = await patch();
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});
