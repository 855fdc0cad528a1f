import * as ort from 'onnxruntime-node';
import { RwsError } from '../../core/errors.js';
import { defaultThreads, listDevices, resolveDevice, type Device, type DeviceInfo } from './devices.js';

/** How to create a session: the device and the number of intra-op threads (default: all cores). */
export interface SessionOptions {
  device: Device;
  threads?: number;
  /**
   * Let onnxruntime record the first run's allocations and pre-plan later runs (default on). Off
   * for sessions re-created on every patch switch: the recording made their first run ~2× slower
   * (ResNet-18's head: 6.4 vs 3.0 ms) and they rarely live long enough to repay it.
   */
  memPattern?: boolean;
  /** Devices as probed; tests pass a fake list, everyone else leaves it out. */
  devices?: DeviceInfo[];
}

/** A created session, the device it runs on, and why it is not the one asked for (when it is not). */
export interface CreatedSession {
  session: ort.InferenceSession;
  device: Exclude<Device, 'auto'>;
  /** Set when the requested device could not be used and the session fell back to the CPU; the CLI prints it. */
  fallback?: string;
}

/**
 * onnxruntime options we always use: explicit threads (left unset, one thread was used here), no
 * intra-op spinning (several sessions live in one process and idle spinners slow each other 4×),
 * the memory arena on, and every graph optimisation.
 */
export function sessionOptions(device: Exclude<Device, 'auto'>, threads?: number, memPattern = true): ort.InferenceSession.SessionOptions {
  const n = threads ?? defaultThreads();
  if (!Number.isInteger(n) || n < 1) throw new RwsError('usage', `--threads: must be a whole number ≥ 1, got ${threads}`, { field: 'threads' });
  return {
    executionProviders: [device],
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: memPattern,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

async function create(model: Uint8Array | string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

function message(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.trim();
}

/**
 * Creates an onnxruntime session on the requested device. A provider that cannot be used (not
 * installed, no driver, fails to load) is retried on the CPU, with the reason in `fallback`.
 */
export async function createSession(model: Uint8Array | string, opts: SessionOptions): Promise<CreatedSession> {
  const devices = opts.devices ?? listDevices();
  const device = resolveDevice(opts.device, devices);
  const where = typeof model === 'string' ? model : 'model';
  if (device !== 'cpu') {
    const info = devices.find((d) => d.id === device);
    let reason: string;
    if (info && !info.available) {
      reason = info.reason ?? 'not available on this machine';
    } else {
      try {
        return { session: await create(model, sessionOptions(device, opts.threads, opts.memPattern)), device };
      } catch (e) {
        reason = message(e);
      }
    }
    const session = await createCpu(model, opts, where);
    return { session, device: 'cpu', fallback: `device "${device}" could not be used (${reason}); running on the CPU instead` };
  }
  return { session: await createCpu(model, opts, where), device: 'cpu' };
}

async function createCpu(model: Uint8Array | string, opts: SessionOptions, where: string): Promise<ort.InferenceSession> {
  try {
    return await create(model, sessionOptions('cpu', opts.threads, opts.memPattern));
  } catch (e) {
    if (e instanceof RwsError) throw e;
    throw new RwsError('onnx-session', `${where}: onnxruntime cannot load the model: ${message(e)}`, { file: typeof model === 'string' ? model : undefined });
  }
}
