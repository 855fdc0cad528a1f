// What the app remembers across a reload or a restart (the folder form, Auto): the window's own
// storage (localStorage works in the browser and under app://rws in Electron), read defensively.

const PREFIX = 'rws.';

/** The value saved under `key`, when it is there and `ok` accepts it; else `fallback`. */
export function readSaved<T>(key: string, fallback: T, ok: (v: unknown) => v is T): T {
  try {
    const text = globalThis.localStorage?.getItem(PREFIX + key);
    if (text == null) return fallback;
    const v: unknown = JSON.parse(text);
    return ok(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

/** Save `value` under `key`; a storage that refuses (private mode, full) is not an error. */
export function writeSaved(key: string, value: unknown): void {
  try {
    globalThis.localStorage?.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Nothing to do: the app works without it.
  }
}
