import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { loadPack } from '../../../main/engine/packs/pack.js';
import { readSignature } from '../../../main/engine/signatures/fit.js';
import {
  generateSigningKeys,
  readPrivateKey,
  readTrustedKeys,
  setTrustPolicy,
  setTrustedKeysDir,
  sha256Hex,
  sigPath,
  signBytes,
  verifyFile,
  type TrustedKey,
} from '../../../main/engine/packs/trust.js';
import { writeFixturePack } from '../../service/fixture-pack.js';

let root: string;
let trustedDir: string;
let otherDir: string;
let key: string;
let otherKey: string;
let trusted: TrustedKey[];

function keysIn(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const k = generateSigningKeys();
  writeFileSync(path.join(dir, `${name}.pub.pem`), k.publicPem);
  const priv = path.join(root, `${name}.key.pem`);
  writeFileSync(priv, k.privatePem);
  return priv;
}

async function signFile(file: string, privFile: string): Promise<void> {
  const sig = signBytes(file, readFileSync(file), await readPrivateKey(privFile));
  writeFileSync(sigPath(file), JSON.stringify(sig));
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RwsError);
    return (e as RwsError).code;
  }
  return 'ok';
}

/** A fixture pack that lists its model's hash (as a pack to be signed must). */
function packWithModelHash(name: string): string {
  const dir = writeFixturePack(path.join(root, name), { model: 'tiny' });
  const file = path.join(dir, 'pack.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  m.modelSha256 = sha256Hex(readFileSync(path.join(dir, m.model)));
  writeFileSync(file, JSON.stringify(m, null, 2));
  return dir;
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rws-trust-'));
  trustedDir = path.join(root, 'trusted');
  otherDir = path.join(root, 'other');
  key = keysIn(trustedDir, 'maker');
  otherKey = keysIn(otherDir, 'stranger');
  trusted = await readTrustedKeys([trustedDir]);
});

afterEach(() => {
  setTrustPolicy(undefined);
  setTrustedKeysDir(undefined);
  delete process.env.RWS_TRUSTED_KEYS;
});

describe('detached signatures', () => {
  it('verifies a signed file, and says why for each kind of refusal', async () => {
    const file = path.join(root, 'a.bin');
    writeFileSync(file, 'hello');
    expect(await code(verifyFile(file, trusted))).toBe('trust-unsigned');

    await signFile(file, key);
    const v = await verifyFile(file, trusted);
    expect(v.key.id).toBe(trusted[0]!.id);
    expect(v.sha256).toBe(sha256Hex(Buffer.from('hello')));

    writeFileSync(file, 'hellO');
    await expect(verifyFile(file, trusted)).rejects.toThrow(/changed after it was signed/);
    writeFileSync(file, 'hello');

    // Renaming a signed file (and its .sig) does not carry the trust over.
    const moved = path.join(root, 'b.bin');
    copyFileSync(file, moved);
    copyFileSync(sigPath(file), sigPath(moved));
    expect(await code(verifyFile(moved, trusted))).toBe('trust-renamed');

    await signFile(file, otherKey);
    await expect(verifyFile(file, trusted)).rejects.toThrow(/signed by key [0-9a-f]{16}, which is not among/);

    // A .sig naming the trusted key but carrying another key's signature: forged.
    const forged = JSON.parse(readFileSync(sigPath(file), 'utf8'));
    forged.key = trusted[0]!.id;
    writeFileSync(sigPath(file), JSON.stringify(forged));
    expect(await code(verifyFile(file, trusted))).toBe('trust-bad-signature');

    writeFileSync(sigPath(file), '{"format":"rws-sig/1"}');
    await expect(verifyFile(file, trusted)).rejects.toThrow(/a\.bin\.sig: field "file"/);
  });

  it('trusts only Ed25519 public keys, refuses a private key named as one, skips private keys in a folder', async () => {
    const dir = path.join(root, 'keys-mixed');
    mkdirSync(dir);
    copyFileSync(key, path.join(dir, 'oops.pem'));
    await expect(readTrustedKeys([path.join(dir, 'oops.pem')])).rejects.toThrow(/is a private key/);
    await expect(readTrustedKeys([dir])).rejects.toThrow(/no public keys/);
    copyFileSync(path.join(trustedDir, 'maker.pub.pem'), path.join(dir, 'maker.pub.pem'));
    expect((await readTrustedKeys([dir])).map((k) => k.id)).toEqual([trusted[0]!.id]);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(path.join(dir, 'oops.pem'), rsa);
    await expect(readTrustedKeys([dir])).rejects.toThrow(/rsa key; rws trusts only Ed25519/);
    const empty = path.join(root, 'keys-empty');
    mkdirSync(empty);
    await expect(readTrustedKeys([empty])).rejects.toThrow(/no public keys/);
    await expect(readPrivateKey(path.join(trustedDir, 'maker.pub.pem'))).rejects.toThrow(/this is a public key/);
  });
});

describe('packs: model hash and trust policy', () => {
  it('refuses a model that differs from the modelSha256 pack.json lists, with or without a policy', async () => {
    const dir = packWithModelHash('pack-hash');
    await expect(loadPack(dir)).resolves.toBeTruthy();
    const model = path.join(dir, 'model.onnx');
    const bytes = readFileSync(model);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(model, bytes);
    await expect(loadPack(dir)).rejects.toThrow(/field "modelSha256": model.onnx has SHA-256 [0-9a-f]{64}, not the one pack.json lists/);
  });

  it('loads a pack only when a trusted key signed its pack.json, which must list the model hash', async () => {
    const plain = writeFixturePack(path.join(root, 'pack-plain'), { model: 'tiny' });
    const dir = packWithModelHash('pack-signed');
    setTrustedKeysDir(trustedDir);

    await expect(loadPack(dir)).rejects.toThrow(/pack\.json: refused: it is not signed \(no pack\.json\.sig next to it\)/);

    await signFile(path.join(plain, 'pack.json'), key);
    expect(await code(loadPack(plain))).toBe('trust-pack-model');

    await signFile(path.join(dir, 'pack.json'), otherKey);
    expect(await code(loadPack(dir))).toBe('trust-untrusted-key');

    await signFile(path.join(dir, 'pack.json'), key);
    const pack = await loadPack(dir);
    expect(pack.missing).toEqual([]);
    expect([...pack.signatureFiles.keys()].sort()).toEqual(['fog', 'low-light']);

    // What the signed pack.json lists needs no .sig of its own (the patcher and pack info read it so):
    // those exact bytes are vouched for, under any name; other signature files still need one.
    expect((await readSignature(pack.signatureFiles.get('fog')!)).meta.id).toBe('fog');
    const stray = path.join(root, 'stray.rws.safetensors');
    writeFileSync(stray, readFileSync(path.join(plain, 'signatures', 'fog.rws.safetensors')).subarray(0));
    expect(await code(readSignature(stray))).toBe('ok');
    const other = writeFixturePack(path.join(root, 'pack-other'), { model: 'small-resnet', strength: 0.9 });
    expect(await code(readSignature(path.join(other, 'signatures', 'fog.rws.safetensors')))).toBe('trust-unsigned');
    setTrustedKeysDir(otherDir);
    expect(await code(readSignature(pack.signatureFiles.get('fog')!))).toBe('trust-unsigned');
    setTrustedKeysDir(trustedDir);
    await loadPack(dir);

    // A signature swapped after signing: the signed pack.json's hash no longer matches, so it is not used.
    const fog = path.join(dir, 'signatures', 'fog.rws.safetensors');
    copyFileSync(path.join(dir, 'signatures', 'low-light.rws.safetensors'), fog);
    const again = await loadPack(dir);
    expect(again.signatureFiles.has('fog')).toBe(false);
    expect(again.missing[0]!.reason).toMatch(/SHA-256 differs/);

    setTrustedKeysDir(undefined);
    await expect(loadPack(plain)).resolves.toBeTruthy();
  });

  it('takes the policy from RWS_TRUSTED_KEYS', async () => {
    const dir = writeFixturePack(path.join(root, 'pack-env'), { model: 'tiny' });
    process.env.RWS_TRUSTED_KEYS = trustedDir;
    await expect(loadPack(dir)).rejects.toThrow(/only files signed by the keys in RWS_TRUSTED_KEYS=/);
    process.env.RWS_TRUSTED_KEYS = path.join(root, 'nowhere');
    expect(await code(loadPack(dir))).toBe('trust-keys');
  });
});

describe('standalone signatures under a policy', () => {
  it('reads an unsigned signature file without a policy, and only a signed one with it', async () => {
    const dir = writeFixturePack(path.join(root, 'pack-sigs'), { model: 'tiny' });
    const sig = path.join(dir, 'signatures', 'fog.rws.safetensors');
    await expect(readSignature(sig)).resolves.toBeTruthy();
    setTrustedKeysDir(trustedDir);
    expect(await code(readSignature(sig))).toBe('trust-unsigned');
    await signFile(sig, key);
    expect((await readSignature(sig)).meta.id).toBe('fog');
    renameSync(sigPath(sig), path.join(root, 'elsewhere.sig'));
    expect(await code(readSignature(sig))).toBe('trust-unsigned');
  });
});
