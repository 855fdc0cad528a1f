// sharp, loaded through require rather than import: on Node 20 its CommonJS build loads in about half
// the time of its ES module build (each of whose files the ES loader resolves, reads and links on its
// own), and every `rws run` and folder run loads it on the critical path (npm run bench startup).
// Everything in main/ takes sharp from here; tests may import it directly (the same native library).
import { createRequire } from 'node:module';
import type SharpModule from 'sharp';

const sharp = createRequire(import.meta.url)('sharp') as typeof SharpModule;
export default sharp;
