// Writes native-models/fashion-mnist/samples/: one Fashion-MNIST test image per class, clean, and
// the same ten under fog and under low light (severity 3, with the core's corruptions), as PNGs,
// so a new user can run the pack at once: `rws run --mix auto native-models/fashion-mnist/samples`.
// Run: `node dist/native-models/recipe/make-samples.js [DATASET_DIR]` (default Debian's folder).
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { readIdx } from '../../main/engine/io/idx.js';
import { defaultPackDir } from '../../main/engine/packs/pack.js';

const dataDir = process.argv[2] ?? process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
const labels = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const variants: { dir: string; condition?: string }[] = [{ dir: 'clean' }, { dir: 'fog', condition: 'fog' }, { dir: 'low-light', condition: 'low-light' }];

async function main(): Promise<void> {
  const images = await readIdx(path.join(dataDir, 't10k-images-idx3-ubyte.gz'));
  const classes = await readIdx(path.join(dataDir, 't10k-labels-idx1-ubyte.gz'));
  const out = path.join(defaultPackDir(), 'samples');
  await rm(out, { recursive: true, force: true });
  // The first test image of each class (no choosing by how the model does on it).
  const pick = new Map<number, number>();
  for (let i = 0; i < classes.data.length && pick.size < 10; i++) if (!pick.has(classes.data[i]!)) pick.set(classes.data[i]!, i);
  for (const v of variants) {
    await mkdir(path.join(out, v.dir), { recursive: true });
    for (const [cls, idx] of [...pick].sort((a, b) => a[0] - b[0])) {
      const img: Image = { width: 28, height: 28, channels: 1, data: Float32Array.from(images.data.subarray(idx * 784, idx * 784 + 784), (b) => b / 255) };
      const res = v.condition ? corrupt(img, v.condition, 3, 1000 + cls) : img;
      const bytes = Buffer.from(Uint8Array.from(res.data, (x) => Math.round(x * 255)));
      await sharp(bytes, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(out, v.dir, `${labels[cls]}.png`));
    }
  }
  console.log(`wrote ${variants.length * pick.size} samples to ${path.relative(process.cwd(), out) || out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
