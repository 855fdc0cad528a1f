// The main process's side of the engine: one utility process running the command service, calls
// matched to answers by id, events forwarded, and a crash reported and recovered from (restart,
// on CPU when a GPU provider was in use, then the pack and mix re-applied). No Electron import:
// index.ts passes a `spawn` that forks the utility process; tests pass a fake one.
import type { CommandName, DeviceChange, DeviceId, EngineState, EventName, FolderProgress, RwsEvents } from '../api/contract.js';
import { CrashBudget, isAccelerator } from '../core/crash-policy.js';
import type { EngineMessage, HostMessage } from './engine-protocol.js';

/** A running engine process as the host sees it (Electron's UtilityProcess behind an adapter). */
export interface EngineProcess {
  post(msg: HostMessage): void;
  onMessage(cb: (msg: EngineMessage) => void): void;
  onExit(cb: (code: number | null) => void): void;
  kill(): void;
}

export interface EngineHostOptions {
  /** Start an engine process that will use `device`. */
  spawn: (opts: { device: DeviceId }) => EngineProcess;
  device?: DeviceId;
  /** Every event of the engine (and the host's own crash reports), for the windows. */
  onEvent: <E extends EventName>(event: E, payload: RwsEvents[E]) => void;
  /** Delay before restart number `n` (1-based); default 0.25 s, 1 s, 4 s... */
  restartDelay?: (n: number) => number;
  /** Give up after this many crashes within `crashWindowMs`. */
  maxCrashes?: number;
  crashWindowMs?: number;
}

/** The error a call gets when the engine is gone: same shape as the service's errors. */
export class EngineCrash extends Error {
  readonly code = 'engine-crashed';
}

interface Pending {
  command: CommandName;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export type HostStatus = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export class EngineHost {
  status: HostStatus = 'stopped';
  /** The device the current process was started with. */
  device: DeviceId;
  private proc: EngineProcess | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => {};
  private readonly crashes: CrashBudget;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  /** What to re-apply after a restart, as the engine last reported it. */
  private lastState: EngineState | null = null;
  private lastDevice: DeviceChange | null = null;
  /** The folder run as last reported, to resume it from its journal after a crash. */
  private lastRun: FolderProgress | null = null;
  private readonly opts: Required<Omit<EngineHostOptions, 'device'>>;

  constructor(options: EngineHostOptions) {
    this.device = options.device ?? 'auto';
    this.opts = {
      spawn: options.spawn,
      onEvent: options.onEvent,
      restartDelay: options.restartDelay ?? ((n) => 250 * 4 ** Math.min(n - 1, 3)),
      maxCrashes: options.maxCrashes ?? 5,
      crashWindowMs: options.crashWindowMs ?? 60_000,
    };
    this.crashes = new CrashBudget({ max: this.opts.maxCrashes, windowMs: this.opts.crashWindowMs });
  }

  /** Start the engine process; resolves when it reports ready. */
  start(): Promise<void> {
    this.status = 'starting';
    this.ready = new Promise((res) => (this.markReady = res));
    const proc = this.opts.spawn({ device: this.device });
    this.proc = proc;
    proc.onMessage((msg) => this.onMessage(proc, msg));
    proc.onExit((code) => this.onExit(proc, code));
    return this.ready;
  }

  /** Run a command in the engine (waits for a starting or restarting engine). */
  async call(command: CommandName, args: unknown): Promise<unknown> {
    if (this.status === 'failed') throw new EngineCrash('the engine crashed repeatedly and was not restarted; restart the app');
    if (this.status === 'stopped') throw new EngineCrash('the engine is not running');
    // A crash between the wait and the post makes a new `ready`: wait for the restarted engine.
    let proc = this.proc;
    for (;;) {
      await this.ready;
      proc = this.proc;
      // Re-read after the await: the status changes underneath (TypeScript's narrowing cannot know).
      const status = this.status as HostStatus;
      if (proc && status === 'running') break;
      if (status === 'failed' || status === 'stopped') throw new EngineCrash(`${command}: the engine is not running`);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { command, resolve, reject });
      try {
        proc.post({ type: 'call', id, command, args });
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /** Stop the engine for good (app quit). */
  stop(): void {
    this.status = 'stopped';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const proc = this.proc;
    this.proc = null;
    this.failPending('the app is closing');
    proc?.kill();
  }

  private onMessage(proc: EngineProcess, msg: EngineMessage): void {
    if (proc !== this.proc) return;
    switch (msg.type) {
      case 'ready': {
        const restarted = this.status === 'restarting';
        this.status = 'running';
        this.markReady();
        if (restarted) void this.replay();
        break;
      }
      case 'result': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(Object.assign(new Error(msg.error.message), msg.error));
        break;
      }
      case 'event': {
        if (msg.event === 'engineState') this.lastState = msg.payload as EngineState;
        if (msg.event === 'deviceChange') this.lastDevice = msg.payload as DeviceChange;
        if (msg.event === 'progress' && (msg.payload as FolderProgress).kind === 'folder') this.lastRun = msg.payload as FolderProgress;
        this.opts.onEvent(msg.event, msg.payload);
        break;
      }
      case 'fatal':
        this.opts.onEvent('error', { ...msg.error, source: 'engine' });
        break;
    }
  }

  private failPending(why: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new EngineCrash(`${p.command}: ${why}`));
    }
  }

  private onExit(proc: EngineProcess, code: number | null): void {
    if (proc !== this.proc || this.status === 'stopped') return;
    this.proc = null;
    const inFlight = [...this.pending.values()].map((p) => p.command);
    const run = this.lastRun && (this.lastRun.phase === 'starting' || this.lastRun.phase === 'running') ? ' during a folder run (it resumes from its journal)' : '';
    const why = `the engine stopped (exit code ${code ?? 'none'})${run}${inFlight.length ? ` while running ${inFlight.join(', ')}` : ''}`;
    this.failPending(`${why}; it is restarting`);

    const restart = this.crashes.record();

    // A crash while a GPU provider was in use (or being switched to) restarts on CPU.
    const running = this.lastDevice?.device ?? this.lastState?.device.device ?? this.device;
    const gpu = isAccelerator(running) || isAccelerator(this.device) || inFlight.includes('setDevice');
    const fallback = gpu ? `The engine crashed on ${isAccelerator(running) ? running : this.device}; it was restarted on CPU.` : undefined;
    if (gpu) this.device = 'cpu';

    const base: EngineState = this.lastState ?? {
      status: 'crashed',
      pack: null,
      device: { requested: this.device, device: this.device },
      mix: {},
      mixKey: 'off',
      run: null,
      warnings: [],
    };
    if (!restart) {
      this.status = 'failed';
      this.opts.onEvent('engineState', { ...base, status: 'error', message: `${why}. It crashed ${this.crashes.count} times in a minute and was not restarted; restart the app.` });
      return;
    }
    this.status = 'restarting';
    this.ready = new Promise((res) => (this.markReady = res));
    this.opts.onEvent('engineState', { ...base, status: 'crashed', message: why });
    if (fallback) {
      this.lastDevice = { requested: 'cpu', device: 'cpu', fallback };
      this.opts.onEvent('deviceChange', this.lastDevice);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.status !== 'restarting') return;
      const next = this.opts.spawn({ device: this.device });
      this.proc = next;
      next.onMessage((msg) => this.onMessage(next, msg));
      next.onExit((c) => this.onExit(next, c));
    }, this.opts.restartDelay(this.crashes.count));
  }

  /**
   * After a restart: the same pack and mix as before the crash (the device is the restart's), and a
   * folder run that was going continued from its journal, so its results equal an uninterrupted run's.
   */
  private async replay(): Promise<void> {
    const s = this.lastState;
    const run = this.lastRun;
    try {
      if (s?.pack) await this.call('loadPack', { dir: s.pack.dir });
      if (s && s.mixKey !== 'off') await this.call('setMix', { mix: s.mix });
      if (run && (run.phase === 'starting' || run.phase === 'running')) {
        this.lastRun = null;
        await this.call('resumeFolderRun', { output: run.output });
      }
      const state = (await this.call('getState', undefined)) as EngineState;
      this.lastState = state;
      const fallback = this.lastDevice?.fallback;
      this.opts.onEvent('engineState', fallback ? { ...state, warnings: [...state.warnings, fallback] } : state);
    } catch (e) {
      this.opts.onEvent('error', { code: 'engine-restart', message: `after the engine restarted: ${(e as Error).message}`, source: 'engine' });
    }
  }
}
