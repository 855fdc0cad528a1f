// Worker threads run JavaScript, and vitest runs our TypeScript from source: this transpiles
// main/core and main/engine (types stripped, nothing checked) into a temp folder so a test can
// start the real inference worker. `npm run build` does the same for the shipped app via tsc.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield full;
  }
}

let built: URL | undefined;

/** The URL of a freshly transpiled main/engine/inference-worker.js (built once per test file). */
export function compiledWorkerUrl(): URL {
  if (built) return built;
  const out = mkdtempSync(path.join(tmpdir(), 'rws-worker-'));
  writeFileSync(path.join(out, 'package.json'), '{"type": "module"}\n');
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  for (const folder of ['main/core', 'main/engine']) {
    for (const file of sources(path.join(ROOT, folder))) {
      const js = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: file,
      }).outputText;
      const dest = path.join(out, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(path.dirname(dest), { recursive: true });
      writeFileSync(dest, js);
    }
  }
  built = pathToFileURL(path.join(out, 'main/engine/inference-worker.js'));
  return built;
}
