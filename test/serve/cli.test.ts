// `rws serve` as a command: options, what it prints, the token off loopback, and a clean stop.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../main/cli/index.js';

let tmp: string;
beforeAll(() => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-serve-cli-')));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run `rws serve ARGS` in this process until it prints its URL; returns the URL, the output and a stop function. */
async function serve(args: string[]): Promise<{ url: string; out: string[]; stop: () => Promise<number> }> {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const done = main(['node', 'rws', 'serve', ...args]);
  const url = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = out.map((l) => /rws serve: (\S+)/.exec(l)).find(Boolean);
      if (m) {
        clearInterval(t);
        resolve(m[1]!);
      }
    }, 20);
    done.then((code) => {
      clearInterval(t);
      reject(new Error(`rws serve ended with ${code}: ${out.join('\n')}`));
    }, reject);
  });
  return {
    url,
    out,
    stop: async () => {
      process.emit('SIGTERM');
      const code = await done;
      log.mockRestore();
      return code;
    },
  };
}

describe('rws serve', () => {
  it('serves on loopback, names the folders it may use, and stops on SIGTERM', async () => {
    const s = await serve(['--port', '0', '--root', tmp]);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(s.out.join('\n')).toContain(`folders it may use: ${tmp}`);
    const res = await fetch(`${s.url}api/listRoots`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' });
    expect(await res.json()).toEqual([{ path: tmp, name: path.basename(tmp) }]);
    expect(await s.stop()).toBe(0);
  });

  it('off loopback, prints the token and requires it', async () => {
    const s = await serve(['--port', '0', '--host', '0.0.0.0', '--root', tmp]);
    const token = /\?token=([\w-]+)/.exec(s.url)![1]!;
    expect(s.out.join('\n')).toContain(`every request needs the token ${token}`);
    const api = s.url.replace(/\/\?token=.*/, '/api/getState');
    expect((await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json', 'x-rws-token': token } })).status).toBe(200);
    expect(await s.stop()).toBe(0);
  });

  it('refuses a bad port, a missing root and an unknown device', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await main(['node', 'rws', 'serve', '--port', 'x'])).toBe(2);
    expect(await main(['node', 'rws', 'serve', '--port', '0', '--root', path.join(tmp, 'nope')])).toBe(1);
    expect(await main(['node', 'rws', 'serve', '--device', 'tpu'])).toBe(2);
    expect(err.mock.calls.flat().join('\n')).toMatch(/--port.*not a port number[\s\S]*--root.*no such folder[\s\S]*unknown device "tpu"/);
    err.mockRestore();
  });
});
