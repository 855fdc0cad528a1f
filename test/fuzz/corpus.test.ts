// The committed seed corpus is exactly what seeds.ts makes (UPDATE_CORPUS=1 rewrites it), every seed
// loads in its target, and every saved regression input (corpus/regressions/TARGET/) now loads or is
// refused cleanly, in bounded time.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isRwsError } from '../../main/core/errors.js';
import { makeSeeds } from './seeds.js';
import { makeTargets } from './targets.js';

const CORPUS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');
const targetOf = { signature: 'signature', safetensors: 'safetensors', pack: 'pack', onnx: 'onnx', 'pack-folder': 'pack-folder' } as const;

describe('fuzz seed corpus', () => {
  const seeds = makeSeeds();
  const targets = new Map(makeTargets().map((t) => [t.name, t]));

  it('matches what seeds.ts makes', () => {
    for (const s of seeds) {
      const file = path.join(CORPUS, s.kind, s.name);
      if (process.env.UPDATE_CORPUS) {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, s.bytes);
      }
      expect(existsSync(file), `${file} is missing: run UPDATE_CORPUS=1 npx vitest run test/fuzz/corpus.test.ts`).toBe(true);
      expect(Buffer.compare(readFileSync(file), Buffer.from(s.bytes)), `${file} differs from seeds.ts`).toBe(0);
    }
  });

  it('every seed loads in its target', async () => {
    for (const s of seeds) {
      const target = targets.get(targetOf[s.kind]);
      if (!target) continue; // pack-folder needs FIFOs: not made on Windows
      await expect(Promise.resolve().then(() => target.run(s.bytes)), s.name).resolves.toBeTruthy();
    }
  });

  it('every saved regression input loads or is refused with an RwsError naming the file', async () => {
    const dir = path.join(CORPUS, 'regressions');
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const target = targets.get(name);
      if (!target) continue;
      for (const f of readdirSync(path.join(dir, name))) {
        const bytes = readFileSync(path.join(dir, name, f));
        const e = await Promise.resolve().then(() => target.run(bytes)).then(() => undefined, (x: unknown) => x);
        if (e === undefined) continue;
        expect(isRwsError(e), `${name}/${f}: ${String(e)}`).toBe(true);
        expect((e as Error).message).toContain(target.file);
      }
    }
  });
});
