import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { DeviceInfo } from '../../../main/engine/runtime/devices.js';
import { createSession, sessionOptions } from '../../../main/engine/runtime/session.js';
import { tinyConvNet } from '../../fixtures/models.js';

const model = tinyConvNet();
const input = new ort.Tensor('float32', new Float32Array(28 * 28).fill(0.5), [1, 1, 28, 28]);

describe('createSession', () => {
  it('runs a model from bytes and from a file on the CPU', async () => {
    const fromBytes = await createSession(model.bytes, { device: 'cpu', threads: 2 });
    expect(fromBytes.device).toBe('cpu');
    expect(fromBytes.fallback).toBeUndefined();
    const dir = mkdtempSync(path.join(tmpdir(), 'rws-session-'));
    const file = path.join(dir, 'tiny.onnx');
    writeFileSync(file, model.bytes);
    const fromFile = await createSession(file, { device: 'auto', threads: 1 });
    const a = (await fromBytes.session.run({ input }))[model.output]!.data;
    const b = (await fromFile.session.run({ input }))[model.output]!.data;
    expect(a).toEqual(b);
    expect(a).toHaveLength(10);
    await fromBytes.session.release();
    await fromFile.session.release();
  });

  it('falls back to the CPU with the reason when the device is not installed', async () => {
    const { session, device, fallback } = await createSession(model.bytes, { device: 'cuda', threads: 1 });
    if (device === 'cuda') {
      expect(fallback).toBeUndefined(); // a machine with the CUDA build: nothing to fall back from
    } else {
      expect(device).toBe('cpu');
      expect(fallback).toMatch(/^device "cuda" could not be used \(.+\); running on the CPU instead$/);
    }
    await session.run({ input });
    await session.release();
  });

  it('falls back when a provider that claims to be available fails to load', async () => {
    const devices: DeviceInfo[] = [
      { id: 'cpu', name: 'CPU', available: true },
      { id: 'coreml', name: 'Core ML', available: true },
    ];
    const { session, device, fallback } = await createSession(model.bytes, { device: 'coreml', threads: 1, devices });
    expect(device).toBe('cpu');
    expect(fallback).toContain('device "coreml" could not be used');
    await session.release();
  });

  it('names the file when onnxruntime cannot load it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rws-session-'));
    const file = path.join(dir, 'broken.onnx');
    writeFileSync(file, model.bytes.subarray(0, 100));
    await expect(createSession(file, { device: 'cpu' })).rejects.toMatchObject({ code: 'onnx-session', file });
    await expect(createSession(file, { device: 'cpu' })).rejects.toThrow(file);
  });

  it('uses explicit threads, no spinning, the arena and every optimisation', () => {
    const o = sessionOptions('cpu', 3);
    expect(o).toMatchObject({ intraOpNumThreads: 3, graphOptimizationLevel: 'all', enableCpuMemArena: true, executionProviders: ['cpu'] });
    expect(o.extra).toEqual({ session: { intra_op: { allow_spinning: '0' } } });
    expect(sessionOptions('cpu').intraOpNumThreads).toBeGreaterThanOrEqual(1);
    expect(() => sessionOptions('cpu', 0)).toThrow(/--threads/);
  });
});
