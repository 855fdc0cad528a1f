import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CUDA_INSTALL_COMMAND, listDevices, parseDevice, resolveDevice, type DeviceProbe } from '../../../main/engine/runtime/devices.js';

const linux: DeviceProbe = {
  platform: 'linux',
  arch: 'x64',
  backends: [
    { name: 'cpu', bundled: true },
    { name: 'webgpu', bundled: true },
    { name: 'cuda', bundled: false },
    { name: 'tensorrt', bundled: false },
  ],
  hasBinary: () => false,
};

describe('listDevices', () => {
  it('on Linux without the CUDA build: only the CPU, and says how to get CUDA', () => {
    const list = listDevices(linux);
    expect(list.map((d) => d.id)).toEqual(['cpu', 'cuda', 'dml', 'coreml', 'webgpu']);
    expect(list.find((d) => d.id === 'cpu')!.available).toBe(true);
    const cuda = list.find((d) => d.id === 'cuda')!;
    expect(cuda.available).toBe(false);
    expect(cuda.reason).toContain(CUDA_INSTALL_COMMAND);
    expect(list.find((d) => d.id === 'dml')!.reason).toContain('Windows');
    expect(list.find((d) => d.id === 'coreml')!.reason).toContain('macOS');
    expect(resolveDevice('auto', list)).toBe('cpu');
  });

  it('with the CUDA provider library installed, auto picks CUDA', () => {
    const list = listDevices({ ...linux, hasBinary: (f) => f === 'libonnxruntime_providers_cuda.so' });
    expect(list.find((d) => d.id === 'cuda')!.available).toBe(true);
    expect(resolveDevice('auto', list)).toBe('cuda');
  });

  it('DirectML on Windows and Core ML on macOS; auto never picks WebGPU', () => {
    const win = listDevices({ platform: 'win32', arch: 'x64', backends: [{ name: 'cpu', bundled: true }, { name: 'dml', bundled: true }, { name: 'webgpu', bundled: true }], hasBinary: () => false });
    expect(resolveDevice('auto', win)).toBe('dml');
    const mac = listDevices({ platform: 'darwin', arch: 'arm64', backends: [{ name: 'cpu', bundled: true }, { name: 'coreml', bundled: true }, { name: 'webgpu', bundled: true }], hasBinary: () => false });
    expect(resolveDevice('auto', mac)).toBe('coreml');
    const webOnly = listDevices({ platform: 'linux', arch: 'arm64', backends: [{ name: 'cpu', bundled: true }, { name: 'webgpu', bundled: true }], hasBinary: () => false });
    expect(webOnly.find((d) => d.id === 'webgpu')!.available).toBe(true);
    expect(resolveDevice('auto', webOnly)).toBe('cpu');
    expect(resolveDevice('webgpu', webOnly)).toBe('webgpu');
  });

  it('this machine always has the CPU', () => {
    expect(listDevices().find((d) => d.id === 'cpu')!.available).toBe(true);
  });

  it('parseDevice refuses unknown names and lists the choices', () => {
    expect(parseDevice('cuda')).toBe('cuda');
    expect(() => parseDevice('tpu')).toThrow(/unknown device "tpu".*auto, cpu, cuda/);
  });
});

describe('the CUDA hint', () => {
  it('gives the same command as the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain(`\`${CUDA_INSTALL_COMMAND}\``);
  });
});
