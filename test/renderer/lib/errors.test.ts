// Errors in the app's words: each code the engine, rws serve or the client can give has a sentence
// that says what happened and what to do; the engine's own words are kept for the details.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { explain, knownCode, problemOf } from '../../../renderer/src/lib/errors.js';
import { RwsError } from '../../../main/core/errors.js';

const MAIN = fileURLToPath(new URL('../../../main/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every error code written in main/: RwsErrors, rws serve's HTTP errors, error values and decode failures. */
function codesInSources(): Set<string> {
  const codes = new Set<string>();
  const patterns = [/new RwsError\(\s*'([a-z0-9-]+)'/g, /HttpError\(\d+, '([a-z0-9-]+)'/g, /code: '([a-z0-9-]+)', message/g, /readonly code = '([a-z0-9-]+)'/g, /code = '([a-z0-9-]+)'\)/g];
  for (const f of sources(MAIN)) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) codes.add(m[1]!);
    const decode = /export type DecodeErrorCode = ([^;]+);/.exec(text);
    if (decode) for (const m of decode[1]!.matchAll(/'([a-z-]+)'/g)) codes.add(m[1]!);
  }
  return codes;
}

describe('explain', () => {
  it('has a sentence of its own for every error code in the engine, rws serve and the client', () => {
    const codes = codesInSources();
    expect(codes.size).toBeGreaterThan(60);
    expect([...codes].filter((c) => !knownCode(c))).toEqual([]);
  });

  it('says which value is wrong in the form\'s words, not the schema\'s', () => {
    const e = new RwsError('bad-argument', 'startFolderRun: field "top": Too small: expected number to be >=1', { field: 'top' });
    const x = explain(problemOf(e));
    expect(x.text).toBe('Top-k must be at least 1. Correct it and try again.');
    expect(x.text).not.toContain('field');
    expect(x.detail).toContain('field "top": Too small');
    expect(explain({ code: 'bad-argument', message: 'evaluate: field "limit": Invalid input: expected number, received null', field: 'limit' }).text).toBe('Images per cell must be a number. Correct it and try again.');
    expect(explain({ code: 'bad-argument', message: 'startFolderRun: field "inputs.0": Too small: expected string to have >=1 characters', field: 'inputs.0' }).text).toMatch(/^The images folder is empty\./);
  });

  it('names a missing pack once, without errno codes, and says where to look', () => {
    const x = explain({ code: 'pack-missing', message: '/data/packs/x/pack.json: cannot read the pack manifest (ENOENT)', file: '/data/packs/x/pack.json' });
    expect(x.text).toBe('There is no model pack in /data/packs/x: it has no pack.json. Choose the folder that holds a pack.json.');
    expect(x.text).not.toMatch(/ENOENT/);
  });

  it('turns a device that fell back into a sentence, the C++ assertion into a detail', () => {
    const raw = 'device "webgpu" could not be used (Assertion failed: adapter != nullptr at dawn/native/Instance.cpp:412); running on the CPU instead';
    const x = explain({ code: 'device-fallback', message: raw });
    expect(x.text).toBe('WebGPU could not start on this machine, so the engine runs on the CPU. Choose CPU or Auto to stop this message.');
    expect(x.detail).toContain('Assertion failed');
  });

  it('keeps a sentence that says what to do for codes it has never seen', () => {
    const x = explain(problemOf(Object.assign(new Error('boom'), { code: 'brand-new' })));
    expect(x.text).toMatch(/^Something went wrong \(brand-new\)\. Try again/);
    expect(explain(problemOf('plain text')).detail).toBe('plain text [internal]');
  });

  it('names the refused file itself, also inside a pack\'s message about its field', () => {
    const m = '/p/pack.json: field "model": /p/model.onnx: refused as the model: it is a FIFO (named pipe), not a regular file';
    expect(explain({ code: 'not-regular-file', message: m, file: '/p/pack.json', field: 'model' }).text).toBe('/p/model.onnx is not read: it is a FIFO (named pipe), not a regular file. Put the file itself in its place.');
    expect(explain({ code: 'not-regular-file', message: '/in/x.png: not read: it is a socket, not a regular file', file: '/in/x.png' }).text).toBe('/in/x.png is not read: it is a socket, not a regular file. Put the file itself in its place.');
    expect(explain({ code: 'file-too-large', message: '/p/s.rws: refused as a signature: 9 bytes, over the limit of 8', file: '/p/s.rws' }).text).toBe('/p/s.rws is not read: 9 bytes, over the limit of 8. Check that it is the right file.');
  });
});
