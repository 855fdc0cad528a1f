import { lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { isRwsError, RwsError } from '../core/errors.js';
import { loadPack, type ModelPack } from '../engine/packs/pack.js';
import { readRegularFile, realFolder, realPathWithin, sha256Hex } from '../engine/io/regular-file.js';
import { MAX_MODEL_BYTES } from '../core/limits.js';
import { readTrustedKeys, setTrustPolicy, trustPolicy, verifyFile, type TrustPolicy } from '../engine/packs/trust.js';
import { EXIT } from './exit.js';
import { collect } from './options.js';
import { described } from './commands.js';

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * What is wrong with a pack's signature files: every one listed that is missing or refused, and
 * every file in the pack's own `signatures/` that does not match pack.json, even when a copy
 * elsewhere (a library) matches and would be used instead.
 */
async function packProblems(pack: ModelPack): Promise<{ id: string; refused: boolean; reason: string }[]> {
  const out = pack.missing.map((m) => ({ id: m.id, refused: !/ not found in the pack's signatures\/ /.test(m.reason), reason: m.reason }));
  for (const s of pack.manifest.signatures) {
    const used = pack.signatureFiles.get(s.id);
    const own = path.join(pack.dir, 'signatures', s.file ?? `${s.id}.rws.safetensors`);
    if (!used || used === own || !(await lstat(own).then(() => true, () => false))) continue;
    let reason: string;
    try {
      const w = { what: 'a signature', code: 'signature-read', maxBytes: MAX_MODEL_BYTES };
      const bytes = await readRegularFile(await realPathWithin(await realFolder(pack.dir), own, w, 'the pack folder'), w);
      if (sha256Hex(bytes) === s.sha256) continue;
      reason = `${own}: SHA-256 differs from the one pack.json lists for "${s.id}" (the copy in ${path.dirname(used)} matches and would be used)`;
    } catch (e) {
      if (!isRwsError(e)) throw e;
      reason = e.message;
    }
    out.push({ id: s.id, refused: true, reason });
  }
  return out;
}

/**
 * Registers `rws verify`: check files (or pack folders) against trusted public keys; a pack passes
 * when its pack.json is signed, lists its model's hash, and the model and the signatures it finds match.
 */
export function register(program: Command): void {
  program
    .command('verify')
    .description(described('verify'))
    // Repeatable, not variadic: a variadic option would swallow the FILE arguments after it.
    .option('--trusted <pem>', 'a trusted public key (PEM file) or a folder of them; repeatable (default: --trusted-keys or $RWS_TRUSTED_KEYS)', collect, [] as string[])
    .argument('<files...>', 'signed files or pack folders')
    .action(async (files: string[], o: { trusted?: string[] }) => {
      let policy: TrustPolicy | undefined;
      if (o.trusted?.length) policy = { keys: await readTrustedKeys(o.trusted), origin: `the keys given with --trusted` };
      else policy = await trustPolicy();
      if (!policy) throw new RwsError('usage-trusted', 'verify: name the trusted public keys with --trusted PUB.pem (or --trusted-keys DIR, or RWS_TRUSTED_KEYS)', { field: '--trusted' });
      let refused = 0;
      // loadPack checks under the policy in force: the same code path that runs, use the same keys.
      setTrustPolicy(policy);
      try {
        for (const f of files) {
          try {
            if (await isDir(f)) {
              const pack = await loadPack(f);
              const lines = await packProblems(pack);
              for (const l of lines) console.log(`  ${l.refused ? 'refused' : 'absent '} signature "${l.id}": ${l.reason}`);
              const bad = lines.filter((l) => l.refused).length;
              if (bad) {
                refused++;
                console.log(`refused ${f}: ${bad} signature file(s) of the pack differ from pack.json or cannot be read`);
              } else {
                console.log(`ok      ${f}: pack.json signed by a trusted key, model and ${pack.signatureFiles.size} signature(s) match their hashes`);
              }
            } else {
              const v = await verifyFile(f, policy.keys, policy.origin);
              console.log(`ok      ${f}: signed by key ${v.key.id} (${path.basename(v.key.source)})`);
            }
          } catch (e) {
            if (!isRwsError(e)) throw e;
            refused++;
            console.log(`refused ${e.message}`);
          }
        }
      } finally {
        setTrustPolicy(undefined);
      }
      if (refused) process.exitCode = EXIT.partial;
    });
}
