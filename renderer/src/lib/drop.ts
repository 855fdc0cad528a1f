// A folder dropped on the page. In Electron the preload gives its real path; in a browser the
// files are read (recursively) and uploaded into a run folder under `rws serve`'s first root.
import type { RwsApi } from '../../../main/api/contract.js';

/** Files of dropped entries with their paths relative to the drop (folders walked recursively). */
export async function droppedFiles(items: DataTransferItemList): Promise<{ name: string; file: File }[]> {
  const out: { name: string; file: File }[] = [];
  const entries: FileSystemEntry[] = [];
  for (const item of [...items]) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      // No file-system entry (a browser without it, or files handed over by a script): the file alone.
      const file = item.getAsFile();
      if (file) out.push({ name: file.name, file });
    }
  }
  async function walk(entry: FileSystemEntry, prefix: string): Promise<void> {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push({ name: prefix + entry.name, file });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries returns at most ~100 entries per call: read until it returns none.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
    }
  }
  for (const e of entries) await walk(e, '');
  return out;
}

/** Upload files into one new run folder, in batches of at most ~8 MB; returns that folder. */
export async function uploadDropped(
  api: RwsApi,
  files: { name: string; file: File }[],
  onProgress: (written: number, total: number) => void,
): Promise<string> {
  let folder: string | undefined;
  let written = 0;
  let batch: { name: string; data: Uint8Array<ArrayBuffer> }[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const r = await api.uploadFiles({ folder, files: batch });
    folder = r.folder;
    written += batch.length;
    onProgress(written, files.length);
    batch = [];
    bytes = 0;
  };
  for (const f of files) {
    batch.push({ name: f.name, data: new Uint8Array(await f.file.arrayBuffer()) });
    bytes += f.file.size;
    if (bytes > 8e6 || batch.length >= 500) await flush();
  }
  await flush();
  if (!folder) throw new Error('Nothing was dropped that could be uploaded.');
  return folder;
}
