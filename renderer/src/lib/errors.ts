// Errors in the app's words: every error the engine or the connection gives (a code and a
// message naming the file and the field) as one sentence that says what happened and what to do.
// The engine's own message stays one click away (ErrorNote.svelte). Pure, so it is tested in Node.

/** An error as the app keeps it: the engine's code, message, file and field. */
export interface Problem {
  code: string;
  message: string;
  field?: string;
  file?: string;
}

/** What the app shows: the sentence, and the engine's own words for the details. */
export interface Explained {
  text: string;
  detail: string;
}

/** Anything thrown (an API error, an Error, a string) as a Problem. */
export function problemOf(e: unknown): Problem {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown; field?: unknown; file?: unknown };
    const p: Problem = { code: typeof o.code === 'string' ? o.code : 'internal', message: typeof o.message === 'string' ? o.message : String(e) };
    if (typeof o.field === 'string') p.field = o.field;
    if (typeof o.file === 'string') p.file = o.file;
    return p;
  }
  return { code: 'internal', message: String(e) };
}

/** The fields of the contract under the names the app's forms give them. */
const FIELD_NAMES: Record<string, string> = {
  top: 'Top-k',
  inputs: 'The images folder',
  output: 'The results folder',
  data: 'The labelled data folder',
  limit: 'Images per cell',
  seed: 'The seed',
  severities: 'The severities',
  severity: 'The severity',
  conditions: 'The conditions',
  condition: 'The condition',
  dir: 'The folder',
  mix: 'The mix',
  device: 'The device',
  file: 'The file',
  format: 'The format',
  batch: 'The batch size',
  files: 'The dropped files',
  width: 'The camera frame',
  height: 'The camera frame',
  family: 'The family',
};

/** A field as the app names it: `inputs.0` is the images folder. */
function fieldName(field: string | undefined): string {
  const head = (field ?? '').split('.')[0] ?? '';
  return FIELD_NAMES[head] ?? (head ? `"${head}"` : 'A value');
}

/** A validation rule (zod's words) as the app says it. */
function rule(message: string): string {
  const atLeast = /expected (?:number|int) to be >=?\s*(-?[\d.]+)/.exec(message);
  if (atLeast) return `must be at least ${atLeast[1]}`;
  const atMost = /expected (?:number|int) to be <=?\s*(-?[\d.]+)/.exec(message);
  if (atMost) return `must be at most ${atMost[1]}`;
  if (/expected (?:number|int), received (?:null|NaN|undefined|string)/.test(message)) return 'must be a number';
  if (/expected int/.test(message)) return 'must be a whole number';
  if (/expected (?:array|set) to have >=?\s*1 items?/.test(message)) return 'needs at least one entry';
  if (/expected string to have >=?\s*1 characters?/.test(message) || /expected string, received (?:null|undefined)/.test(message)) return 'is empty';
  if (/expected string to have <=/.test(message)) return 'is too long';
  if (/an id is lower-case/.test(message)) return 'is not one the pack knows';
  if (/Invalid option|expected one of/.test(message)) return 'is not one of the choices';
  return 'is not valid';
}

/** The part of an engine message after the file it names: `x/pack.json: not valid JSON (...)` → `not valid JSON (...)`. */
function reason(p: Problem): string {
  let m = p.message;
  for (const prefix of [p.file, p.field].filter((x): x is string => !!x)) if (m.startsWith(`${prefix}: `)) m = m.slice(prefix.length + 2);
  const i = m.indexOf(': ');
  // A leading "command: " or "path: " is the engine's address for it, not the reason.
  if (i > 0 && !/\s/.test(m.slice(0, i))) m = m.slice(i + 2);
  return m.replace(/\s*\((ENOENT|EACCES|EPERM|EISDIR|ENOTDIR)\)$/, '').trim();
}

const where = (p: Problem) => (p.file ? ` (${p.file})` : '');

/**
 * A file refused before it was read (`FILE: refused as WHAT: WHY`, `FILE: not read: WHY`), also
 * inside a pack's message about its field: "FILE is not read: WHY", naming the refused file itself.
 */
function refused(p: Problem): string {
  const m = p.message;
  const k = Math.max(m.lastIndexOf(': refused as '), m.lastIndexOf(': not read: '));
  if (k < 0) return `${p.file ?? 'That file'} is not read: ${reason(p)}`;
  const file = m.slice(0, k).replace(/^.*: field "[^"]*": /, '');
  const why = m.slice(k + 2).replace(/^(refused as [^:]+|not read): /, '');
  return `${file} is not read: ${why}`;
}

type Rule = (p: Problem) => string;

/** One sentence per code: what happened, then what to do. */
const BY_CODE: Record<string, Rule> = {
  'connection-lost': () => 'The engine cannot be reached: rws serve stopped or the network dropped. The app reconnects by itself; start rws serve again if it does not come back.',
  transport: () => 'The engine gave an answer the app could not read. Reload the page; if it happens again, restart rws serve.',
  'engine-crashed': () => 'The engine stopped while doing this. It restarts by itself: try again in a moment.',
  'engine-restart': () => 'The engine restarted but could not set up the pack and mix again. Load the pack again under Model & device.',
  'engine-changed': () => 'The pack or the device changed while this was being done. Try again.',
  'rate-limited': () => 'The app sent too many requests at once. Wait a moment; it goes on by itself.',
  forbidden: () => 'This page may not use the engine. Open the app from its own window or from the address rws serve printed.',
  token: () => 'This server needs its access token. Open the full address rws serve printed (it ends with ?token=…).',
  'bad-host': () => 'The engine refused this address. Open the address rws serve printed.',
  'bad-origin': () => 'The engine refused a request from another site. Open the app from the address rws serve printed.',
  'unknown-command': () => 'This page and the engine are different versions. Reload the page.',
  'too-large': () => 'Too much was sent in one request. Drop fewer files at a time.',
  method: () => 'This page and the engine are different versions. Reload the page.',
  'content-type': () => 'This page and the engine are different versions. Reload the page.',
  'bad-json': () => 'The engine could not read what the page sent. Reload the page; if it happens again, restart rws serve.',
  'bad-path': () => 'That address is not one of the app\'s pages. Open the address rws serve printed.',
  platform: (p) => `This does not work on this system: ${reason(p)}.`,
  usage: (p) => `${fieldName(p.field)}: ${reason(p)}. Correct it and try again.`,
  'inspect-missing': (p) => `${p.file ?? 'That file'} does not exist. Check the path.`,
  internal: () => 'Something went wrong inside the engine. Try again; if it happens again, keep the details below for a bug report.',
  'bad-argument': (p) => `${fieldName(p.field)} ${rule(p.message)}. Correct it and try again.`,
  'outside-roots': (p) => `${p.file ? p.file : 'That path'} is outside the folders this server may use. Choose a folder inside them, or start rws serve with --root for it.`,
  'not-found': (p) => `${p.file ?? 'That folder'} does not exist. Check the path, or pick the folder with Choose….`,
  'not-a-folder': (p) => `${p.file ?? 'That path'} is a file, not a folder. Choose a folder.`,
  'root-missing': () => 'A folder rws serve was told to use does not exist. Start rws serve with existing --root folders.',
  'usage-input': (p) => `The images folder cannot be read: ${reason(p)}. Check the path and its permissions.`,
  'output-inside-input': () => 'The results folder is inside the images folder, so its class copies would be classified again. Choose a results folder outside the images folder.',
  'output-has-run': () => 'This results folder already holds a run. Resume that run, replace its results, or choose another folder.',
  'resume-other-inputs': () => 'The run in this results folder classified other images. Replace its results, or choose another results folder.',
  'usage-journal-exists': () => 'This results folder already holds a run. Resume that run, replace its results, or choose another folder.',
  'resume-mismatch': () => 'The run in this results folder was made with other settings. Replace its results, or choose another results folder.',
  'no-journal': () => 'There is no earlier run to resume in this folder. Start a new run instead.',
  'run-other-pack': (p) => `That run was made with another pack (${reason(p).replace(/^that run used /, '').replace(/; load that pack.*$/, '')}). Load that pack under Model & device to resume it, or replace its results.`,
  'run-busy': () => 'A folder run is under way. Stop it, or wait for it to end, before starting another.',
  'no-run': () => 'There is no folder run yet. Start one first.',
  'no-results': () => 'The run has not written its results yet: they are written when it ends or is stopped.',
  exists: () => 'A file of that name was already uploaded. Drop the folder again to upload it into a new run folder.',
  cancelled: () => 'The evaluation was cancelled; nothing was measured to the end.',
  'eval-busy': () => 'An evaluation is under way. Cancel it first, or wait for it to end.',
  'eval-data': (p) => `The labelled data cannot be used: ${reason(p)}. Choose a folder with one sub-folder per class, or a Fashion-MNIST folder.`,
  'eval-condition': () => 'A condition you ticked cannot be evaluated with this pack. Untick it and run again.',
  'eval-peers': () => 'The comparison figures cannot be read. Run the evaluation without them.',
  'open-failed': (p) => `The file manager could not open ${p.file ?? 'the folder'}. Open it yourself: the path is shown with the run.`,
  'device-unavailable': (p) => `That device cannot be used on this machine: ${reason(p)}. Choose Auto or CPU.`,
  'device-fallback': (p) => `${/webgpu/i.test(p.message) ? 'WebGPU' : /cuda/i.test(p.message) ? 'CUDA' : /dml/i.test(p.message) ? 'DirectML' : /coreml/i.test(p.message) ? 'Core ML' : 'The chosen device'} could not start on this machine, so the engine runs on the CPU. Choose CPU or Auto to stop this message.`,
  'frame-size': () => 'The camera frame does not have the size this model takes. Reload the page (the pack may have changed).',
  'not-image': (p) => `${p.file ?? 'That file'} is not an image the app can read. Choose a JPEG, PNG, WebP, GIF, TIFF or AVIF file.`,
  empty: (p) => `${p.file ?? 'That file'} is empty. Choose another file.`,
  truncated: (p) => `${p.file ?? 'That image'} is cut short or damaged. Copy it again from its source.`,
  'too-many-pixels': (p) => `${p.file ?? 'That image'} is too large to decode safely. Use a smaller copy of it.`,
  unreadable: (p) => `${p.file ?? 'That file'} cannot be read: ${reason(p)}. Check the file and its permissions.`,
  'image-shape': () => 'The image has an unexpected size. Reload the page and try again.',
  'pack-missing': (p) => `There is no model pack in ${packFolder(p)}: ${/ENOENT|no such/i.test(p.message) ? 'it has no pack.json' : 'its pack.json cannot be read'}. Choose the folder that holds a pack.json.`,
  'pack-json': (p) => `The pack's pack.json${where(p)} is not valid JSON. Fix it, or choose another pack.`,
  'pack-field': (p) => `The pack's pack.json has a problem in "${p.field ?? 'a field'}": ${reason(p)}. Fix the pack, or choose another one.`,
  'pack-model': (p) => `The pack's model file cannot be used${where(p)}: ${reason(p)}. Copy the pack again.`,
  'pack-model-hash': () => "The pack's model file has changed since the pack was made. Copy the pack again.",
  'mix-unknown': () => 'That mix names a signature this pack does not have. Set the conditions in the panel instead.',
  'mix-syntax': () => 'That mix cannot be read. Set the conditions in the panel instead.',
  'mix-value': () => 'A strength in that mix is out of range. Use the sliders in the panel.',
  'auto-unavailable': () => 'Auto cannot choose with this pack. Set the conditions by hand.',
  'auto-classifier': () => "The pack's Auto classifier cannot be used. Set the conditions by hand, or ask for a fixed pack.",
  'auto-train': () => 'Auto could not be set up for this pack. Set the conditions by hand.',
  'mix-range': () => 'A strength in that mix is out of range (strengths go from -4 to 4). Use the sliders in the panel.',
  'non-finite-score': () => 'The model gave a score that is not a number: a signature is too strong for this model, or the pack\'s mean/std is wrong. Lower the strengths, or ask whoever made the pack.',
  journal: (p) => `The run's journal cannot be read${where(p)}: ${reason(p)}. Replace its results, or choose another results folder.`,
  'batch-limit': (p) => `The batch size is too large for this model: ${reason(p)}. Choose a smaller batch.`,
  'write-failed': (p) => `${p.file ?? 'A result file'} cannot be written. Check that the results folder is on a disk with space and that you may write to it.`,
  'not-regular-file': (p) => `${refused(p)}. Put the file itself in its place.`,
  'file-changed': (p) => `${p.file ?? 'A file of the pack'} changed after the pack was loaded. Load the pack again.`,
  'file-too-large': (p) => `${refused(p)}. Check that it is the right file.`,
  'link-outside': (p) => `${refused(p)}. Copy the file it leads to into its place.`,
  busy: () => 'The engine is busy with other requests. Wait a moment and try again.',
  'energy-share': (p) => `The signature could not be extracted: ${reason(p)}. Lower --energy, or check the two models.`,
  'labels-count': (p) => `The labels do not fit the model: ${reason(p)}. Give one label per class of the model.`,
  'labels-read': (p) => `The labels file cannot be read${where(p)}: ${reason(p)}. Give one label per line, or a JSON array.`,
};

/** Families of codes that share one sentence (the rest of the engine's codes). */
const BY_PREFIX: [string, Rule][] = [
  ['signature-', (p) => `A signature cannot be used${where(p)}: ${reason(p)}. The conditions that need it stay off; get the signature again or choose another pack.`],
  ['trust-', (p) => `A pack, model or signature is not signed by a key you trust${where(p)}: ${reason(p)}. Use what your lab signed, or have it signed (rws sign).`],
  ['sign-', (p) => `Signing failed${where(p)}: ${reason(p)}. Check the key and the file.`],
  ['keygen-', (p) => `The keys could not be written${where(p)}. Choose a folder you can write to.`],
  ['onnx-', (p) => `The pack's model cannot be read as ONNX${where(p)}. Copy the pack again, or ask whoever made it.`],
  ['graph-', () => "The pack's model has a shape the app cannot patch. Ask whoever made the pack."],
  ['split-', () => "The pack's model has a shape the app cannot patch. Ask whoever made the pack."],
  ['patch-', () => 'A signature does not fit the model it patches. Choose another pack, or ask whoever made it.'],
  ['quantize-', () => 'A signature holds values the app cannot read. Get the signature again.'],
  ['model-', (p) => `The model does not fit its pack: ${reason(p)}. Ask whoever made the pack.`],
  ['input-', (p) => `The model's input does not fit its pack: ${reason(p)}. Ask whoever made the pack.`],
  ['idx-', (p) => `The Fashion-MNIST files cannot be read${where(p)}. Install dataset-fashion-mnist, or choose a labelled folder.`],
  ['worker-', () => 'The inference worker stopped. It is restarted by itself: try again in a moment.'],
  ['patcher-', () => 'The model was being replaced while this ran. Try again.'],
  ['merge-', (p) => `The shards' results cannot be merged${where(p)}: ${reason(p)}. Merge the results of one sharded run, each shard once.`],
  ['pack-', (p) => `The pack could not be made${where(p)}: ${reason(p)}. Check the model and the flags of rws pack init.`],
  ['train-', (p) => `Training stopped${where(p)}: ${reason(p)}.`],
  ['usage-', (p) => `${fieldName(p.field)} ${reason(p)}. Correct it and try again.`],
  ['no-', (p) => `${reason(p)}.`],
];

function packFolder(p: Problem): string {
  const f = p.file ?? '';
  return f.replace(/[\\/]pack\.json$/, '') || 'that folder';
}

/** The sentence for any problem; codes the app does not know get one that still says what to do. */
export function explain(p: Problem): Explained {
  const detail = `${p.message} [${p.code}]`;
  const exact = BY_CODE[p.code];
  if (exact) return { text: exact(p), detail };
  const family = BY_PREFIX.find(([prefix]) => p.code.startsWith(prefix));
  if (family) return { text: family[1](p), detail };
  return { text: `Something went wrong (${p.code}). Try again; the details below say what the engine reported.`, detail };
}

/**
 * A run's message that is an error in the engine's words (a device that fell back to the CPU), as
 * a Problem to explain; null for a message that is already the app's own.
 */
export function problemInMessage(message: string): Problem | null {
  return /^device "[^"]+" could not be used/.test(message) ? { code: 'device-fallback', message } : null;
}

/** True when `explain` has a sentence of its own for the code (not the catch-all). */
export function knownCode(code: string): boolean {
  return code in BY_CODE || BY_PREFIX.some(([prefix]) => code.startsWith(prefix));
}
