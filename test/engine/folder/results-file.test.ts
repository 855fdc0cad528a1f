import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileFailure, FileResult } from '../../../main/engine/folder/journal.js';
import { resultsContent, writeResultsFile } from '../../../main/engine/folder/results-file.js';

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
});
