// The app's shared state, as Svelte 5 runes: the engine's pack, device and mix, the conditions
// panel, the folder run and notices. Views read it and call its methods; only this file and the
// views' own calls touch the RwsApi.
import type {
  ConditionMix,
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
import { connectApi } from './client.js';
import { cleanMix, describeMix, mixFromSettings, mixKey, offSettings, settingsFromMix, type ConditionSettings } from './mix.js';
import { RowSet } from './results.js';

/** How often rows arriving during a run reach the results table (they come every 150 ms or so). */
const ROWS_EVERY_MS = 500;

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
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Studio {
  /** Set once connected; views call it directly for their own commands. */
  api: RwsApi | null = null;
  connected = $state(false);
  connectError = $state<string | null>(null);
  view = $state<View>('camera');

  pack = $state<PackInfo | null>(null);
  packError = $state<string | null>(null);
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
  auto = $state(false);
  autoPick = $state<FrameResult['auto'] | null>(null);
  /** The mix the engine has confirmed, and how long the switch took there. */
  appliedKey = $state('off');
  mixMs = $state<number | null>(null);

  run = $state<FolderProgress | null>(null);
  #rows = $state.raw<FolderResultRow[]>([]);
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
    this.rowsTimer ??= setTimeout(() => {
      this.rowsTimer = undefined;
      const incoming = this.incoming;
      this.incoming = [];
      this.#rows = this.rowSet.merge(incoming);
    }, ROWS_EVERY_MS);
  }

  /** Connect to the host's API, subscribe to its events and load the engine's state. */
  async start(): Promise<void> {
    try {
      const api = await connectApi();
      this.api = api;
      api.on('engineState', (s) => this.onEngineState(s));
      api.on('deviceChange', (d) => (this.device = d));
      api.on('progress', (p) => this.onProgress(p));
      api.on('result', (rows) => this.onRows(rows));
      api.on('error', (e) => this.notify('error', e.message));
      this.connected = true;
      const state = await api.getState();
      this.onEngineState(state);
      this.device = state.device;
      const [pack, devices] = await Promise.all([state.pack ? api.getPack() : this.loadDefaultPack(), api.listDevices()]);
      this.devices = devices;
      if (pack) this.setPack(pack, state.mix);
    } catch (e) {
      this.connectError = message(e);
    }
  }

  private async loadDefaultPack(): Promise<PackInfo | null> {
    try {
      return await this.api!.loadPack();
    } catch (e) {
      this.packError = message(e);
      return null;
    }
  }

  private onEngineState(s: EngineState): void {
    const was = this.engine?.status;
    this.engine = s;
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

  private onProgress(p: FolderProgress): void {
    if (p.kind === 'eval') {
      this.evalProgress = p;
      return;
    }
    const before = this.run?.phase;
    this.run = p;
    if (p.phase === 'done' && before !== 'done') this.notify('success', `Folder run finished: ${p.done} images${p.failed ? `, ${p.failed} failed` : ''}.`);
    if (p.phase === 'failed' && before !== 'failed') this.notify('error', `Folder run failed: ${p.message ?? 'see the failures list'}`);
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
      this.packError = message(e);
      this.notify('error', message(e));
    }
  }

  async setDevice(device: DeviceId): Promise<void> {
    if (!this.api) return;
    try {
      this.device = await this.api.setDevice({ device });
      if (this.device.fallback) this.notify('error', this.device.fallback);
      this.devices = await this.api.listDevices();
    } catch (e) {
      this.notify('error', message(e));
    }
  }

  /** Send the panel's mix to the engine; calls are serialised and superseded ones skipped. */
  applyMix(): void {
    const mix = $state.snapshot(this.mix) as ConditionMix;
    const key = mixKey(mix);
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
        this.notify('error', message(e));
      }
    });
  }

  /** Resolves once every mix change asked for so far is in the engine (the camera waits on it per frame). */
  mixSettled(): Promise<void> {
    return this.mixChain;
  }

  setCondition(id: string, change: Partial<{ on: boolean; strength: number }>): void {
    this.auto = false;
    const cur = this.settings[id] ?? { on: false, strength: 1 };
    this.settings[id] = { ...cur, ...change };
    this.applyMix();
  }

  /** Apply a named mix (or any mix) to the panel. */
  useMix(mix: ConditionMix): void {
    this.auto = false;
    const { settings, rest } = settingsFromMix(this.pack?.conditions ?? [], mix);
    this.settings = settings;
    this.extraMix = rest;
    this.applyMix();
  }

  /** Every condition off: the clean model. */
  off(): void {
    this.auto = false;
    this.settings = offSettings(this.pack?.conditions ?? []);
    this.extraMix = {};
    this.applyMix();
  }

  /** Let the engine choose the mix from the camera frames (it starts from the clean model). */
  setAuto(on: boolean): void {
    this.auto = on;
    this.autoPick = null;
  }

  /** A camera frame's result: with auto, what was recognised. */
  onFrame(r: FrameResult): void {
    if (this.auto && r.auto) this.autoPick = r.auto;
  }

  notify(kind: Notice['kind'], text: string): void {
    const id = ++this.noticeId;
    this.notices = [...this.notices.slice(-4), { id, kind, text }];
    setTimeout(() => this.dismiss(id), kind === 'error' ? 12_000 : 5_000);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }
}

export const studio = new Studio();
