import os from 'node:os';
import path from 'node:path';
import type { RootInfo } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `listRoots`: the folders a served engine may use; without roots (desktop), the home folder. */
export async function listRoots(engine: Engine): Promise<RootInfo[]> {
  if (engine.guard) return engine.guard.list();
  const home = os.homedir();
  return [{ path: home, name: path.basename(home) || home }];
}
