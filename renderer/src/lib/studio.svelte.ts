// The app's shared state, as Svelte 5 runes: the engine's pack, device and mix, the conditions
// panel, the folder run and notices. Views read it and call its methods; only this file and the
// views' own calls touch the RwsApi.
import type {
  ConditionMix,
  ConnectionState,
  DeviceChange,
  DeviceId,
  DeviceInfo,
  EngineState,
  EvalReport,
  FrameResult,
  FolderFailure,
  FolderProgress,
  FolderResultRow,
  PackInfo,
  RwsApi,
} from '../../../main/api/contract.js';
import { runEndNotice } from '../../../main/api/run-notice.js';
import { connectApi } from './client.js';
import { problemOf, type Problem } from './errors.js';
import { cleanMix, describeMix, mixFromSettings, mixKey, offSettings, settingsFromMix, type ConditionSettings } from './mix.js';
import { RowSet, type RowsGrowth } from './results.js';
import { readSaved, writeSaved } from './saved.js';

/** How often rows arriving during a run reach the results table (they come every 150 ms or so). */
const ROWS_EVERY_MS = 500;
/** How often a run's progress ticks reach the page. */
const PROGRESS_EVERY_MS = 250;

export type View = 'camera' | 'folder' | 'evaluation' | 'packs';
export const VIEWS: { id: View; name: string; key: string }[] = [
  { id: 'camera', name: 'Camera', key: '1' },
  { id: 'folder', name: 'Folder run', key: '2' },
  { id: 'evaluation', name: 'Evaluation', key: '3' },
  { id: 'packs', name: 'Model & device', key: '4' },
];

export interface Notice {
  id: number;
  kind: 'info' | 'success' | 'error';
  text: string;
  /** An error's code and message, shown in the app's words with the engine's one click away. */
  problem?: Problem;
}

const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const RUNNING: FolderProgress['phase'][] = ['starting', 'running', 'stopping'];
/** True while a run (or an evaluation) is under way. */
export const isActive = (p: FolderProgress | null): boolean => p !== null && RUNNING.includes(p.phase);

export class Studio {
  /** Set once connected; views call it directly for their own commands. */
  api: RwsApi | null = null;
  connected = $state(false);
  connectError = $state<Problem | null>(null);
  /** The connection to the engine: `lost` while `rws serve` cannot be reached (the client keeps trying). */
  connection = $state<ConnectionState['state']>('connecting');
  reconnectTries = $state(0);
  /** The engine this window set up; another one (a restarted server) is set up again. */
  private instance: string | null = null;
  /** The notice that says the connection is lost, taken down when it is back. */
  private lostNotice: number | null = null;
  /** Set while this window sets a restarted engine up again: the engine's interim states are not the panel's. */
  private resyncing = false;
  /** Bumped after a reconnection, so views re-read what they may have missed. */
  resynced = $state(0);
  view = $state<View>('camera');

  pack = $state<PackInfo | null>(null);
  packError = $state<Problem | null>(null);
  devices = $state<DeviceInfo[]>([]);
  device = $state<DeviceChange | null>(null);
  engine = $state<EngineState | null>(null);

  /** The conditions panel: one toggle and strength per named condition. */
  settings = $state<ConditionSettings>({});
  /** Signatures set by a named mix that no single condition covers (kept as they are). */
  extraMix = $state<ConditionMix>({});
  /** The mix the panel asks for. */
  mix = $derived(cleanMix({ ...this.extraMix, ...mixFromSettings(this.pack?.conditions ?? [], this.settings) }));
  key = $derived(mixKey(this.mix));
  label = $derived(describeMix(this.mix, this.pack?.conditions ?? []));
  /**
   * Auto: the engine picks the condition from the camera frames (with hysteresis) and patches it in;
   * the panel then follows the engine's mix. Any manual change turns it off.
   */
  auto = $state(readSaved('auto', false, isBoolean));
  autoPick = $state<FrameResult['auto'] | null>(null);
  /** The mix the engine has confirmed, and how long the switch took there. */
  appliedKey = $state('off');
  mixMs = $state<number | null>(null);

  run = $state<FolderProgress | null>(null);
  #rows = $state.raw<FolderResultRow[]>([]);
  #classCounts = $state.raw<Map<number, number>>(new Map());
  #mixCounts = $state.raw<[string, number][]>([]);
  private rowSet = new RowSet();
  private incoming: FolderResultRow[] = [];
  private rowsTimer: ReturnType<typeof setTimeout> | undefined;
  /** The run's rows; setting them (a full read, or [] for a new run) drops rows still on their way in. */
  get rows(): FolderResultRow[] {
    return this.#rows;
  }
  set rows(rows: FolderResultRow[]) {
    clearTimeout(this.rowsTimer);
    this.rowsTimer = undefined;
    this.incoming = [];
    this.rowSet.reset(rows);
    this.#rows = rows;
    this.showCounts();
  }
  /** What the last batch did to the rows (new files put in), for ShownResults; null after a full read or a replaced row. */
  get rowsGrowth(): RowsGrowth | null {
    return this.rowSet.growth;
  }
  /** Top-1 predictions per class index over the rows. */
  get classCounts(): Map<number, number> {
    return this.#classCounts;
  }
  /** Files per mix over the rows of an Auto run, most used first (as mixCounts). */
  get mixCounts(): [string, number][] {
    return this.#mixCounts;
  }
  failures = $state.raw<FolderFailure[]>([]);
  evalProgress = $state<FolderProgress | null>(null);
  evalReport = $state.raw<EvalReport | null>(null);

  notices = $state<Notice[]>([]);
  private noticeId = 0;
  private mixChain: Promise<void> = Promise.resolve();
  private wantedKey = 'off';

  /** Rows of a run reach the table in batches: sorting and counting tens of thousands of rows per event would keep the page busy. */
  private onRows(rows: readonly FolderResultRow[]): void {
    for (const r of rows) this.incoming.push(r);
    this.rowsTimer ??= setTimeout(() => this.flushRows(), ROWS_EVERY_MS);
  }

  /** Show the rows that came since the last batch now (a run that ended is shown whole at once). */
  flushRows(): void {
    clearTimeout(this.rowsTimer);
    this.rowsTimer = undefined;
    if (this.incoming.length === 0) return;
    const incoming = this.incoming;
    this.incoming = [];
    this.#rows = this.rowSet.merge(incoming);
    this.showCounts();
  }

  private showCounts(): void {
    this.#classCounts = this.rowSet.classCounts();
    this.#mixCounts = this.rowSet.mixCounts();
  }

  /** Connect to the host's API, subscribe to its events and load the engine's state. */
  async start(): Promise<void> {
    try {
      const api = await connectApi();
      this.api = api;
      api.on('engineState', (s) => this.onEngineState(s));
      api.on('deviceChange', (d) => {
        if (!this.resyncing) this.device = d;
      });
      api.on('progress', (p) => this.onProgress(p));
      api.on('result', (rows) => this.onRows(rows));
      api.on('error', (e) => this.notifyProblem(e));
      if (api.onConnection) api.onConnection((c) => this.onConnection(c));
      else this.connection = 'open';
      this.connected = true;
      const state = await api.getState();
      this.instance = state.instance ?? null;
      this.onEngineState(state);
      this.device = state.device;
      const [pack, devices] = await Promise.all([state.pack ? api.getPack() : this.loadDefaultPack(), api.listDevices()]);
      this.devices = devices;
      if (pack) this.setPack(pack, state.mix);
    } catch (e) {
      this.connectError = problemOf(e);
    }
  }

  private async loadDefaultPack(): Promise<PackInfo | null> {
    try {
      return await this.api!.loadPack();
    } catch (e) {
      this.packError = problemOf(e);
      return null;
    }
  }

  private onConnection(c: ConnectionState): void {
    const was = this.connection;
    this.connection = c.state;
    this.reconnectTries = c.attempts;
    if (c.state === 'lost' && was === 'open') {
      this.lostNotice = this.notify('error', 'Lost the connection to the engine: reconnecting…');
      // Until it is back and set up, what the engine says does not replace what this window showed.
      this.resyncing = true;
    }
    if (c.state === 'open' && was === 'lost') {
      if (this.lostNotice !== null) this.dismiss(this.lostNotice);
      this.lostNotice = null;
      void this.resync();
    }
  }

  /**
   * Back in touch with the engine. When it is a new one (rws serve restarted), set it up as this
   * window shows it (pack, device, mix) and mark a run it no longer has as interrupted (Resume
   * continues it from its journal); either way, say what happened and re-read the state.
   */
  private async resync(): Promise<void> {
    const api = this.api;
    if (!api) return;
    // What this window showed when the connection went (the engine's own news is held back meanwhile).
    const device = this.device?.requested;
    const pack = this.pack;
    try {
      const state = await api.getState();
      const restarted = this.instance !== null && state.instance !== undefined && state.instance !== this.instance;
      this.instance = state.instance ?? null;
      if (!restarted) {
        this.resyncing = false;
        this.onEngineState(state);
        this.notify('info', 'Connection to the engine is back.');
        this.resynced++;
        return;
      }
      const said: string[] = [];
      try {
        if (pack && state.pack?.dir !== pack.dir) {
          const again = await api.loadPack({ dir: pack.dir }).catch(() => api.loadPack());
          this.pack = again;
          said.push(`pack ${again.name} ${again.version} loaded again`);
        }
        if (device && device !== state.device.requested) {
          this.device = await api.setDevice({ device });
          said.push(`device ${this.device.device}`);
        }
        if (this.auto) said.push('Auto on');
        else if (this.key !== state.mixKey) {
          const r = await api.setMix({ mix: $state.snapshot(this.mix) as ConditionMix });
          this.appliedKey = r.key;
          this.wantedKey = r.key;
          said.push(`mix ${this.label}`);
        } else said.push(`mix ${this.label}`);
        const run = this.run;
        if (run && isActive(run) && !isActive(state.run)) {
          this.run = { ...run, phase: 'stopped', eta: null, rate: 0, message: 'interrupted when the server restarted; Resume continues it from its journal' };
          said.push(`the folder run was interrupted at ${run.done} of ${run.total ?? '?'} (Resume continues it)`);
        }
        if (isActive(this.evalProgress)) {
          this.evalProgress = { ...this.evalProgress!, phase: 'failed', eta: null, message: 'interrupted when the server restarted' };
          said.push('the evaluation was interrupted (run it again)');
        }
      } finally {
        this.resyncing = false;
      }
      const now = await api.getState();
      this.onEngineState(now);
      this.devices = await api.listDevices();
      this.notify('info', `The server restarted and was set up again: ${said.join(', ')}.`);
      this.resynced++;
    } catch (e) {
      this.resyncing = false;
      this.notifyProblem(e, 'Could not set the restarted server up again');
    }
  }

  private onEngineState(s: EngineState): void {
    const was = this.engine?.status;
    this.engine = s;
    if (this.resyncing) return;
    this.device = s.device;
    if (s.status === 'crashed' && was !== 'crashed') this.notify('error', `The engine stopped: ${s.message ?? 'unknown reason'}. Restarting it…`);
    if (s.run) this.onProgress(s.run);
    if (this.auto && this.pack) {
      // Auto changed the engine's mix: show it without sending it back.
      const { settings, rest } = settingsFromMix(this.pack.conditions, s.mix);
      this.settings = settings;
      this.extraMix = rest;
      // Keys in the panel's own rounding, so the panel does not look out of date.
      this.appliedKey = mixKey(s.mix);
      this.wantedKey = this.appliedKey;
      return;
    }
    // The engine's mix changed without us (another window of `rws serve`, a restart): follow it,
    // unless one of our own changes is still on its way.
    const engineKey = mixKey(s.mix);
    if (this.pack && s.pack && this.wantedKey === this.appliedKey && engineKey !== this.appliedKey) {
      const { settings, rest } = settingsFromMix(this.pack.conditions, s.mix);
      this.settings = settings;
      this.extraMix = rest;
      this.appliedKey = engineKey;
      this.wantedKey = engineKey;
    }
  }

  /** The placeholder a run being started shows until the engine reports that run (see beginRun). */
  private startingRun: FolderProgress | null = null;
  /** The newest tick not shown yet, and when one was last shown (per kind). */
  private pendingTick: Partial<Record<FolderProgress['kind'], FolderProgress>> = {};
  private tickTimer: Partial<Record<FolderProgress['kind'], ReturnType<typeof setTimeout>>> = {};

  /**
   * Progress of a run or an evaluation. Ticks of the same phase reach the page at most every
   * PROGRESS_EVERY_MS (the engine sends one per batch; redrawing for each costs a large run's page
   * its smoothness); a change of phase at once.
   */
  private onProgress(p: FolderProgress): void {
    // While a run is being started, the end of another one (the last run, in an engine state sent
    // before the new run took over) is not this run's state; the new run's own events say starting
    // or running first.
    if (p.kind === 'folder' && this.run === this.startingRun && !isActive(p) && p.output !== this.startingRun?.output) return;
    const current = p.kind === 'eval' ? this.evalProgress : this.run;
    if (current && current.phase === p.phase && current.output === p.output) {
      this.pendingTick[p.kind] = p;
      this.tickTimer[p.kind] ??= setTimeout(() => {
        this.tickTimer[p.kind] = undefined;
        const next = this.pendingTick[p.kind];
        this.pendingTick[p.kind] = undefined;
        if (next) this.showProgress(next);
      }, PROGRESS_EVERY_MS);
      return;
    }
    clearTimeout(this.tickTimer[p.kind]);
    this.tickTimer[p.kind] = undefined;
    this.pendingTick[p.kind] = undefined;
    this.showProgress(p);
  }

  private showProgress(p: FolderProgress): void {
    const before = p.kind === 'eval' ? this.evalProgress : this.run;
    if (p.kind === 'eval') this.evalProgress = p;
    else this.run = p;
    // Only an end seen happening (not the state a reloaded page finds) is announced.
    if (isActive(before) && !isActive(p)) this.announceEnd(p);
  }

  /** The end of a run or an evaluation: a notice here, and in a browser a system notification when the page is behind (the desktop's comes from its main process). */
  private announceEnd(p: FolderProgress): void {
    const n = runEndNotice(p);
    if (!n) return;
    this.notify(n.tone, `${n.title}: ${n.body}`);
    if (this.api?.host !== 'browser' || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    try {
      new Notification(n.title, { body: n.body });
    } catch {
      // Some browsers allow notifications only from a service worker: the notice above stays.
    }
  }

  /** In a browser, ask once (on a click that starts something long) whether the app may notify when it ends. */
  askToNotify(): void {
    if (this.api?.host !== 'browser' || typeof Notification === 'undefined' || Notification.permission !== 'default') return;
    void Notification.requestPermission().catch(() => undefined);
  }

  /**
   * A folder run is being started (or resumed): show it as starting at once, not the last run's
   * end, until the engine says more. Returns `adopt`, for the command's answer: taken only if no
   * progress event came first (a short run can be over before its start is answered).
   */
  beginRun(output: string): (p: FolderProgress) => void {
    clearTimeout(this.tickTimer.folder);
    this.tickTimer.folder = undefined;
    this.pendingTick.folder = undefined;
    this.run = { kind: 'folder', phase: 'starting', done: 0, failed: 0, total: null, rate: 0, eta: null, output };
    const placeholder = this.run;
    this.startingRun = placeholder;
    return (p) => {
      if (this.run === placeholder) this.run = p;
    };
  }

  /** Show a pack and set the panel from the engine's current mix. */
  setPack(pack: PackInfo, mix: ConditionMix = {}): void {
    this.pack = pack;
    this.packError = null;
    const { settings, rest } = settingsFromMix(pack.conditions, mix);
    this.settings = settings;
    this.extraMix = rest;
    this.appliedKey = mixKey(mix);
    this.wantedKey = this.appliedKey;
  }

  /** Load a pack folder (or the default one) and reset the panel to the clean model. */
  async loadPack(dir?: string): Promise<void> {
    if (!this.api) return;
    try {
      const pack = await this.api.loadPack(dir ? { dir } : undefined);
      this.setPack(pack, {});
      this.notify('success', `Loaded pack ${pack.name} ${pack.version}.`);
    } catch (e) {
      // Said once: in the pack view when it is open, else as a notice.
      this.packError = problemOf(e);
      if (this.view !== 'packs') this.notifyProblem(e);
    }
  }

  async setDevice(device: DeviceId): Promise<void> {
    if (!this.api) return;
    try {
      this.device = await this.api.setDevice({ device });
      // A fallback is shown in the device view, in words, with the engine's reason one click away.
      this.devices = await this.api.listDevices();
    } catch (e) {
      this.notifyProblem(e);
    }
  }

  /** The last mix set by hand, which Manual brings back after Off or Auto. */
  private lastManual: ConditionMix = {};

  /** Send the panel's mix to the engine; calls are serialised and superseded ones skipped. */
  applyMix(): void {
    const mix = $state.snapshot(this.mix) as ConditionMix;
    const key = mixKey(mix);
    if (!this.auto && key !== 'off') this.lastManual = mix;
    this.wantedKey = key;
    const api = this.api;
    if (!api) return;
    this.mixChain = this.mixChain.then(async () => {
      if (this.wantedKey !== key) return;
      try {
        const r = await api.setMix({ mix });
        this.appliedKey = r.key;
        this.mixMs = r.ms;
      } catch (e) {
        this.notifyProblem(e);
      }
    });
  }

  /** Resolves once every mix change asked for so far is in the engine (the camera waits on it per frame). */
  mixSettled(): Promise<void> {
    return this.mixChain;
  }

  setCondition(id: string, change: Partial<{ on: boolean; strength: number }>): void {
    if (this.auto) this.setAuto(false);
    const cur = this.settings[id] ?? { on: false, strength: 1 };
    this.settings[id] = { ...cur, ...change };
    this.applyMix();
  }

  /** Apply a named mix (or any mix) to the panel. */
  useMix(mix: ConditionMix): void {
    if (this.auto) this.setAuto(false);
    const { settings, rest } = settingsFromMix(this.pack?.conditions ?? [], mix);
    this.settings = settings;
    this.extraMix = rest;
    this.applyMix();
  }

  /** The mix by hand: Auto off, and the last mix set by hand back when there is none now. */
  manual(): void {
    if (this.auto) this.setAuto(false);
    if (this.key === 'off' && mixKey(this.lastManual) !== 'off') this.useMix(this.lastManual);
  }

  /** Every condition off: the clean model. */
  off(): void {
    if (this.auto) this.setAuto(false);
    this.settings = offSettings(this.pack?.conditions ?? []);
    this.extraMix = {};
    this.applyMix();
  }

  /** Let the model's outputs choose the mix: on the camera from its frames, in a folder run per file. Remembered across reloads. */
  setAuto(on: boolean): void {
    this.auto = on;
    this.autoPick = null;
    writeSaved('auto', on);
  }

  /** A camera frame's result: with auto, what was recognised. */
  onFrame(r: FrameResult): void {
    if (this.auto && r.auto) this.autoPick = r.auto;
  }

  /** Show a notice for a while; returns its id (to take it down sooner). */
  notify(kind: Notice['kind'], text: string, problem?: Problem): number {
    const id = ++this.noticeId;
    this.notices = [...this.notices.slice(-4), { id, kind, text, ...(problem ? { problem } : {}) }];
    setTimeout(() => this.dismiss(id), kind === 'error' ? 15_000 : 6_000);
    return id;
  }

  /** An error as a notice, in the app's words (ErrorNote), `context` before it. */
  notifyProblem(e: unknown, context = ''): void {
    this.notify('error', context, problemOf(e));
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }
}

export const studio = new Studio();
