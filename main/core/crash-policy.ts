// The one policy for recovering from a crash, whichever process or thread died: the inference
// worker under the service (its models are made again), a folder run's worker (the run continues
// from its journal), or the app's engine process (restarted, its pack, mix and run re-applied).
// A crash on a GPU provider continues on the CPU, the usual cause being the provider; too many
// crashes in a short time stop the retrying.

/** Error codes of a dead inference worker (main/engine/runtime/remote-patcher.ts). */
export const WORKER_CRASH_CODES: ReadonlySet<string> = new Set(['worker-crashed', 'worker-exited']);

/** True when `e` says the inference worker died (not a failed call). */
export function isWorkerCrash(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && WORKER_CRASH_CODES.has(code);
}

/** True for a device id that names a GPU (or other accelerator) provider rather than the CPU. */
export function isAccelerator(device: string): boolean {
  return device !== 'cpu' && device !== 'auto';
}

/** Where to continue after a crash on `device`: the CPU when it was an accelerator, with the sentence that says so. */
export function deviceAfterCrash(device: string, what = 'the engine'): { device: string; fallback?: string } {
  if (!isAccelerator(device)) return { device };
  return { device: 'cpu', fallback: `${what} crashed on ${device}; it was restarted on the CPU` };
}

export interface CrashBudgetOptions {
  /** Crashes allowed within `windowMs`; the next one gives up. */
  max: number;
  /** Default: forever (every crash of the budget's life counts). */
  windowMs?: number;
  now?: () => number;
}

/** Counts crashes and says whether to restart once more. */
export class CrashBudget {
  private times: number[] = [];
  private readonly now: () => number;
  constructor(private readonly opts: CrashBudgetOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Record a crash; true when there is budget left to restart. */
  record(): boolean {
    const t = this.now();
    const w = this.opts.windowMs;
    if (w !== undefined) this.times = this.times.filter((x) => t - x < w);
    this.times.push(t);
    return this.times.length < this.opts.max;
  }

  /** Crashes counted so far (within the window). */
  get count(): number {
    return this.times.length;
  }
}
