import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { isRwsError, RwsError } from '../core/errors.js';
import { loadPack } from '../engine/packs/pack.js';
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
              const bad = pack.missing.filter((m) => /SHA-256 differs/.test(m.reason));
              for (const m of pack.missing) console.log(`  ${bad.includes(m) ? 'refused' : 'absent '} signature "${m.id}": ${m.reason}`);
              if (bad.length) {
                refused++;
                console.log(`refused ${f}: ${bad.length} listed signature file(s) differ from pack.json`);
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
