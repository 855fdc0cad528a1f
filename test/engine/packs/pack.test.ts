// Hostile packs (test/fixtures/hostile-pack.ts): every one is refused by name, or opens with the
// hostile signature listed as missing and why, in bounded time, never quoting a file outside it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { MAX_INPUT_SIDE } from '../../../main/core/limits.js';
import { loadPack, parsePackManifest } from '../../../main/engine/packs/pack.js';
import { HOSTILE_CASES, makeHostileRoot, openPack, SECRET, writeHostilePack, type HostileRoot } from '../../fixtures/hostile-pack.js';

let h: HostileRoot;
beforeAll(() => {
  h = makeHostileRoot(mkdtempSync(path.join(tmpdir(), 'rws-hostile-')));
  process.env.RWS_SIGNATURES = path.join(h.root, 'no-user-library');
});
afterAll(() => {
  delete process.env.RWS_SIGNATURES;
  rmSync(h.root, { recursive: true, force: true });
});

describe.skipIf(process.platform === 'win32')('hostile packs', () => {
  it('the template pack opens, external data and signatures included', async () => {
    const { pack } = await openPack(h.template);
    expect([...pack.signatureFiles.keys()].sort()).toEqual(['fog', 'low-light']);
    expect(pack.missing).toEqual([]);
  });

  for (const c of HOSTILE_CASES) {
    it(`${c.kind} (item ${c.item}): ${typeof c.outcome === 'string' ? c.outcome : Object.entries(c.outcome).map(([k, v]) => `${k} ${v}`).join(', ')}`, async () => {
      const dir = writeHostilePack(h, path.join(h.root, c.kind), c);
      const started = Date.now();
      const got = await openPack(dir).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      const o = c.outcome;
      if (o === 'opens') {
        expect(got).not.toBeInstanceOf(Error);
      } else if ('refused' in o) {
        expect(got, String(got)).toBeInstanceOf(RwsError);
        const e = got as RwsError;
        expect(e.code, e.message).toBe(o.refused);
        expect(e.message).toContain(path.join(dir, o.names));
        expect(e.message).not.toContain(SECRET);
      } else {
        // The pack opens without the signature, which is listed as missing with the reason.
        const pack = await loadPack(dir);
        const m = pack.missing.find((x) => x.id === o.missing);
        expect(m, JSON.stringify(pack.missing)).toBeDefined();
        expect(m!.reason).toContain(path.join(dir, 'signatures'));
        expect(m!.reason).toMatch(o.code === 'link-outside' ? /symbolic link that leads outside the pack folder/ : /not a regular file/);
        expect(pack.signatureFiles.has(o.missing)).toBe(false);
      }
    });
  }
});

describe('pack.json limits and numbers', () => {
  const base = () => JSON.parse(readFileSync(path.join(h.template, 'pack.json'), 'utf8')) as Record<string, any>;
  const refusal = (m: unknown) => {
    try {
      parsePackManifest(JSON.stringify(m), 'p/pack.json');
    } catch (e) {
      return (e as RwsError).message;
    }
    return 'accepted';
  };

  it('bounds input sides, labels, mean, std and mix strengths, naming the field', () => {
    const m = base();
    expect(refusal(m)).toBe('accepted');
    expect(refusal({ ...m, input: { ...m.input, width: MAX_INPUT_SIDE + 1 } })).toMatch(/field "input\.width"/);
    expect(refusal({ ...m, input: { ...m.input, std: [1e-320] } })).toMatch(/field "input\.std\.0"/);
    expect(refusal({ ...m, input: { ...m.input, mean: [1e308] } })).toMatch(/field "input\.mean\.0"/);
    expect(refusal({ ...m, input: { ...m.input, range: [0, 1e300] } })).toMatch(/field "input\.range\.1"/);
    expect(refusal({ ...m, input: { ...m.input, channels: 3, colorSpace: 'rgb', mean: [0.5, 0.5] } })).toMatch(/field "input\.mean": 2 values for 3 channel/);
    expect(refusal({ ...m, mixes: [{ id: 'x', name: 'X', mix: { fog: 5 } }] })).toMatch(/field "mixes\.0\.mix\.fog"/);
  });

  it('holds the declared input and labels against the model itself', async () => {
    const dir = path.join(h.root, 'nhwc');
    writeHostilePack(h, dir, { manifest: { 'input.layout': 'NHWC' } });
    // [batch, 1, 28, 28] read as NHWC would have 28 channels: its one channel comes second.
    await expect(loadPack(dir)).rejects.toThrow(/field "input\.layout": "NHWC", but model\.onnx's input "input" is \[batch, 1, 28, 28\]: its channels come second \(NCHW\)/);
    writeHostilePack(h, dir, { manifest: { labels: ['a', 'b'] } });
    await expect(loadPack(dir)).rejects.toThrow(/field "labels": 2 labels, but model\.onnx's output "logits" \[batch, 10\] has 10 classes/);
  });

  it('never quotes the text of a pack.json it cannot parse', async () => {
    const dir = path.join(h.root, 'garbled');
    writeHostilePack(h, dir, {});
    // Its files are links to the template's: replaced, never written through.
    rmSync(path.join(dir, 'pack.json'));
    writeFileSync(path.join(dir, 'pack.json'), `${SECRET} is not JSON`);
    const e = (await loadPack(dir).catch((x: unknown) => x)) as RwsError;
    expect(e.code).toBe('pack-json');
    expect(e.message).toMatch(/pack\.json: not valid JSON \(Unexpected token 'T'\)/);
    expect(e.message).not.toContain('SECRET');
  });
});
