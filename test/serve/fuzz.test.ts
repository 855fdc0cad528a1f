// Any JSON to any command: rws serve answers with a named error (4xx) or a result, never a crash (5xx).
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../main/api/contract.js';
import { startServer, type RunningServer } from '../../main/serve/server.js';
import { fakeFactory } from '../service/fake-classifier.js';
import { writeFixturePack } from '../service/fixture-pack.js';

let tmp: string;
let server: RunningServer;

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-serve-fuzz-')));
  mkdirSync(path.join(tmp, 'root'));
  writeFixturePack(path.join(tmp, 'pack'));
  server = await startServer({ port: 0, roots: [path.join(tmp, 'root')], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory(), rendererDir: path.join(tmp, 'none') });
});

afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('rws serve under arbitrary requests', () => {
  it('never answers 5xx, and every error names its code', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ dir: fc.string(), mix: fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.double())), device: fc.string(), data: fc.array(fc.double(), { maxLength: 10 }), width: fc.integer(), height: fc.integer(), channels: fc.integer() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string(),
    );
    const safe = COMMANDS.filter((c) => c !== 'startFolderRun' && c !== 'uploadFiles');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...safe), body, async (command, text) => {
        const res = await fetch(`${base}/api/${command}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
        expect(res.status, `${command} ${text}`).toBeLessThan(500);
        if (res.status >= 400) {
          const err = (await res.json()) as { error: { code: string; message: string } };
          expect(err.error.code).toMatch(/^[a-z][a-z-]+$/);
          expect(err.error.message.length).toBeGreaterThan(0);
        } else await res.arrayBuffer();
      }),
      { numRuns: 300 },
    );
    expect((await fetch(`${base}/api/getState`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);
  }, 120_000);
});
