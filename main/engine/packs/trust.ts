// Signed files and the trust policy: who made a signature, a pack or a model, and whether we accept it.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { RwsError } from '../../core/errors.js';
import { MAX_MODEL_BYTES } from '../../core/limits.js';
import { readRegularFile, readRegularText, sha256Hex, type FileError } from '../io/regular-file.js';

export { sha256Hex };

/** Largest key or `.sig` file: a few hundred bytes each in practice. */
const MAX_KEY_BYTES = 64 * 1024;

/**
 * A detached signature (`FILE.sig`, JSON) signs the file's SHA-256 together with its base name, so a
 * signed `fog.rws.safetensors` cannot be passed off as another signature or another pack's file by
 * renaming it. Keys are Ed25519 (node:crypto), identified by the first 16 hex digits of the SHA-256
 * of their public key (SPKI DER).
 */
export const SIG_FORMAT = 'rws-sig/1';

/** The contents of a `.sig` file. */
export interface DetachedSignature {
  format: typeof SIG_FORMAT;
  /** Base name of the signed file. */
  file: string;
  sha256: string;
  /** Key id of the signer. */
  key: string;
  /** Ed25519 signature of `signedMessage(file, sha256)`, base64. */
  signature: string;
}

/** A public key we trust, and where it came from (for messages). */
export interface TrustedKey {
  id: string;
  key: KeyObject;
  source: string;
}

/** Which keys to trust, or none set (then nothing is checked). */
export interface TrustPolicy {
  keys: TrustedKey[];
  /** Where the keys came from: `--trusted-keys DIR` or `RWS_TRUSTED_KEYS=DIR`. */
  origin: string;
}

/** What a successful check found. */
export interface Verified {
  file: string;
  sha256: string;
  key: TrustedKey;
}

/** The path of the detached signature of `file`. */
export function sigPath(file: string): string {
  return `${file}.sig`;
}

/** SHA-256 hex of a file's bytes (a regular file; FIFOs and devices are refused). */
export async function sha256File(file: string): Promise<string> {
  return sha256Hex(await readSigned(file));
}

/** A file to be checked against a signature or a hash: regular, and at most a model's size. */
function readSigned(file: string): Promise<Buffer> {
  return readRegularFile(file, { what: 'the file', code: 'trust-read', maxBytes: MAX_MODEL_BYTES });
}

/** Key id: the first 16 hex digits of the SHA-256 of the public key's SPKI DER. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return sha256Hex(pub.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

function signedMessage(name: string, sha256: string): Buffer {
  // NUL separators: neither a file name nor a hex digest can contain one, so the parts cannot shift.
  return Buffer.from(`${SIG_FORMAT}\0${name}\0${sha256}`, 'utf8');
}

/** A fresh Ed25519 key pair as PEM text (PKCS#8 private, SPKI public). */
export function generateSigningKeys(): { privatePem: string; publicPem: string; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    id: keyId(publicKey),
  };
}

/** Read an Ed25519 private key from a PEM file; errors name the file. */
export async function readPrivateKey(file: string): Promise<KeyObject> {
  const text = await readText(file, 'trust-key');
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (e) {
    const hint = /PUBLIC KEY/.test(text) ? ' (this is a public key; signing needs the private one)' : '';
    throw new RwsError('trust-key', `${file}: not a PEM private key${hint} (${(e as Error).message})`, { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new RwsError('trust-key', `${file}: a ${key.asymmetricKeyType} key; rws signs with Ed25519 keys (make one with rws keygen)`, { file });
  }
  return key;
}

/** Read one public key file; a private key is refused, since a trust folder should never hold one. */
export async function readPublicKey(file: string): Promise<TrustedKey> {
  const text = await readText(file, 'trust-key');
  if (/PRIVATE KEY/.test(text)) {
    throw new RwsError('trust-key', `${file}: is a private key; trust only public keys (the .pub.pem that rws keygen writes)`, { file });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (e) {
    throw new RwsError('trust-key', `${file}: not a PEM public key (${(e as Error).message})`, { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new RwsError('trust-key', `${file}: a ${key.asymmetricKeyType} key; rws trusts only Ed25519 keys`, { file });
  }
  return { id: keyId(key), key, source: file };
}

/** Public keys from files and folders (every public `*.pem` in a folder, not recursive; a private key named as a file is refused). */
export async function readTrustedKeys(paths: string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      throw new RwsError('trust-keys', `${p}: cannot read the trusted keys (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: p });
    }
    if (!isDir) {
      keys.push(await readPublicKey(p));
      continue;
    }
    const names = (await readdir(p)).filter((n) => n.endsWith('.pem')).sort();
    let found = 0;
    for (const n of names) {
      // A private key next to its public key (rws keygen's folder) is skipped, never trusted as such.
      if (/PRIVATE KEY/.test(await readText(path.join(p, n), 'trust-key'))) continue;
      keys.push(await readPublicKey(path.join(p, n)));
      found++;
    }
    if (found === 0) throw new RwsError('trust-keys', `${p}: no public keys (*.pem) in the trusted keys folder`, { file: p });
  }
  return keys;
}

/** Sign a file's bytes: the detached signature to write next to it as `FILE.sig`. */
export function signBytes(name: string, bytes: Uint8Array, privateKey: KeyObject): DetachedSignature {
  const digest = sha256Hex(bytes);
  const base = path.basename(name);
  return {
    format: SIG_FORMAT,
    file: base,
    sha256: digest,
    key: keyId(privateKey),
    signature: sign(null, signedMessage(base, digest), privateKey).toString('base64'),
  };
}

/** Parse a `.sig` file's text; errors name the file and the field. */
export function parseDetachedSignature(text: string, file: string): DetachedSignature {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RwsError('trust-sig-format', `${file}: not a signature file (not JSON)`, { file });
  }
  const o = raw as Record<string, unknown>;
  const field = (k: string, ok: (v: unknown) => boolean): void => {
    if (typeof raw !== 'object' || raw === null || !ok(o[k])) throw new RwsError('trust-sig-format', `${file}: field "${k}" is missing or malformed`, { file, field: k });
  };
  field('format', (v) => v === SIG_FORMAT);
  field('file', (v) => typeof v === 'string' && v.length > 0);
  field('sha256', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v));
  field('key', (v) => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v));
  field('signature', (v) => typeof v === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(v));
  return o as unknown as DetachedSignature;
}

/**
 * Check that `bytes` (the contents of `file`) carry a valid signature by one of `keys`; throws an
 * RwsError saying what was refused and why: unsigned, changed since signing, renamed, signed by a
 * key not trusted, or a signature that does not verify.
 */
export async function verifyBytes(file: string, bytes: Uint8Array, keys: TrustedKey[], origin = 'the trusted keys'): Promise<Verified> {
  const sigFile = sigPath(file);
  let text: string;
  try {
    text = await readRegularText(sigFile, { what: 'a signature file', code: 'trust-read', maxBytes: MAX_KEY_BYTES });
  } catch (e) {
    const err = e as FileError;
    const why = err.errno === 'ENOENT' ? `it is not signed (no ${path.basename(sigFile)} next to it)` : err.message;
    throw new RwsError('trust-unsigned', `${file}: refused: ${why}, and only files signed by ${origin} are accepted`, { file });
  }
  const sig = parseDetachedSignature(text, sigFile);
  const digest = sha256Hex(bytes);
  if (sig.file !== path.basename(file)) {
    throw new RwsError('trust-renamed', `${file}: refused: its signature is for a file named "${sig.file}"; a signed file cannot be renamed`, { file });
  }
  if (sig.sha256 !== digest) {
    throw new RwsError('trust-changed', `${file}: refused: the file changed after it was signed (SHA-256 ${digest.slice(0, 12)}…, signed ${sig.sha256.slice(0, 12)}…)`, { file });
  }
  const key = keys.find((k) => k.id === sig.key);
  if (!key) {
    throw new RwsError('trust-untrusted-key', `${file}: refused: signed by key ${sig.key}, which is not among ${origin} (${keys.map((k) => k.id).join(', ') || 'none'})`, { file });
  }
  let ok = false;
  try {
    ok = verify(null, signedMessage(sig.file, sig.sha256), key.key, Buffer.from(sig.signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new RwsError('trust-bad-signature', `${file}: refused: ${path.basename(sigFile)} claims key ${sig.key} but its signature does not verify (forged or damaged)`, { file });
  return { file, sha256: digest, key };
}

/** Read `file` and check its signature (see `verifyBytes`); resolves with the bytes that were checked. */
export async function verifyFile(file: string, keys: TrustedKey[], origin?: string): Promise<Verified & { bytes: Uint8Array }> {
  const bytes = await readSigned(file);
  return { ...(await verifyBytes(file, bytes, keys, origin)), bytes };
}

/** SHA-256s of files a verified pack.json lists: the trusted key vouched for those exact bytes. */
const vouched = new Set<string>();

/** Record that a pack.json signed by a trusted key lists a file with this SHA-256 (its signatures need no .sig of their own). */
export function vouchFor(sha256: string): void {
  vouched.add(sha256);
}

let explicitDir: string | undefined;
let explicitPolicy: TrustPolicy | undefined;
const policies = new Map<string, Promise<TrustPolicy>>();

/** Set the trusted keys folder for this process (the CLI's `--trusted-keys`); undefined falls back to `RWS_TRUSTED_KEYS`. */
export function setTrustedKeysDir(dir: string | undefined): void {
  if (dir !== explicitDir) vouched.clear();
  explicitDir = dir;
}

/** Set the policy itself (e.g. `rws verify --trusted KEY...`); it wins over any folder; undefined clears it. */
export function setTrustPolicy(policy: TrustPolicy | undefined): void {
  if (policy !== explicitPolicy) vouched.clear();
  explicitPolicy = policy;
}

/** The policy in force: set explicitly, else `--trusted-keys DIR`, else `RWS_TRUSTED_KEYS`, else none (nothing is checked). */
export async function trustPolicy(): Promise<TrustPolicy | undefined> {
  // Trust is decided on the main thread, where files are chosen (loadPack, readSignature, rws run and
  // patch); a worker only reads what it is handed, and cannot see what a verified pack vouched for.
  if (!isMainThread) return undefined;
  if (explicitPolicy) return explicitPolicy;
  const dir = explicitDir ?? (process.env.RWS_TRUSTED_KEYS || undefined);
  if (!dir) return undefined;
  const origin = explicitDir !== undefined ? `the keys in --trusted-keys ${dir}` : `the keys in RWS_TRUSTED_KEYS=${dir}`;
  const key = `${origin}\0${path.resolve(dir)}`;
  let p = policies.get(key);
  if (!p) {
    p = readTrustedKeys([dir]).then((keys) => ({ keys, origin }));
    // A folder that failed to read may be fixed later: don't cache the failure.
    p.catch(() => policies.delete(key));
    policies.set(key, p);
  }
  return p;
}

/**
 * Under a trust policy, refuse `file` (whose contents are `bytes`) unless a trusted key signed it, or
 * a verified pack.json lists these exact bytes; without a policy, accept.
 */
export async function assertTrustedBytes(file: string, bytes: Uint8Array): Promise<void> {
  const policy = await trustPolicy();
  if (policy && !vouched.has(sha256Hex(bytes))) await verifyBytes(file, bytes, policy.keys, policy.origin);
}

function readText(file: string, code: string): Promise<string> {
  return readRegularText(file, { what: 'a key', code, maxBytes: MAX_KEY_BYTES });
}
