import { describe, expect, it } from 'vitest';
import type { FolderProgress } from '../../../main/api/contract.js';
import { windowTitle } from '../../../renderer/src/lib/title.js';
import { evalCsv } from '../../../renderer/src/lib/eval-export.js';

const p = (x: Partial<FolderProgress>): FolderProgress => ({ kind: 'folder', phase: 'running', done: 0, failed: 0, total: 200, rate: 1, eta: 1, ...x });

describe('the window title', () => {
  it('follows a folder run, an evaluation first while it goes, and a lost connection', () => {
    expect(windowTitle(null, null)).toBe('RWS Studio');
    expect(windowTitle(p({ phase: 'starting', total: null }), null)).toBe('Starting · Folder run · RWS Studio');
    expect(windowTitle(p({ done: 70, failed: 4 }), null)).toBe('37% · Folder run · RWS Studio');
    expect(windowTitle(p({ phase: 'done', done: 196, failed: 4 }), null)).toBe('Done · Folder run · RWS Studio');
    expect(windowTitle(p({ phase: 'done' }), p({ kind: 'eval', done: 50 }))).toBe('25% · Evaluation · RWS Studio');
    expect(windowTitle(p({ done: 100 }), p({ kind: 'eval', phase: 'done' }))).toBe('50% · Folder run · RWS Studio');
    expect(windowTitle(p({ done: 100 }), null, 'lost')).toBe('Connection lost · 50% · Folder run · RWS Studio');
  });
});

describe('evaluation export', () => {
  it('writes one CSV row per condition and severity, with the clean accuracy first', () => {
    const csv = evalCsv({ data: 'd', samples: 2, cleanAccuracy: 0.9, ms: 1, conditions: [{ id: 'fog', name: 'Fog, heavy', mix: { fog: 1 }, points: [{ severity: 1, clean: 0.5, patched: 0.75 }] }] });
    expect(csv.split('\r\n')).toEqual(['condition,name,mix,severity,clean_accuracy,patched_accuracy,gain', 'none,No corruption,,,0.9,,', 'fog,"Fog, heavy",fog=1,1,0.5,0.75,0.25', '']);
  });
});
