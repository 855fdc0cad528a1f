import { readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { RwsError } from '../core/errors.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { readRegularFile } from '../engine/io/regular-file.js';
import { MAX_MODEL_BYTES } from '../core/limits.js';
import { parsePackManifest } from '../engine/packs/pack.js';
import { generateSigningKeys, readPrivateKey, sha256Hex, sigPath, signBytes } from '../engine/packs/trust.js';
import { described } from './commands.js';

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

function readBytes(file: string): Promise<Buffer> {
  return readRegularFile(file, { what: 'the file to sign', code: 'sign-read', maxBytes: MAX_MODEL_BYTES });
}

/**
 * Before signing a pack.json, check what it vouches for: a signed pack must list its model's
 * SHA-256, and the hashes it lists must be those of the files in the pack folder now.
 */
async function checkPackBeforeSigning(file: string, bytes: Buffer): Promise<void> {
  const dir = path.dirname(file);
  const m = parsePackManifest(bytes.toString('utf8'), file);
  const model = await readBytes(path.join(dir, m.model));
  const actual = sha256Hex(model);
  if (m.modelSha256 === undefined) {
    throw new RwsError('sign-pack', `${file}: a signed pack must list its model's hash; add "modelSha256": "${actual}" and sign again`, { file, field: 'modelSha256' });
  }
  if (m.modelSha256 !== actual) {
    throw new RwsError('sign-pack', `${file}: field "modelSha256" does not match ${m.model} (SHA-256 ${actual}); fix pack.json before signing it`, { file, field: 'modelSha256' });
  }
  const local = new Set(await readdir(path.join(dir, 'signatures')).catch(() => [] as string[]));
  for (const s of m.signatures) {
    const name = s.file ?? `${s.id}.rws.safetensors`;
    if (!local.has(name)) continue;
    const h = sha256Hex(await readBytes(path.join(dir, 'signatures', name)));
    if (h !== s.sha256) {
      throw new RwsError('sign-pack', `${file}: signature "${s.id}": signatures/${name} has SHA-256 ${h}, pack.json lists ${s.sha256}; fix pack.json before signing it`, { file, field: `signatures.${s.id}.sha256` });
    }
  }
}

/**
 * Registers `rws sign` and `rws keygen`. (The program-wide `--trusted-keys DIR` option, default
 * `RWS_TRUSTED_KEYS`, is the program's own: see index.ts.)
 */
export function register(program: Command): void {
  program
    .command('sign')
    .description(described('sign'))
    .requiredOption('--key <file>', 'private key (PEM), as made by rws keygen')
    .argument('<files...>', 'signatures, models, pack.json files or pack folders')
    .action(async (files: string[], o: { key: string }) => {
      const key = await readPrivateKey(o.key);
      for (const arg of files) {
        const file = (await isDir(arg)) ? path.join(arg, 'pack.json') : arg;
        const bytes = await readBytes(file);
        if (path.basename(file) === 'pack.json') await checkPackBeforeSigning(file, bytes);
        const sig = signBytes(file, bytes, key);
        await writeFileAtomic(sigPath(file), JSON.stringify(sig, null, 2) + '\n');
        console.log(`signed ${file} (SHA-256 ${sig.sha256.slice(0, 16)}…) with key ${sig.key} → ${sigPath(file)}`);
      }
    });

  program
    .command('keygen')
    .description(described('keygen'))
    .requiredOption('--out <dir>', 'folder to write the two files to')
    .option('--name <name>', 'file name stem', 'rws-signing')
    .action(async (o: { out: string; name: string }) => {
      if (!/^[A-Za-z0-9._-]+$/.test(o.name) || o.name.startsWith('.')) throw new RwsError('usage-name', `--name: "${o.name}" must be letters, digits, dots, dashes or underscores`, { field: '--name' });
      await mkdir(o.out, { recursive: true });
      const keys = generateSigningKeys();
      const priv = path.join(o.out, `${o.name}.key.pem`);
      const pub = path.join(o.out, `${o.name}.pub.pem`);
      for (const [file, text, mode] of [[priv, keys.privatePem, 0o600], [pub, keys.publicPem, 0o644]] as const) {
        try {
          await writeFile(file, text, { flag: 'wx', mode });
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new RwsError('keygen-write', `${file}: ${code === 'EEXIST' ? 'already exists; not overwriting a key' : `cannot write (${code ?? (e as Error).message})`}`, { file });
        }
      }
      console.log(`key ${keys.id}`);
      console.log(`  private: ${priv} (keep it secret; sign with rws sign --key ${priv})`);
      console.log(`  public:  ${pub} (put it in the trusted keys folder of the machines that load your files)`);
    });
}
