import { ort } from './ort.js';
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
  /** How the model bytes are read and optimised: see `ModelForm`. */
  form?: ModelForm;
  /** Devices as probed; tests pass a fake list, everyone else leaves it out. */
  devices?: DeviceInfo[];
}

/**
 * How a session reads its model (default `onnx`):
 *   onnx      – ONNX bytes, every graph optimisation, onnxruntime's own copies of the weights;
 *   save-ort  – the same, and the optimised graph saved in onnxruntime's format to `file`;
 *   ort-live  – ORT-format bytes run as they are (no optimisation), the initializers of more than
 *               127 bytes read straight from the caller's buffer, which must outlive the session;
 *               `prepack: false` stops kernels from keeping their own re-packed copies of weights;
 *   ort-copy  – ORT-format bytes run as they are, every initializer copied at creation: the caller's
 *               buffer may change or be freed afterwards; `prepack` as for `ort-live`.
 */
export type ModelForm = { kind: 'onnx' } | { kind: 'save-ort'; file: string } | { kind: 'ort-live' | 'ort-copy'; prepack: boolean };

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
export function sessionOptions(device: Exclude<Device, 'auto'>, threads?: number, memPattern = true, form: ModelForm = { kind: 'onnx' }): ort.InferenceSession.SessionOptions {
  const n = threads ?? defaultThreads();
  if (!Number.isInteger(n) || n < 1) throw new RwsError('usage', `--threads: must be a whole number ≥ 1, got ${threads}`, { field: 'threads' });
  const session: Record<string, string | Record<string, string>> = { intra_op: { allow_spinning: '0' } };
  if (form.kind === 'ort-live') {
    session.use_ort_model_bytes_directly = '1';
    session.use_ort_model_bytes_for_initializers = '1';
  }
  if ((form.kind === 'ort-live' || form.kind === 'ort-copy') && !form.prepack) session.disable_prepacking = '1';
  return {
    executionProviders: [device],
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: form.kind === 'ort-live' || form.kind === 'ort-copy' ? 'disabled' : 'all',
    // Saving warns that the file is specific to this machine: it is, and it never leaves it.
    ...(form.kind === 'save-ort' ? { optimizedModelFilePath: form.file, logSeverityLevel: 3 as const } : {}),
    enableCpuMemArena: true,
    enableMemPattern: memPattern,
    extra: { session },
  };
}

async function create(model: Uint8Array | string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

function message(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.trim();
}

/** What the user is told when `device` could not be used. */
export function fallbackNotice(device: string, reason: string): string {
  return `device "${device}" could not be used (${reason}); running on the CPU instead`;
}

/**
 * Where a session for `device` will run, known before creating it: the CPU, with the notice,
 * when the device is listed as unavailable here. (A provider listed as available may still fail
 * to load; createSession handles that.)
 */
export function plannedDevice(device: Device, devices: DeviceInfo[]): { device: Exclude<Device, 'auto'>; fallback?: string } {
  const resolved = resolveDevice(device, devices);
  const info = devices.find((d) => d.id === resolved);
  if (resolved === 'cpu' || !info || info.available) return { device: resolved };
  return { device: 'cpu', fallback: fallbackNotice(resolved, info.reason ?? 'not available on this machine') };
}

/**
 * Creates an onnxruntime session on the requested device. A provider that cannot be used (not
 * installed, no driver, fails to load) is retried on the CPU, with the reason in `fallback`.
 */
export async function createSession(model: Uint8Array | string, opts: SessionOptions): Promise<CreatedSession> {
  const devices = opts.devices ?? listDevices();
  const where = typeof model === 'string' ? model : 'model';
  const planned = plannedDevice(opts.device, devices);
  if (planned.fallback) return { session: await createCpu(model, opts, where), device: 'cpu', fallback: planned.fallback };
  const device = planned.device;
  if (device === 'cpu') return { session: await createCpu(model, opts, where), device: 'cpu' };
  try {
    return { session: await create(model, sessionOptions(device, opts.threads, opts.memPattern, opts.form)), device };
  } catch (e) {
    const session = await createCpu(model, opts, where);
    return { session, device: 'cpu', fallback: fallbackNotice(device, message(e)) };
  }
}

async function createCpu(model: Uint8Array | string, opts: SessionOptions, where: string): Promise<ort.InferenceSession> {
  try {
    return await create(model, sessionOptions('cpu', opts.threads, opts.memPattern, opts.form));
  } catch (e) {
    if (e instanceof RwsError) throw e;
    throw new RwsError('onnx-session', `${where}: onnxruntime cannot load the model: ${message(e)}`, { file: typeof model === 'string' ? model : undefined });
  }
}
