import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { RwsError } from '../../core/errors.js';

/** Where inference runs: an onnxruntime execution provider, or `auto` for the best one available. */
export type Device = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

/** Every device a user may name, in the order `auto` prefers them (webgpu is opt-in only). */
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];

/** Order in which `auto` tries providers. */
const AUTO_ORDER: readonly Exclude<Device, 'auto'>[] = ['cuda', 'dml', 'coreml', 'cpu'];

const NAMES: Record<Exclude<Device, 'auto'>, string> = {
  cpu: 'CPU',
  cuda: 'NVIDIA CUDA',
  dml: 'DirectML (Windows GPU)',
  coreml: 'Core ML (Apple)',
  webgpu: 'WebGPU (experimental)',
};

/** One execution provider as this machine sees it; `reason` says why it is not available, or how to get it. */
export interface DeviceInfo {
  id: Exclude<Device, 'auto'>;
  name: string;
  available: boolean;
  reason?: string;
}

/** What the platform and onnxruntime-node's binaries say, separated out so tests can fake a machine. */
export interface DeviceProbe {
  platform: NodeJS.Platform;
  arch: string;
  backends: { name: string; bundled: boolean }[];
  /** True when the file exists in onnxruntime-node's binary folder. */
  hasBinary: (file: string) => boolean;
}

/** True when `value` names a device (`--device` and the api use this before creating a session). */
export function isDevice(value: string): value is Device {
  return (DEVICES as readonly string[]).includes(value);
}

/** Parses a user's `--device` value, or throws an error listing the choices. */
export function parseDevice(value: string, field = '--device'): Device {
  if (isDevice(value)) return value;
  throw new RwsError('usage', `${field}: unknown device "${value}" (choose one of ${DEVICES.join(', ')})`, { field });
}

function binaryFolder(platform: string, arch: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('onnxruntime-node');
    return path.join(path.dirname(entry), '..', 'bin', 'napi-v6', platform, arch);
  } catch {
    return undefined;
  }
}

/** The probe of this machine. */
export function machineProbe(): DeviceProbe {
  const platform = process.platform;
  const arch = process.arch;
  const folder = binaryFolder(platform, arch);
  // Loaded here, not at the top: naming a device (`--device`) must not load onnxruntime's binary
  // into rws run's main thread before it has handed the worker its model (rws run infers there).
  const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
  return {
    platform,
    arch,
    backends: ort.listSupportedBackends(),
    hasBinary: (file) => folder !== undefined && existsSync(path.join(folder, file)),
  };
}

/** The command that fetches onnxruntime's CUDA libraries, as the README gives it (a test holds them equal). */
export const CUDA_INSTALL_COMMAND = 'npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12';

const CUDA_HOWTO = `the CUDA build of onnxruntime is not installed: run \`${CUDA_INSTALL_COMMAND}\` (needs internet, CUDA 12 and cuDNN 9 on the machine; see README)`;

/** Lists the execution providers with whether each can be used here, and why not. */
export function listDevices(probe: DeviceProbe = machineProbe()): DeviceInfo[] {
  const listed = new Map(probe.backends.map((b) => [b.name, b]));
  const info = (id: Exclude<Device, 'auto'>, available: boolean, reason?: string): DeviceInfo =>
    reason === undefined ? { id, name: NAMES[id], available } : { id, name: NAMES[id], available, reason };

  const cuda = (): DeviceInfo => {
    const b = listed.get('cuda');
    if (!b) return info('cuda', false, `onnxruntime-node has no CUDA build for ${probe.platform}/${probe.arch}`);
    const lib = probe.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (b.bundled || probe.hasBinary(lib)) return info('cuda', true);
    return info('cuda', false, CUDA_HOWTO);
  };
  const dml = (): DeviceInfo => {
    if (probe.platform !== 'win32') return info('dml', false, 'DirectML exists only on Windows');
    return listed.has('dml') ? info('dml', true) : info('dml', false, 'this onnxruntime-node build has no DirectML provider');
  };
  const coreml = (): DeviceInfo => {
    if (probe.platform !== 'darwin') return info('coreml', false, 'Core ML exists only on macOS');
    return listed.has('coreml') ? info('coreml', true) : info('coreml', false, 'this onnxruntime-node build has no Core ML provider');
  };
  const webgpu = (): DeviceInfo =>
    listed.has('webgpu')
      ? info('webgpu', true, 'experimental: never chosen by auto; pick it explicitly')
      : info('webgpu', false, 'this onnxruntime-node build has no WebGPU provider');

  return [info('cpu', true), cuda(), dml(), coreml(), webgpu()];
}

/** The device `auto` stands for on this machine: the first available of cuda, dml, coreml, cpu. */
export function resolveDevice(device: Device, devices: DeviceInfo[] = listDevices()): Exclude<Device, 'auto'> {
  if (device !== 'auto') return device;
  for (const id of AUTO_ORDER) if (devices.find((d) => d.id === id)?.available) return id;
  return 'cpu';
}

/** Threads per session when the user gives none: every core this process may use. */
export function defaultThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}
