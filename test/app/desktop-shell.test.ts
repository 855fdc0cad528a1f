// The desktop's run feedback through a fake shell: taskbar progress while a run or an evaluation
// goes, a notification (with the results folder) when one ends while the window is not in front,
// and "Open results folder" going to the shell for folders only.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FolderProgress } from '../../main/api/contract.js';
import { HOST_CHANNELS } from '../../main/api/host-channels.js';
import { RunFeedback } from '../../main/app/desktop-shell.js';
import type { IpcContext } from '../../main/app/ipc/context.js';
import { register as registerOpenPath } from '../../main/app/ipc/open-path.js';
import { SettingsStore } from '../../main/app/settings.js';
import { fakeShell } from './fake-shell.js';

const run = (p: Partial<FolderProgress>): FolderProgress => ({ kind: 'folder', phase: 'running', done: 0, failed: 0, total: 100, rate: 10, eta: 9, output: '/data/out', ...p });

describe('RunFeedback', () => {
  it('shows a folder run in the taskbar and notifies its end with the results folder', () => {
    const shell = fakeShell();
    const f = new RunFeedback(shell);
    f.onProgress(run({ phase: 'starting', total: null }));
    f.onProgress(run({ done: 40, failed: 10 }));
    f.onProgress(run({ phase: 'done', done: 90, failed: 10, eta: 0 }));
    f.onProgress(run({ phase: 'done', done: 90, failed: 10, eta: 0 }));
    expect(shell.progress).toEqual([
      [0, 'indeterminate'],
      [0.5, 'normal'],
      [null, undefined],
    ]);
    expect(shell.notes).toEqual([{ title: 'Folder run finished', body: '90 images classified, 10 could not be read. Results in /data/out' }]);
  });

  it('says nothing when the window is in front, marks a failure and a stop in the taskbar', () => {
    const shell = fakeShell();
    shell.isFocused = true;
    const f = new RunFeedback(shell);
    f.onProgress(run({ done: 20 }));
    f.onProgress(run({ phase: 'stopped', done: 20, eta: null }));
    f.onProgress(run({ done: 30 }));
    f.onProgress(run({ phase: 'failed', done: 30, message: 'disk full' }));
    expect(shell.progress.slice(1)).toEqual([
      [0.2, 'paused'],
      [0.3, 'normal'],
      [1, 'error'],
    ]);
    expect(shell.notes).toEqual([]);
    shell.isFocused = false;
    f.onProgress(run({ kind: 'eval', phase: 'running', done: 50, total: 200 }));
    f.onProgress(run({ kind: 'eval', phase: 'failed', done: 50, total: 200, message: 'no labels' }));
    expect(shell.notes).toEqual([{ title: 'Evaluation failed', body: 'no labels' }]);
  });

  it('notifies the end of an evaluation, not its cancellation', () => {
    const shell = fakeShell();
    const f = new RunFeedback(shell);
    f.onProgress(run({ kind: 'eval', phase: 'running', done: 10, total: 200 }));
    f.onProgress(run({ kind: 'eval', phase: 'stopped', done: 10, total: 200 }));
    f.onProgress(run({ kind: 'eval', phase: 'running', done: 10, total: 200 }));
    f.onProgress(run({ kind: 'eval', phase: 'done', done: 200, total: 200 }));
    expect(shell.notes.map((n) => n.title)).toEqual(['Evaluation finished']);
  });
});

describe('Open results folder', () => {
  it('goes to the shell for a folder, and refuses a file or a bad argument', async () => {
    const shell = fakeShell();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-open-'));
    await writeFile(path.join(tmp, 'run.sh'), 'echo hi');
    const handlers = new Map<string, (args: unknown) => Promise<unknown>>();
    const ctx: IpcContext = {
      engine: { call: async () => null },
      settings: await SettingsStore.open(tmp),
      shell,
      window: () => null,
      handle: (channel, fn) => void handlers.set(channel, (a) => fn(a, {} as never)),
    };
    registerOpenPath(ctx);
    const open = handlers.get(HOST_CHANNELS.openPath)!;
    await open(tmp);
    expect(shell.opened).toEqual([tmp]);
    await expect(open(path.join(tmp, 'run.sh'))).rejects.toMatchObject({ code: 'not-a-folder' });
    await expect(open(42)).rejects.toMatchObject({ code: 'bad-argument' });
    expect(shell.opened).toEqual([tmp]);
  });
});
