import path from 'node:path';
import type { CommandArgs, PackInfo } from '../../api/contract.js';
import { defaultPackDir, loadPack as loadPackDir } from '../../engine/packs/pack.js';
import { describePack } from '../pack-info.js';
import type { Engine, LoadedPack } from '../engine.js';

/** Load a pack (default: the engine's default pack) and make its patched model; the mix is reset to off. */
export async function loadPackInto(engine: Engine, dir: string | undefined): Promise<LoadedPack> {
  return engine.trackPackLoad(
    engine.exclusive(async () => {
      const where = dir === undefined ? engine.options.packDir ?? defaultPackDir() : await engine.readable(dir, 'dir');
      engine.setStatus('loading', `loading pack ${path.basename(where)}`);
      try {
        const pack = await loadPackDir(where);
        const info = await describePack(pack);
        const patched = await engine.makePatched({ pack, info });
        await engine.disposeModels();
        engine.loaded = { pack, info, patched };
        engine.mix = {};
        engine.noteDevice(patched);
        engine.setStatus('ready');
        return engine.loaded;
      } catch (e) {
        engine.setStatus(engine.loaded ? 'ready' : 'error', (e as Error).message);
        throw e;
      }
    }),
  );
}

/** Command `loadPack`. */
export async function loadPack(engine: Engine, args: CommandArgs<'loadPack'>): Promise<PackInfo> {
  return (await loadPackInto(engine, args?.dir)).info;
}
