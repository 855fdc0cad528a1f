// Bundles the compiled CLI (dist/, from `tsc -p tsconfig.json`) into out/cli/: the `rws` entry and its
// inference worker, with each command's code in its own chunk (loaded only when that command runs)
// and the pure-JavaScript dependencies inlined. Node 20 keeps no compiled code between runs, and its
// ES module loader resolves, reads and links every file on its own: ~150 files cost rws run about a
// tenth of a second before it does anything (npm run bench startup). onnxruntime-node and sharp
// (native) stay in node_modules. bin/rws.js runs out/cli when it is newer than dist/, else dist/.
import { rm, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'out', 'cli');
const tmp = `${out}.tmp-${process.pid}`;
await rm(tmp, { recursive: true, force: true });
await build({
  input: {
    rws: path.join(root, 'dist/main/cli/entry.js'),
    // Found by RemotePatcher beside its own chunk, as ./inference-worker.cjs.
    'inference-worker': path.join(root, 'dist/main/engine/runtime/inference-worker.js'),
  },
  platform: 'node',
  external: [/^node:/, /^onnxruntime-node(\/|$)/, /^sharp(\/|$)/],
  // CommonJS, not ES modules: Node 20's ES module loader costs a CLI that loads a dozen chunks some 10 ms
  // more per start than require does (npm run bench startup).
  output: { dir: tmp, format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: '[name]-[hash].cjs', sourcemap: true },
  logLevel: 'warn',
});
// Swap the whole folder at once, so a running `rws` never sees half of two builds.
const old = `${out}.old-${process.pid}`;
await rename(out, old).catch(() => {});
await rename(tmp, out);
await rm(old, { recursive: true, force: true });
