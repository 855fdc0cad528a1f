// The engine's utility-process entry (as electron-vite builds it) run under plain Node with a
// stand-in parentPort, behind the real EngineHost: commands reach the command service, and after
// the process is killed the host restarts it and re-applies the pack and mix, so the same frame
// gets the same patched prediction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EngineState, EventName, FrameResult, PackInfo } from '../../main/api/contract.js';
import { EngineHost, type EngineProcess } from '../../main/app/engine-host.js';
import type { EngineMessage } from '../../main/app/engine-protocol.js';
import { testImage } from '../engine/folder/fixtures.js';
import { writeFixturePack } from '../service/fixture-pack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
describe('engine utility process behind EngineHost', () => {
  let tmp: string;
  let host: EngineHost;
  const events: { event: EventName; payload: any }[] = [];
  /** Called on every event the host forwards (a test's hook into the stream). */
  let tap: (event: EventName, payload: any) => void = () => {};
  const children: ReturnType<typeof fork>[] = [];
  const frame = { width: 28, height: 28, channels: 1 as const, data: Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 100) / 100), compare: true, top: 3 };
  let packDir: string;

  beforeAll(async () => {
    // Inside the repository: the bundle's externals (onnxruntime-node, sharp) resolve from its node_modules.
    await mkdir(path.join(repo, '.tmp'), { recursive: true });
    tmp = await mkdtemp(path.join(repo, '.tmp', 'engine-proc-'));
    await promisify(execFile)(process.execPath, [path.join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build', '--outDir', path.join(tmp, 'out'), '-l', 'error'], { cwd: repo });
    packDir = writeFixturePack(path.join(tmp, 'pack'));
    const entry = path.join(tmp, 'out', 'main', 'engine-process.js');
    host = new EngineHost({
      device: 'cpu',
      restartDelay: () => 10,
      onEvent: (event, payload) => {
        events.push({ event, payload });
        tap(event, payload);
      },
      spawn: ({ device }): EngineProcess => {
        const child = fork(entry, [], {
          execArgv: ['--require', path.join(here, 'fixtures', 'parent-port.cjs')],
          serialization: 'advanced',
          env: { ...process.env, RWS_ENGINE_DEVICE: device, RWS_PACK_DIR: packDir },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        return {
          post: (m) => child.send(m),
          onMessage: (cb) => child.on('message', (m) => cb(m as EngineMessage)),
          onExit: (cb) => child.on('exit', (code) => cb(code)),
          kill: () => void child.kill(),
        };
      },
    });
    await host.start();
  }, 180_000);

  afterAll(async () => {
    host?.stop();
    for (const c of children) c.kill('SIGKILL');
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('runs commands in the engine process', async () => {
    const pack = (await host.call('loadPack', { dir: packDir })) as PackInfo;
    expect(pack.signatures.map((s) => s.id).sort()).toEqual(['fog', 'low-light']);
    await expect(host.call('setMix', { mix: { fog: 1 } })).resolves.toMatchObject({ key: 'fog=1' });
    const r = (await host.call('classifyFrame', frame)) as FrameResult;
    expect(r.mixKey).toBe('fog=1');
    expect(r.patched).toHaveLength(3);
    expect(r.clean).toHaveLength(3);
    await expect(host.call('setMix', { mix: { fog: 'x' } })).rejects.toMatchObject({ code: 'bad-argument' });
  }, 60_000);

  it('recovers from a killed engine with the same pack and mix', async () => {
    const before = (await host.call('classifyFrame', frame)) as FrameResult;
    children.at(-1)!.kill('SIGKILL');
    await expect.poll(() => events.some((e) => e.event === 'engineState' && e.payload.status === 'crashed'), { timeout: 10_000 }).toBe(true);
    // The restarted engine reports ready with the mix re-applied.
    await expect
      .poll(() => {
        const i = events.findIndex((e) => e.event === 'engineState' && e.payload.status === 'crashed');
        return events.slice(i + 1).some((e) => e.event === 'engineState' && (e.payload as EngineState).status === 'ready' && e.payload.mixKey === 'fog=1');
      }, { timeout: 60_000 })
      .toBe(true);
    expect(children).toHaveLength(2);
    const after = (await host.call('classifyFrame', frame)) as FrameResult;
    expect(after.mixKey).toBe('fog=1');
    expect(after.patched.map((p) => p.index)).toEqual(before.patched.map((p) => p.index));
    after.patched.forEach((p, i) => expect(p.score).toBeCloseTo(before.patched[i]!.score, 6));
  }, 90_000);

  it('a folder run whose engine process is killed resumes from its journal after the restart, with the uninterrupted results', async () => {
    const COUNT = 400;
    const images = path.join(tmp, 'images');
    await mkdir(images);
    for (let i = 0; i < COUNT; i++) await testImage(i, 30, 30).png().toFile(path.join(images, `${String(i).padStart(3, '0')}.png`));
    await writeFile(path.join(images, 'broken.png'), 'not an image');
    const finished = (output: string) =>
      new Promise<any>((resolve) => {
        const prev = tap;
        tap = (event, p) => {
          prev(event, p);
          if (event === 'progress' && p.kind === 'folder' && p.output === output && (p.phase === 'done' || p.phase === 'failed')) resolve(p);
        };
      });
    const run = async (name: string, kill: boolean) => {
      const output = path.join(tmp, name);
      const end = finished(output);
      let killed = false;
      if (kill) {
        const prev = tap;
        tap = (event, p) => {
          prev(event, p);
          if (!killed && event === 'progress' && p.kind === 'folder' && p.phase === 'running' && p.done >= 20) {
            killed = true;
            children.at(-1)!.kill('SIGKILL');
          }
        };
      }
      await host.call('startFolderRun', { inputs: [images], output, mix: { 'low-light': 0.8 }, top: 3, batch: 1 });
      const last = await end;
      tap = () => {};
      return { last, killed, report: JSON.parse(await readFile(path.join(output, 'results.json'), 'utf8')) };
    };
    const plain = await run('plain', false);
    expect(plain.last).toMatchObject({ phase: 'done', done: COUNT, failed: 1 });
    const from = events.length;
    const crashed = await run('crashed', true);
    expect(crashed.killed).toBe(true);
    // The UI was told, with the run named, and the engine came back.
    expect(events.slice(from).some((e) => e.event === 'engineState' && e.payload.status === 'crashed' && /folder run/.test(e.payload.message))).toBe(true);
    expect(crashed.last).toMatchObject({ phase: 'done', done: COUNT, failed: 1 });
    expect(crashed.last.resumed).toBeGreaterThan(0);
    const a = plain.report;
    const b = crashed.report;
    expect({ ...b, results: null }).toEqual({ ...a, results: null });
    expect(b.results.map((r: any) => r.file)).toEqual(a.results.map((r: any) => r.file));
    b.results.forEach((r: any, i: number) => {
      expect(r.top.map((t: any) => t.label)).toEqual(a.results[i].top.map((t: any) => t.label));
      r.top.forEach((t: any, j: number) => expect(Math.abs(t.score - a.results[i].top[j].score)).toBeLessThanOrEqual(1e-6));
    });
  }, 180_000);
});
