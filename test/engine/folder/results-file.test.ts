import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileFailure, FileResult } from '../../../main/engine/folder/journal.js';
import { resultsContent, rowJson, writeResults, writeResultsFile, type ResultRow, type ShardRecord } from '../../../main/engine/folder/results-file.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rws-results-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

function fixture(n: number, k: number) {
  const names = ['plain.png', 'comma,name.png', 'quote"d.png', 'ünï/cödé.png', 'line\nbreak.png', 'z.png'];
  const results: FileResult[] = [];
  for (let i = 0; i < n; i++) {
    const top = Array.from({ length: k }, (_, j) => ({ index: (i + j) % 7, label: j === 1 ? 'say "hi", twice' : `class ${(i + j) % 7}`, score: 1 / (i + j + 3) }));
    results.push({ file: i < names.length ? names[i]! : `d${i % 3}/img${i}.png`, top, mix: { fog: 0.5 }, device: 'cpu' });
  }
  const failed: FileFailure[] = [
    { file: 'a-first.png', code: 'not-image', message: 'a-first.png: not an image, "really"' },
    { file: 'm.png', code: 'unreadable', message: 'm.png: gone' },
    { file: '~last.png', code: 'too-large', message: '~last.png: too large' },
  ];
  return { results, failed };
}

describe('writeResultsFile', () => {
  for (const [n, k, mix] of [
    [0, 3, { fog: 0.5 }],
    [1, 1, {}],
    [40, 3, { fog: 0.5, 'low-light': 1 }],
  ] as const) {
    it(`streams the bytes of JSON.stringify and RFC 4180 CSV (${n} results, top ${k})`, async () => {
      const { results, failed } = fixture(n, k);
      const rows = [...results].sort(byFile).map((r) => ({ file: r.file, top: r.top }));
      const sortedFailed = [...failed].sort(byFile);
      const content = resultsContent('pack', mix as Record<string, number>, 'cpu', results, failed);
      await writeResultsFile(path.join(tmp, 'r.json'), 'json', content);
      await writeResultsFile(path.join(tmp, 'r.csv'), 'csv', content);
      const failedOut = sortedFailed.map((f) => ({ file: f.file, code: f.code, message: f.message }));
      expect(readFileSync(path.join(tmp, 'r.json'), 'utf8')).toBe(JSON.stringify({ pack: 'pack', mix, device: 'cpu', results: rows, failed: failedOut }, null, 2) + '\n');
      // The CSV, built the slow way: every row, sorted by file (a result before a failure of the same name).
      const q = (v: string | number) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
      const width = n ? k : 0;
      const head = ['file', 'status', ...Array.from({ length: width }, (_, i) => [`top${i + 1}_index`, `top${i + 1}_label`, `top${i + 1}_score`]).flat(), 'error_code', 'error_message'];
      const all = [
        ...rows.map((r) => [r.file, 'ok', ...r.top.flatMap((t) => [t.index, t.label, t.score]), '', '']),
        ...sortedFailed.map((f) => [f.file, 'failed', ...Array(width * 3).fill(''), f.code, f.message]),
      ].sort((a, b) => byFile({ file: a[0] as string }, { file: b[0] as string }));
      expect(readFileSync(path.join(tmp, 'r.csv'), 'utf8')).toBe([head, ...all].map((r) => r.map(q).join(',')).join('\r\n') + '\r\n');
    });
  }

  it('leaves the old file whole and no temp file when writing fails', async () => {
    const file = path.join(tmp, 'keep.json');
    await writeResultsFile(file, 'json', { pack: 'p', mix: {}, device: 'cpu', rows: [], topWidth: 0, failed: [] });
    const before = readFileSync(file, 'utf8');
    const rows = (function* () {
      yield { file: 'a.png', top: [] };
      throw new Error('disk gone');
    })();
    await expect(writeResultsFile(file, 'json', { pack: 'p', mix: {}, device: 'cpu', rows, topWidth: 0, failed: [] })).rejects.toThrow('disk gone');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(file)).toBe(true);
  });

  it('writes each row as JSON.stringify does, for any names, labels, scores and mixes', () => {
    const top = fc.record({ index: fc.integer({ min: 0, max: 999 }), label: fc.string({ unit: 'grapheme', maxLength: 12 }), score: fc.oneof(fc.double(), fc.constantFrom(0, -0, 1, 1e-300, NaN)) });
    const mix = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.double({ noNaN: true }));
    const row = fc.record({ file: fc.string({ unit: 'grapheme', maxLength: 30 }), top: fc.array(top, { maxLength: 6 }), mix, blend: mix }, { requiredKeys: ['file', 'top', 'mix'] });
    fc.assert(
      fc.property(row, fc.boolean(), (r, auto) => {
        const want = JSON.stringify(auto ? { file: r.file, top: r.top, mix: r.mix, blend: r.blend } : { file: r.file, top: r.top }, null, 2).replace(/\n/g, '\n    ');
        expect(rowJson(r, auto)).toBe(want);
      }),
    );
  });

  it('writes JSON and CSV as JSON.stringify and RFC 4180 quoting (formula-safe) do, for any rows (short top lists, NaN scores, quoted labels)', async () => {
    const top = fc.record({ index: fc.integer({ min: 0, max: 99 }), label: fc.string({ unit: 'grapheme', maxLength: 8 }), score: fc.oneof(fc.double(), fc.constantFrom(NaN, -0, 1e21, 5e-324)) });
    const rows = fc.uniqueArray(fc.record({ file: fc.string({ unit: 'grapheme', maxLength: 12 }), top: fc.array(top, { maxLength: 3 }) }), { selector: (r) => r.file, maxLength: 12 });
    // Text that a spreadsheet would run as a formula gets a leading '; numbers are left as they are.
    const text = (v: unknown) => (typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v));
    const q = (v: unknown) => (v === undefined ? '' : /[",\r\n]/.test(text(v)) ? `"${text(v).replace(/"/g, '""')}"` : text(v));
    await fc.assert(
      fc.asyncProperty(rows, async (list) => {
        const sorted = [...list].sort(byFile);
        const k = Math.max(0, ...sorted.map((r) => r.top.length));
        await writeResults({ pack: 'p', mix: {}, device: 'cpu', rows: sorted, topWidth: k, failed: [] }, { json: path.join(tmp, 'p.json'), csv: path.join(tmp, 'p.csv') });
        expect(readFileSync(path.join(tmp, 'p.json'), 'utf8')).toBe(JSON.stringify({ pack: 'p', mix: {}, device: 'cpu', results: sorted, failed: [] }, null, 2) + '\n');
        const head = ['file', 'status', ...Array.from({ length: k }, (_, i) => [`top${i + 1}_index`, `top${i + 1}_label`, `top${i + 1}_score`]).flat(), 'error_code', 'error_message'];
        const body = sorted.map((r) => [r.file, 'ok', ...Array.from({ length: k }, (_, i) => [r.top[i]?.index, r.top[i]?.label, r.top[i]?.score]).flat(), '', '']);
        expect(readFileSync(path.join(tmp, 'p.csv'), 'utf8')).toBe([head, ...body].map((r) => r.map(q).join(',')).join('\r\n') + '\r\n');
      }),
      { numRuns: 60 },
    );
  });

  it('writes JSON and CSV in one pass over rows that come once, equal to each written alone, and a shard\'s record before its rows', async () => {
    const { results, failed } = fixture(40, 3);
    const content = resultsContent('pack', 'auto', 'cpu', results, failed);
    const shard: ShardRecord = { index: 2, count: 3, run: 'pack@1+abc', top: 3, listing: { entries: 43, sha256: 'f'.repeat(64) } };
    const once = async function* (): AsyncIterable<ResultRow> {
      yield* content.rows;
    };
    await writeResults({ ...content, shard, rows: once() }, { json: path.join(tmp, 'both.json'), csv: path.join(tmp, 'both.csv') });
    await writeResultsFile(path.join(tmp, 'alone.json'), 'json', { ...content, shard });
    await writeResultsFile(path.join(tmp, 'alone.csv'), 'csv', content);
    expect(readFileSync(path.join(tmp, 'both.json'), 'utf8')).toBe(readFileSync(path.join(tmp, 'alone.json'), 'utf8'));
    expect(readFileSync(path.join(tmp, 'both.csv'), 'utf8')).toBe(readFileSync(path.join(tmp, 'alone.csv'), 'utf8'));
    const failedOut = content.failed.map((f) => ({ file: f.file, code: f.code, message: f.message }));
    expect(readFileSync(path.join(tmp, 'both.json'), 'utf8')).toBe(JSON.stringify({ pack: 'pack', mix: 'auto', device: 'cpu', shard, results: content.rows, failed: failedOut }, null, 2) + '\n');
  });

  it('writes rows larger than its buffer, and many of them, whole and in order', async () => {
    const long = 'x'.repeat(700_000);
    const rows: ResultRow[] = [{ file: 'a', top: [{ index: 0, label: long, score: 1 }] }, ...Array.from({ length: 5000 }, (_, i) => ({ file: `b${String(i).padStart(5, '0')}`, top: [{ index: 1, label: 'é', score: i }] })), { file: 'c', top: [{ index: 2, label: long + long, score: 0.5 }] }];
    await writeResultsFile(path.join(tmp, 'big.json'), 'json', { pack: 'p', mix: {}, device: 'cpu', rows, topWidth: 1, failed: [] });
    expect(readFileSync(path.join(tmp, 'big.json'), 'utf8')).toBe(JSON.stringify({ pack: 'p', mix: {}, device: 'cpu', results: rows, failed: [] }, null, 2) + '\n');
  });
});
