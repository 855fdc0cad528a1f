// Choosing a folder: the native dialog in Electron, else the in-page browser of `rws serve`'s
// roots (FolderPicker.svelte renders the pending request).
import { studio } from './studio.svelte.js';

export interface PickRequest {
  title: string;
  resolve: (path: string | null) => void;
}

class Picker {
  request = $state<PickRequest | null>(null);
}
export const picker = new Picker();

/** Ask the user for a folder; null when cancelled. */
export async function pickFolder(title: string): Promise<string | null> {
  const api = studio.api;
  if (api?.pickFolder) return api.pickFolder();
  picker.request?.resolve(null);
  return new Promise((resolve) => {
    picker.request = {
      title,
      resolve: (p) => {
        picker.request = null;
        resolve(p);
      },
    };
  });
}
