import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FolderFailure } from '../../main/api/contract.js';
import { buildReport, reportCsv, reportJson } from '../../main/engine/folder/report.js';
import type { FileResult } from '../../main/engine/folder/journal.js';
import { writeResultsFile } from '../../main/service/results-file.js';

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
  const failed: FolderFailure[] = [
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
    it(`writes the same bytes as results-export (${n} results, top ${k})`, async () => {
      const { results, failed } = fixture(n, k);
      const report = buildReport('pack', mix, 'cpu', results, failed);
      const rows = [...results].sort(byFile).map((r) => ({ file: r.file, top: r.top }));
      const content = { pack: 'pack', mix: mix as Record<string, number>, device: 'cpu', rows, topWidth: n ? k : 0, failed: [...failed].sort(byFile) };
      await writeResultsFile(path.join(tmp, 'r.json'), 'json', content);
      await writeResultsFile(path.join(tmp, 'r.csv'), 'csv', content);
      expect(readFileSync(path.join(tmp, 'r.json'), 'utf8')).toBe(reportJson(report));
      expect(readFileSync(path.join(tmp, 'r.csv'), 'utf8')).toBe(reportCsv(report));
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
