// The program lists every command from main/cli/commands.ts and loads a command's module only when
// it runs: the listing must say what the modules register, and `rws --help` must not load them.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Help } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, runsInference } from '../../main/cli/commands.js';
import { buildProgram, commandOf } from '../../main/cli/index.js';
import { ensureBuilt, rws } from './cli-harness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('the command listing', () => {
  it('says of each command what its module registers, in the same order', async () => {
    const program = await buildProgram();
    const help = new Help();
    const registered = program.commands.map((c) => ({ name: c.name(), term: help.subcommandTerm(c), description: c.description() }));
    expect(registered).toEqual(Object.entries(COMMANDS).map(([name, l]) => ({ name, term: l.term, description: l.description })));
    // The modules registered real commands (options, arguments), not listings.
    expect(program.commands.find((c) => c.name() === 'run')!.options.length).toBeGreaterThan(10);
  });

  it('rws --help lists every command as the modules would, without loading them', async () => {
    const listed = await buildProgram([]);
    const full = await buildProgram();
    expect(listed.helpInformation()).toBe(full.helpInformation());
    expect(listed.commands.every((c) => c.options.length === 0)).toBe(true);
    const r = await rws('--help');
    expect(r.code).toBe(0);
    for (const l of Object.values(COMMANDS)) expect(r.stdout).toContain(`${l.term}`);
  });

  it('finds the command of a command line', () => {
    expect(commandOf(['run', 'x.png'])).toBe('run');
    expect(commandOf(['--trusted-keys', 'keys', 'verify', 'a'])).toBe('verify');
    expect(commandOf(['help', 'pack'])).toBe('pack');
    expect(commandOf(['--help'])).toBeUndefined();
    expect(commandOf([])).toBeUndefined();
  });

  it('starts the inference worker early only for a command line that classifies images', () => {
    expect(runsInference(['--trusted-keys', 'keys', 'run', '--mix', 'fog', 'x.png'])).toBe(true);
    for (const args of [['run', '--help'], ['run', '-h'], ['help', 'run'], ['inspect', 'x.onnx'], ['--help']]) expect(runsInference(args)).toBe(false);
  });

  it('a command still gets the program-wide --trusted-keys option', async () => {
    const r = await rws('--trusted-keys', path.join(root, 'no-such-keys-folder'), 'inspect', path.join(root, 'native-models', 'fashion-mnist'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no-such-keys-folder/);
  });
});

describe('what each command line loads (a child process, the built CLI)', () => {
  beforeAll(ensureBuilt, 120_000);

  /** The CommonJS packages (onnxruntime-node, sharp, protobufjs are) a command line loaded. */
  async function loaded(args: string[]): Promise<string[]> {
    const script = `import('./dist/main/cli/index.js').then(async (m) => { await m.main(['node', 'rws', ...${JSON.stringify(args)}]);
      const names = Object.keys(require('module')._cache).map((f) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean);
      process.stderr.write('LOADED ' + JSON.stringify([...new Set(names)]) + '\\n'); })`;
    const { stderr } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: root });
    return JSON.parse(/LOADED (.*)/.exec(stderr)![1]!) as string[];
  }

  it('rws --help loads neither onnxruntime, sharp nor protobufjs; rws corrupt --families loads no onnxruntime', async () => {
    const help = await loaded(['--help']);
    for (const heavy of ['onnxruntime-node', 'sharp', 'protobufjs']) expect(help).not.toContain(heavy);
    expect(await loaded(['corrupt', '--families'])).not.toContain('onnxruntime-node');
  });

  it('rws run of one image parses the pack\'s model in the inference worker only: this thread loads sharp, not onnxruntime, protobufjs, the folder glob or a progress bar (no terminal); with --mix auto it also pays onnxruntime\'s once-per-process set-up while the worker reads the signatures', async () => {
    const image = path.join(root, 'native-models', 'fashion-mnist', 'samples', 'clean', 'ankle-boot.png');
    const run = await loaded(['run', '--quiet', image]);
    expect(run).toContain('sharp');
    for (const heavy of ['onnxruntime-node', 'protobufjs', 'picomatch', 'cli-progress']) expect(run).not.toContain(heavy);
    const auto = await loaded(['run', '--quiet', '--mix', 'auto', image]);
    expect(auto).toContain('sharp');
    expect(auto).toContain('onnxruntime-node');
    for (const heavy of ['protobufjs', 'picomatch', 'cli-progress']) expect(auto).not.toContain(heavy);
  });

  it('bin/rws.js runs the bundle (out/cli): CommonJS that requires no package but what it must, and answers as the compiled CLI does', async () => {
    const files = (await readdir(path.join(root, 'out', 'cli'))).filter((f) => f.endsWith('.cjs'));
    expect(files).toContain('rws.cjs');
    expect(files).toContain('inference-worker.cjs');
    const required = new Set<string>();
    for (const f of files) {
      const code = await readFile(path.join(root, 'out', 'cli', f), 'utf8');
      // CommonJS throughout: no ES module syntax is left for Node's ES module loader.
      expect(code, f).not.toMatch(/^(?:import|export)\s/m);
      expect(code, f).not.toMatch(/\bimport\.meta\b/);
      for (const m of code.matchAll(/(?<![\w.])require\(["']([^"']+)["']\)/g)) required.add(m[1]!);
    }
    // onnxruntime-node and sharp (native) load through createRequire in main/engine; the rest is inlined, but for
    // dependencies' own optional loads, each inside a try: fdir's picomatch, ws's bufferutil and utf-8-validate.
    const optional = ['picomatch', 'picomatch/posix', 'bufferutil', 'utf-8-validate'];
    const outside = [...required].filter((s) => !s.startsWith('./') && !s.startsWith('node:') && !builtinModules.includes(s));
    expect(outside.filter((s) => !optional.includes(s))).toEqual([]);
    expect([...required].filter((s) => s.startsWith('./')).length).toBeGreaterThan(10);
    const image = path.join(root, 'native-models', 'fashion-mnist', 'samples', 'fog', 'ankle-boot.png');
    const bundled = await promisify(execFile)(process.execPath, [path.join(root, 'bin', 'rws.js'), 'run', '--mix', 'fog', image], { cwd: root });
    const compiled = await promisify(execFile)(process.execPath, ['-e', `import('./dist/main/cli/entry.js').then((m) => m.start(process.argv.slice(0, 1).concat(['rws', 'run', '--mix', 'fog', ${JSON.stringify(image)}])))`], { cwd: root });
    expect(bundled.stdout).toContain('Ankle boot');
    expect(bundled.stdout).toBe(compiled.stdout);
  });
});
