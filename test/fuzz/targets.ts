// The fuzz targets: the signature reader, the safetensors container, the pack loader and the ONNX
// loader, each driven the way the engine drives it when a file arrives.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { decodeSafetensors } from '../../main/core/safetensors.js';
import { decodeSignature } from '../../main/core/signature-codec.js';
import { isFloatType, parseOnnx } from '../../main/engine/onnx/model.js';
import { loadPack } from '../../main/engine/packs/pack.js';
import { parseMix } from '../../main/core/mix.js';
import { hostileOnnx, hostilePackFolder, hostileSafetensors, hostileSignature, headerEdited, jsonEdited, mutated } from './generators.js';
import { makeHostileRoot, openPack, PACK_FILES, REPLACEMENTS, SECRET, writeHostilePack, type HostileSpec } from '../fixtures/hostile-pack.js';
import type { FuzzTarget } from './harness.js';
import { fuzzFolderFiles, makeSeeds, type SeedKind } from './seeds.js';

function writeFolder(files: Record<string, Uint8Array>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rws-fuzz-'));
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), bytes);
  }
  return dir;
}

/** Folder the pack-folder target rebuilds for each input; every message about it names this. */
const HOSTILE_DIR = 'hostile-pack-under-fuzz';

/** The targets, with their folders prepared in the OS temp dir (pack-folder needs FIFOs: not on Windows). */
export function makeTargets(): FuzzTarget[] {
  const seeds = makeSeeds();
  const of = (...kinds: SeedKind[]) => seeds.filter((s) => kinds.includes(s.kind)).map((s) => s.bytes);
  const all = seeds.map((s) => s.bytes);
  const folders = fuzzFolderFiles();
  const packDir = writeFolder(folders.pack);
  const onnxDir = writeFolder(folders.onnx);
  // Keep the pack loader away from the user's own signature library and any trust policy.
  process.env.RWS_SIGNATURES = path.join(packDir, 'no-user-library');
  delete process.env.RWS_TRUSTED_KEYS;
  const packFile = path.join(packDir, 'pack.json');
  const onnxFile = path.join(onnxDir, 'fuzz-input.onnx');
  const hostile = process.platform === 'win32' ? undefined : makeHostileRoot(mkdtempSync(path.join(tmpdir(), 'rws-fuzz-hostile-')));

  const targets: FuzzTarget[] = [
    {
      name: 'signature',
      file: 'fuzz-input.rws.safetensors',
      arbitrary: fc.oneof(
        { arbitrary: mutated(of('signature')), weight: 3 },
        { arbitrary: headerEdited(of('signature')), weight: 3 },
        { arbitrary: hostileSignature(), weight: 3 },
        { arbitrary: mutated(all), weight: 1 },
      ),
      run: (bytes) => decodeSignature(bytes, 'fuzz-input.rws.safetensors'),
    },
    {
      name: 'safetensors',
      file: 'fuzz-input.safetensors',
      arbitrary: fc.oneof(
        { arbitrary: mutated(of('safetensors', 'signature')), weight: 3 },
        { arbitrary: headerEdited(of('safetensors', 'signature')), weight: 3 },
        { arbitrary: hostileSafetensors(), weight: 3 },
      ),
      run: (bytes) => decodeSafetensors(bytes, 'fuzz-input.safetensors'),
    },
    {
      name: 'pack',
      file: 'pack.json',
      arbitrary: fc.oneof(
        { arbitrary: mutated(of('pack')), weight: 3 },
        { arbitrary: jsonEdited(of('pack')), weight: 5 },
        { arbitrary: fc.json().map((j) => new TextEncoder().encode(j)), weight: 1 },
      ),
      run: async (bytes) => {
        writeFileSync(packFile, bytes);
        const pack = await loadPack(packDir);
        const m = pack.manifest;
        // What the CLI and the app do next with a loaded pack: resolve its named mixes and ids.
        for (const c of [...m.conditions, ...m.mixes]) parseMix(c.id, m);
        if (m.signatures.length) parseMix(m.signatures.map((s) => `${s.id}=0.5`).join(','), m);
        return pack;
      },
    },
    {
      name: 'onnx',
      file: 'fuzz-input.onnx',
      arbitrary: fc.oneof({ arbitrary: mutated(of('onnx')), weight: 4 }, { arbitrary: hostileOnnx(), weight: 3 }),
      run: (bytes) => {
        // Read it as `rws inspect` and the patcher do: graph, layers, and every float weight.
        const model = parseOnnx(bytes, { file: onnxFile, dir: onnxDir });
        void model.inputs;
        void model.outputs;
        model.layers();
        for (const t of model.initializers()) if (isFloatType(t.dataType)) model.floats(t.name);
        return model;
      },
    },
  ];
  if (hostile) {
    const dir = path.join(hostile.root, HOSTILE_DIR);
    targets.push({
      name: 'pack-folder',
      file: HOSTILE_DIR,
      arbitrary: fc.oneof({ arbitrary: hostilePackFolder(PACK_FILES, REPLACEMENTS), weight: 4 }, { arbitrary: mutated(of('pack-folder')), weight: 1 }),
      run: async (bytes) => {
        // The input describes the folder (see HostileSpec); a description that is not JSON leaves the pack as it is.
        let spec: HostileSpec = {};
        try {
          spec = JSON.parse(new TextDecoder().decode(bytes)) as HostileSpec;
        } catch {
          spec = {};
        }
        writeHostilePack(hostile, dir, spec && typeof spec === 'object' ? spec : {});
        // Opened as the engine opens a pack; what it says must never quote a file outside it.
        const opened = await openPack(dir).catch((e: unknown) => {
          if (e instanceof Error && e.message.includes(SECRET)) throw new Error(`a message quotes a file outside the pack: ${e.message}`);
          throw e;
        });
        for (const m of opened.pack.missing) if (m.reason.includes(SECRET)) throw new Error(`a missing signature's reason quotes a file outside the pack: ${m.reason}`);
        return opened;
      },
    });
  }
  return targets;
}
