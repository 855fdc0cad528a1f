/**
 * The one contract between the UI and the engine: every command's result type, every event, the
 * channel names and the API the renderer sees. Three things implement or route it: the Electron
 * preload (as `window.rws`), the Electron main process (one IPC loop over the commands), and
 * `rws serve` (HTTP + WebSocket); main/service/ implements each command once. The argument
 * schemas (zod) are in schemas.ts, errors as they cross a transport in errors.ts: this file has no
 * runtime import, so a bundle that needs only names and types (the preload) carries no zod.
 *
 * Stability rule: add commands, fields and events; never rename or remove them.
 */
import type { z } from 'zod';
import type { ApiError } from './errors.js';
import type { schemas } from './schemas.js';

export type { ApiError } from './errors.js';
export { COMMANDS, DEVICE_IDS, type CommandName, type DeviceId } from './names.js';
import { COMMANDS, type CommandName, type DeviceId } from './names.js';
// ---------------------------------------------------------------------------------------------
// Shared value types
// ---------------------------------------------------------------------------------------------


/** Strength of each signature by id: `{fog: 0.8, 'low-light': 1}`; empty = clean model. */
export type ConditionMix = Record<string, number>;

/** One prediction: class index, label, softmax probability. */
export interface Prediction {
  index: number;
  label: string;
  score: number;
}
export type TopK = Prediction[];
export interface ImageData01 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** The model's input as the UI needs it to prepare frames (from pack.json's `input`). */
export interface PackInputInfo {
  name: string;
  layout: 'NCHW' | 'NHWC';
  width: number;
  height: number;
  channels: 1 | 3;
  colorSpace: 'grey' | 'rgb' | 'bgr';
  range: [number, number];
  mean: number[];
  std: number[];
  resize: 'fill' | 'contain' | 'cover';
  /** With `cover`: the shorter side is scaled to this first, then the centre cut out. */
  shorterSide?: number;
}

export interface SignatureInfo {
  id: string;
  condition: string;
  /** Whether a file matching pack.json's SHA-256 was found. */
  available: boolean;
  /** Why it is not available. */
  reason?: string;
  file?: string;
  bytes?: number;
  transfer: boolean;
  /** From the signature's metadata, when it could be read. */
  quant?: string;
  layers?: number;
  method?: string;
  severity?: [number, number];
  tensors?: number;
  /** Every base-tensor hash matches the pack's model (false: a transfer or a signature for another model). */
  baseMatch?: boolean;
  description?: string;
}

export interface NamedMix {
  id: string;
  name: string;
  mix: ConditionMix;
  description?: string;
}

export interface PackInfo {
  id: string;
  name: string;
  version: string;
  dir: string;
  modelFile: string;
  modelBytes: number;
  input: PackInputInfo;
  labels: string[];
  signatures: SignatureInfo[];
  /** Named conditions (Rain, Fog, ...): one toggle + strength slider each. */
  conditions: NamedMix[];
  /** Named mixes (Night rain, ...). */
  mixes: NamedMix[];
  /** Sample images shipped with the pack (absolute paths), if any. */
  samples: string[];
}

export interface DeviceInfo {
  id: DeviceId;
  name: string;
  available: boolean;
  /** Why not available, or a note on how it is chosen. */
  reason?: string;
}

export interface DeviceChange {
  /** What was asked for. */
  requested: DeviceId;
  /** What runs now (e.g. `cpu`). */
  device: string;
  /** Set when the requested provider failed to load and CPU was used instead. */
  fallback?: string;
}

export interface MixState {
  mix: ConditionMix;
  /** Canonical text, e.g. `fog=0.8,low-light=1`, or `off`. */
  key: string;
  /** Time from the call to the patched weights being ready (ms). */
  ms: number;
}

export interface FrameResult {
  patched: TopK;
  /** The clean model's top-k, when `compare` was asked. */
  clean?: TopK;
  /** Engine time for this frame (both models when comparing), ms. */
  ms: number;
  /** The mix key the patched prediction was made with (proves a change acted on this frame). */
  mixKey: string;
  /** With `auto`: the condition recognised, as the conditions panel shows it. */
  auto?: AutoPick;
}

/** What auto chose for a camera frame (averaged over recent frames, with hysteresis). */
export interface AutoPick {
  /** Condition id, or `clean`. */
  id: string;
  /** Estimated severity 1–5 (0 for clean). */
  severity: number;
  /** 0..1: the averaged probability of `id`. */
  confidence: number;
  /** This frame changed the choice (and the mix). */
  switched: boolean;
}

export type RunPhase = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'done' | 'failed';

export interface FolderProgress {
  /** `folder` for folder runs, `eval` for evaluate. */
  kind: 'folder' | 'eval';
  phase: RunPhase;
  done: number;
  failed: number;
  /** Unknown while still walking the inputs. */
  total: number | null;
  /** Images per second. */
  rate: number;
  /** Seconds left, when known. */
  eta: number | null;
  /** Output folder of the run (kind `folder`). */
  output?: string;
  /** Files taken from the journal of an earlier run (kind `folder`, when resuming). */
  resumed?: number;
  message?: string;
}

export interface FolderResultRow {
  /** Relative to the input it came from (prefixed by the input's name when there are several). */
  file: string;
  /** Absolute path, for thumbnails. */
  path: string;
  top: TopK;
  /** In an Auto run: the mix the file ran under, as mix text (`fog=1`, `off`). */
  mix?: string;
}

export interface FolderFailure {
  file: string;
  path?: string;
  code: string;
  message: string;
}

export interface FolderResults {
  progress: FolderProgress;
  /** `offset`..`offset+limit` of the results sorted by `file`. */
  results: FolderResultRow[];
  /** Total number of results (not only this page). */
  count: number;
  failed: FolderFailure[];
  /** Files in the input folders that are not images, left out (known once the run has ended). */
  skipped?: string[];
  /** Special files (FIFOs, devices, links to them) left out without being read, each with the reason (known once the run has ended). */
  special?: FolderFailure[];
  mixKey: string;
  device: string;
}

export interface ExportDone {
  file: string;
  format: 'csv' | 'json';
  results: number;
  failed: number;
}

export interface RootInfo {
  path: string;
  name: string;
}

export interface BrowseEntry {
  name: string;
  path: string;
  kind: 'dir' | 'file';
  size?: number;
  /** Looks like an image by its extension. */
  image?: boolean;
}

export interface BrowseResult {
  dir: string;
  /** Null at a root. */
  parent: string | null;
  entries: BrowseEntry[];
  /** Images in the sub-folders (what a folder run of `dir` would also classify), counted up to a bound. */
  below?: { images: number; /** False when the count stopped at its bound (there are more). */ complete: boolean };
}

export interface EvalPoint {
  severity: number;
  /** Top-1 accuracy of the clean model on data with this condition. */
  clean: number;
  /** Top-1 accuracy with the condition's mix patched in. */
  patched: number;
}

export interface EvalCondition {
  id: string;
  name: string;
  mix: ConditionMix;
  points: EvalPoint[];
}

export interface EvalReport {
  /** Where the labelled images came from. */
  data: string;
  samples: number;
  /** Accuracy on uncorrupted data: clean model. */
  cleanAccuracy: number;
  conditions: EvalCondition[];
  ms: number;
}

export interface UploadDone {
  /** The run folder (under the first root) the files were written into; pass it to startFolderRun. */
  folder: string;
  written: number;
}

/** One image through the clean and the patched model (the image view), optionally with a condition simulated on it. */
export interface ImageResult {
  file: string;
  patched: TopK;
  clean: TopK;
  /** The mix the patched prediction was made with. */
  mixKey: string;
  /** What both models saw: the image at the model's input size (with the simulated condition), as a PNG. */
  input: Thumbnail;
  /** `fog · severity 3` when a condition was simulated. */
  simulated?: string;
  ms: number;
}

/** A results file of the current folder run, as text (the browser offers it as a download). */
export interface ResultsText {
  /** Where it is on the engine's machine. */
  file: string;
  name: string;
  format: 'csv' | 'json';
  text: string;
}

export interface Thumbnail {
  /** `data:image/png;base64,...` */
  dataUrl: string;
  width: number;
  height: number;
}

export type EngineStatus = 'starting' | 'idle' | 'loading' | 'ready' | 'busy' | 'error' | 'crashed';

export interface EngineState {
  status: EngineStatus;
  pack: { id: string; name: string; dir: string } | null;
  device: DeviceChange;
  mix: ConditionMix;
  mixKey: string;
  /** Patching strategy the engine chose (`head`, `session`, ...). */
  strategy?: string;
  run: FolderProgress | null;
  warnings: string[];
  message?: string;
  /** Differs after the engine (or `rws serve`) restarted: the UI then knows to set it up again. */
  instance?: string;
}


// ---------------------------------------------------------------------------------------------
// Commands (argument schemas: schemas.ts)
// ---------------------------------------------------------------------------------------------

/** What a command takes, as a caller writes it (validated by schemas.ts before use). */
export type CommandArgs<K extends CommandName> = z.input<(typeof schemas)[K]>;

/** What each command resolves to. */
export interface CommandResults {
  getState: EngineState;
  loadPack: PackInfo;
  getPack: PackInfo | null;
  listDevices: DeviceInfo[];
  setDevice: DeviceChange;
  setMix: MixState;
  classifyFrame: FrameResult;
  startFolderRun: FolderProgress;
  stopFolderRun: FolderProgress;
  resumeFolderRun: FolderProgress;
  getFolderResults: FolderResults;
  exportResults: ExportDone;
  listRoots: RootInfo[];
  browse: BrowseResult;
  evaluate: EvalReport;
  previewCondition: ImageData01;
  getThumbnail: Thumbnail;
  uploadFiles: UploadDone;
  classifyFile: ImageResult;
  cancelEvaluation: FolderProgress | null;
  readResults: ResultsText;
}


// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

export interface RwsEvents {
  /** Folder run or evaluation progress (throttled, and always at phase changes). */
  progress: FolderProgress;
  /** New folder-run results, in arrival order. */
  result: FolderResultRow[];
  /** An error not tied to a command call (a failed file is a `result`-side failure, not this). */
  error: ApiError & { source?: string };
  deviceChange: DeviceChange;
  engineState: EngineState;
}
export type EventName = keyof RwsEvents;
export const EVENTS: EventName[] = ['progress', 'result', 'error', 'deviceChange', 'engineState'];

// ---------------------------------------------------------------------------------------------
// Channel names (Electron IPC; `rws serve` uses /api/<command> and the event name on /ws)
// ---------------------------------------------------------------------------------------------

export const CHANNELS: { [K in CommandName]: `rws:${K}` } = Object.fromEntries(
  COMMANDS.map((c) => [c, `rws:${c}`]),
) as { [K in CommandName]: `rws:${K}` };

export const EVENT_CHANNELS: { [K in EventName]: `rws:event:${K}` } = Object.fromEntries(
  EVENTS.map((e) => [e, `rws:event:${e}`]),
) as { [K in EventName]: `rws:event:${K}` };

/** HTTP paths used by `rws serve` and main/api/http-client.ts. */
export const HTTP = {
  api: (command: CommandName) => `/api/${command}`,
  ws: '/ws',
  /** Header that carries the access token when `rws serve` binds a non-loopback address. */
  tokenHeader: 'x-rws-token',
  /** Query parameter for the token (the WebSocket and the first page load). */
  tokenParam: 'token',
} as const;

// ---------------------------------------------------------------------------------------------
// The API the renderer sees as `window.rws`
// ---------------------------------------------------------------------------------------------

/** One async function per command (resolves to its result; rejects with an Error carrying `code`), plus `on`. */
export type RwsCommands = {
  [K in CommandName]: undefined extends CommandArgs<K>
    ? (args?: CommandArgs<K>) => Promise<CommandResults[K]>
    : (args: CommandArgs<K>) => Promise<CommandResults[K]>;
};

/** How the window reaches the engine: `open`, or `lost` (the client is trying again) after it was. */
export interface ConnectionState {
  state: 'connecting' | 'open' | 'lost';
  /** Tries since the connection was lost. */
  attempts: number;
}

export interface RwsApi extends RwsCommands {
  /** Subscribe to an event; returns the function that unsubscribes. */
  on<E extends EventName>(event: E, cb: (payload: RwsEvents[E]) => void): () => void;
  /** Follow the connection to the engine (the browser client of `rws serve`; Electron's is always open). */
  onConnection?(cb: (c: ConnectionState) => void): () => void;
  /** Which host this is: the Electron preload or the browser client of `rws serve`. */
  readonly host: 'electron' | 'browser';
  /** Native folder picker (Electron only); the browser uses listRoots/browse. */
  pickFolder?(): Promise<string | null>;
  /** Native save dialog (Electron only). */
  pickSaveFile?(opts: { defaultName: string; format: 'csv' | 'json' }): Promise<string | null>;
  /** Open a folder in the OS file manager (Electron only). */
  openPath?(path: string): Promise<void>;
}
