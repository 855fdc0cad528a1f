// The app's persisted settings: one JSON file in the user-data folder, validated on read (a bad or
// missing file gives the defaults), written atomically (temp file + rename) so a crash mid-write
// never leaves half a file. No Electron import: index.ts passes app.getPath('userData').
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DEVICE_IDS } from '../api/contract.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { DEFAULT_WINDOW_STATE, type WindowState } from './policy.js';

const SettingsSchema = z.object({
  window: z
    .object({
      x: z.number().int().optional(),
      y: z.number().int().optional(),
      width: z.number().int().min(200).max(20_000),
      height: z.number().int().min(200).max(20_000),
      maximized: z.boolean(),
    })
    .default(DEFAULT_WINDOW_STATE),
  /** Pack folder loaded last (absent: the default pack). */
  packDir: z.string().optional(),
  device: z.enum(DEVICE_IDS).default('auto'),
});

export type Settings = z.infer<typeof SettingsSchema>;
export const SETTINGS_FILE = 'settings.json';

/** Settings with defaults filled in; anything unreadable or invalid becomes the default. */
export function parseSettings(text: string | undefined): Settings {
  if (text !== undefined) {
    try {
      const parsed = SettingsSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through to defaults
    }
  }
  return SettingsSchema.parse({});
}

export class SettingsStore {
  private writing: Promise<void> = Promise.resolve();
  private constructor(
    readonly file: string,
    private current: Settings,
  ) {}

  /** Read `<dir>/settings.json` (defaults when missing or invalid). */
  static async open(dir: string): Promise<SettingsStore> {
    const file = path.join(dir, SETTINGS_FILE);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      text = undefined;
    }
    return new SettingsStore(file, parseSettings(text));
  }

  get(): Settings {
    return structuredClone(this.current);
  }

  /** Change some settings and write the file; writes are serialised, the last one wins. */
  update(change: Partial<Settings>): Promise<void> {
    this.current = { ...this.current, ...change };
    const snapshot = JSON.stringify(this.current, null, 2) + '\n';
    this.writing = this.writing.then(() => writeAtomic(this.file, snapshot)).catch(() => undefined);
    return this.writing;
  }

  setWindow(state: WindowState): Promise<void> {
    return this.update({ window: state });
  }

  /** Resolves when every write asked for so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }
}

/** Write `text` to `file` atomically (temp file in the same folder, fsync, rename), readable only by the user. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text, 0o600);
}
