import sharp from '../../engine/io/sharp.js';
import { RwsError } from '../../core/errors.js';
import type { CommandArgs, Thumbnail } from '../../api/contract.js';
import { openImage } from '../../engine/io/image-decode.js';
import type { Engine } from '../engine.js';

/** Command `getThumbnail`: a small PNG of an image file, as a data URL (works the same over IPC and HTTP). */
export async function getThumbnail(engine: Engine, args: CommandArgs<'getThumbnail'>): Promise<Thumbnail> {
  const file = await engine.readable(args.file, 'file');
  const size = args.size ?? 96;
  // Opened as a folder run opens it: a FIFO or a link to a device is refused, never waited on.
  const source = await openImage(file, args.file);
  try {
    const { data, info } = await sharp(source.input, { limitInputPixels: 100_000_000, pages: 1 })
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: false, kernel: 'nearest' })
      .png()
      .toBuffer({ resolveWithObject: true });
    return { dataUrl: `data:image/png;base64,${data.toString('base64')}`, width: info.width, height: info.height };
  } catch (e) {
    throw new RwsError('not-image', `${args.file}: cannot make a thumbnail (${(e as Error).message.split('\n')[0]})`, { file: args.file, field: 'file' });
  } finally {
    await source.close();
  }
}
