// Which file names are images, by extension: the engine's walk and browse, and the app's drop
// (a single dropped picture opens in the image view) decide alike. Pure: no Node.

/** File extensions that name images (lower case, with the dot). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heif', '.heic']);

/** True when the file name (or path, with either separator) has an image extension. */
export function hasImageExtension(file: string): boolean {
  const name = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}
