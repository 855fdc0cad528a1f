// Worker threads run JavaScript, and vitest runs our TypeScript from source: this transpiles
// main/core and main/engine (types stripped, nothing checked) into a temp folder so a test can
// start the real inference worker. `npm run build` does the same for the shipped app via tsc.
// The folder is named by a hash of the sources: test files and runs share it while the sources
// are unchanged, and it is built once per version (atomically, as tests run in parallel).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield full;
  }
}

let built: URL | undefined;

/** The URL of main/engine/runtime/inference-worker.js transpiled from the current sources. */
export function compiledWorkerUrl(): URL {
  if (built) return built;
  const files = ['main/core', 'main/engine'].flatMap((folder) => [...sources(path.join(ROOT, folder))]);
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  const hash = createHash('sha256');
  files.forEach((f, i) => hash.update(path.relative(ROOT, f)).update('\0').update(texts[i]!).update('\0'));
  hash.update(ROOT);
  const final = path.join(tmpdir(), `rws-worker-${hash.digest('hex').slice(0, 16)}`);
  const entry = path.join(final, 'main/engine/runtime/inference-worker.js');
  if (!existsSync(entry)) {
    const out = mkdtempSync(path.join(tmpdir(), 'rws-worker-build-'));
    writeFileSync(path.join(out, 'package.json'), '{"type": "module"}\n');
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
    files.forEach((file, i) => {
      const js = ts.transpileModule(texts[i]!, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: file,
      }).outputText;
      const dest = path.join(out, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(path.dirname(dest), { recursive: true });
      writeFileSync(dest, js);
    });
    try {
      renameSync(out, final);
    } catch {
      // Another test process built the same version first; theirs is identical.
      rmSync(out, { recursive: true, force: true });
    }
  }
  built = pathToFileURL(entry);
  return built;
}
