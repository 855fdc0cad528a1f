// `rws run`. What only a run needs (the pack schema, the ONNX reader, sharp, the condition
// classifier) is imported where it is used, after the inference worker has started: the worker
// loads onnxruntime on the other core meanwhile, and `rws run --help` stays light.
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { RwsError } from '../core/errors.js';
import type { ConditionMix } from '../core/signature.js';
import { parseMix, ranUnderKey } from '../core/mix.js';
import type { AutoMix } from '../engine/auto/mix.js';
import type { AutoCandidate } from '../engine/auto/choice.js';
import type { AutoChooser, AutoScope } from '../engine/auto/chooser.js';
import { parseDevice, type Device } from '../engine/runtime/devices.js';
import type { Classifier } from '../engine/folder/classifier.js';
import type { FolderProgress } from '../engine/folder/run.js';
import { DEFAULT_MAX_PIXELS } from '../engine/io/image-limits.js';
import { MAX_MODEL_BYTES } from '../core/limits.js';
import type { InputSpec } from '../engine/packs/pack.js';
import type { PackModelCheck } from '../engine/packs/pack-model.js';
import type { RemotePatcher } from '../engine/runtime/remote-patcher.js';
import { takeRunWorker } from './run-worker.js';
import type { PatchStrategy } from '../engine/runtime/patcher.js';
import { parseShard, shardText } from '../engine/folder/shard.js';
import { FREE_BATCH } from '../engine/folder/plan.js';
import type { FileFailure, FileResult } from '../engine/folder/journal.js';
import { EXIT } from './exit.js';
import { collect, inputFlags, parseSignatureArg, positiveInt } from './options.js';
import { flagName, type PresetName } from '../engine/packs/presets.js';
import { described } from './commands.js';

export interface RunOptions {
  pack?: string;
  model?: string;
  mix?: string;
  autoBy: AutoScope;
  signature: string[];
  device: string;
  top: number;
  batch?: number;
  json?: string;
  csv?: string;
  journal?: string;
  resume?: boolean;
  copyTo?: string;
  shard?: string;
  force?: boolean;
  maxPixels: number;
  threads?: number;
  quiet?: boolean;
  /** With --model: how images become its input (a pack says so in pack.json). */
  preset?: PresetName;
  range?: [number, number];
  mean?: number[];
  std?: number[];
  resize?: InputSpec['resize'];
  shorterSide?: number;
  colorSpace?: InputSpec['colorSpace'];
}

const INPUT_FLAGS = ['preset', 'range', 'mean', 'std', 'resize', 'shorterSide', 'colorSpace'] as const;

/** The input spec of a bare model: read from its shape, then a preset, then each flag given. */
async function modelInputSpec(base: InputSpec, o: RunOptions, file: string): Promise<InputSpec> {
  const [{ preset }, { checkInputSpec }] = await Promise.all([import('../engine/packs/presets.js'), import('../engine/packs/input-spec.js')]);
  const spec: InputSpec = { ...base, ...(o.preset ? preset(o.preset, base, file) : {}) };
  if (o.range) spec.range = o.range;
  if (o.mean) spec.mean = o.mean;
  if (o.std) spec.std = o.std;
  if (o.colorSpace) spec.colorSpace = o.colorSpace;
  if (o.resize) spec.resize = o.resize;
  if (o.shorterSide !== undefined) {
    spec.shorterSide = o.shorterSide;
    spec.resize = o.resize ?? 'cover';
  }
  if (spec.resize !== 'cover') delete spec.shorterSide;
  checkInputSpec(spec, 'rws run --model', (field) => `--${flagName(field)}`);
  return spec;
}

/** What to classify with: the model, its input, labels and signatures, and the run's identity. */
interface Plan {
  pack: string;
  model: string;
  modelPath: string;
  identity: string;
  inputSpec: InputSpec;
  labels: string[];
  outputKind: 'logits' | 'probabilities';
  signatureFiles: Map<string, string>;
  /** SHA-256s of the model and signatures (by id) as checked here: the worker refuses other bytes. */
  expect: { model: string; signatures: Record<string, string> };
  /** Signature ids the pack declares as made on another base model. */
  transfers: string[];
  mix: ConditionMix;
  /** With `--mix auto`: the mixes it chooses among, how, and the pack's condition classifier if it has one. */
  auto?: { candidates: AutoCandidate[]; scope: AutoScope; recogniser?: AutoMix };
  /** The largest batch the model takes; a pack's is known once the worker has read its model. */
  maxBatch?: number;
  /** What a pack says of its model: the tensors it names and how to patch (a bare model: its first input and output, auto). */
  packOptions?: { inputName: string; outputName: string; strategy: PatchStrategy | 'auto' };
  /** A pack's description of its model, checked by the worker on the one parse of the model. */
  packModel?: PackModelCheck;
}

export async function planFromPack(dir: string, o: RunOptions): Promise<Plan> {
  const [{ loadPack }, { packRunIdentity }, { packModelCheck }] = await Promise.all([import('../engine/packs/pack.js'), import('../engine/folder/plan.js'), import('../engine/packs/pack-model.js')]);
  // The model is read and hashed here; the worker parses it once, and checks it against pack.json then.
  const pack = await loadPack(dir, [], { checkModel: false });
  const m = pack.manifest;
  if (o.signature.length) throw new RwsError('usage-signature', '--signature: a pack names its own signatures; use --mix with their ids (or --model to run a bare model)', { field: '--signature' });
  const given = INPUT_FLAGS.find((k) => o[k] !== undefined);
  if (given) throw new RwsError('usage-input', `--${flagName(given)}: a pack describes its own input in pack.json; the input flags are for --model`, { field: `--${flagName(given)}` });
  // auto loads every signature that is present and lets the model's own outputs choose among the pack's
  // mixes; the Auto code loads only for --mix auto.
  const available = [...pack.signatureFiles.keys()];
  let auto: Plan['auto'];
  if (o.mix === 'auto') {
    const [{ packCandidates }, { AutoMix }] = await Promise.all([import('../engine/auto/choice.js'), import('../engine/auto/mix.js')]);
    auto = { candidates: packCandidates(m, available), scope: o.autoBy, ...(m.autoMix?.classifier ? { recogniser: AutoMix.fromPack(m, { available }, path.join(dir, 'pack.json')) } : {}) };
  }
  const mix = auto ? {} : parseMix(o.mix ?? 'off', m);
  for (const id of Object.keys(mix)) {
    const gone = pack.missing.find((x) => x.id === id);
    if (gone) throw new RwsError('signature-missing', `${path.join(dir, 'pack.json')}: signature "${id}": ${gone.reason}`, { file: path.join(dir, 'pack.json'), field: id });
  }
  const used = auto ? pack.signatureFiles : new Map([...pack.signatureFiles].filter(([id]) => id in mix));
  return {
    pack: m.id,
    model: pack.modelPath,
    modelPath: pack.modelPath,
    identity: packRunIdentity(pack, (id) => used.has(id)),
    inputSpec: m.input,
    labels: m.labels,
    outputKind: m.output.kind,
    signatureFiles: used,
    expect: { model: pack.modelSha256, signatures: Object.fromEntries(m.signatures.map((x) => [x.id, x.sha256])) },
    transfers: m.signatures.filter((x) => x.transfer).map((x) => x.id),
    mix,
    auto,
    // A fixed mix never switches: under `auto`, one patched session (a creation at load) instead of
    // the in-place set-up (the plain session saved, a probe, the live session and its checks).
    packOptions: { inputName: m.input.name, outputName: m.output.name, strategy: !auto && m.patching.strategy === 'auto' ? 'session' : m.patching.strategy },
    packModel: packModelCheck(m, path.join(dir, 'pack.json')),
  };
}

async function planFromModel(file: string, o: RunOptions): Promise<Plan> {
  if (o.mix && o.mix !== 'off' && o.mix !== 'auto') throw new RwsError('usage-mix', '--mix: needs a pack; with --model give signatures as --signature FILE[=α] (and --mix auto to let the model choose among them)', { field: '--mix' });
  const [{ assertTrustedBytes }, { parseOnnx }, { inputSpecFromShape }, { batchLimit }, { readRegularFile, sha256Hex }] = await Promise.all([
    import('../engine/packs/trust.js'),
    import('../engine/onnx/model.js'),
    import('../engine/folder/classifier.js'),
    import('../engine/folder/plan.js'),
    import('../engine/io/regular-file.js'),
  ]);
  // Each file is read once here, checked, and hashed: the worker is held to these bytes.
  const modelBytes = await readRegularFile(file, { what: 'the model', code: 'onnx-read', maxBytes: MAX_MODEL_BYTES });
  await assertTrustedBytes(file, modelBytes);
  const model = parseOnnx(modelBytes, { file });
  const input = model.inputs[0];
  if (!input) throw new RwsError('model-input', `${file}: the model has no input`, { file });
  const inputSpec = await modelInputSpec(inputSpecFromShape({ name: input.name, shape: input.dims }, file), o, file);
  const out = model.outputs[0];
  const classes = out?.dims[out.dims.length - 1];
  if (typeof classes !== 'number' || classes < 1) throw new RwsError('model-output', `${file}: output "${out?.name}" has no fixed number of classes; use a pack with labels`, { file });
  const signatureFiles = new Map<string, string>();
  const signatures: Record<string, string> = {};
  const mix: ConditionMix = {};
  for (const arg of o.signature) {
    const { file: sig, alpha } = parseSignatureArg(arg);
    const bytes = await readRegularFile(sig, { what: 'the signature', code: 'signature-read', maxBytes: MAX_MODEL_BYTES });
    await assertTrustedBytes(sig, bytes);
    let id = path.basename(sig).replace(/\.rws\.safetensors$|\.safetensors$/, '');
    for (let n = 2; signatureFiles.has(id); n++) id = `${id}-${n}`;
    signatureFiles.set(id, sig);
    signatures[id] = sha256Hex(bytes);
    mix[id] = alpha;
  }
  const expect = { model: sha256Hex(modelBytes), signatures };
  return {
    pack: path.basename(file),
    model: file,
    modelPath: file,
    // Input flags change every score: a journal made with others is not resumed.
    identity: [expect.model, ...Object.values(signatures), ...(INPUT_FLAGS.some((k) => o[k] !== undefined) ? [JSON.stringify(inputSpec)] : [])].join('+'),
    inputSpec,
    labels: Array.from({ length: classes }, (_, i) => String(i)),
    outputKind: 'logits',
    signatureFiles,
    expect,
    transfers: [],
    // auto: each signature at its strength is a candidate, next to the clean model.
    mix: o.mix === 'auto' ? {} : mix,
    ...(o.mix === 'auto' ? { auto: { candidates: Object.entries(mix).map(([id, a]) => ({ id, mix: { [id]: a } })), scope: o.autoBy } } : {}),
    maxBatch: batchLimit(model),
  };
}

/**
 * The model in the engine's RemotePatcher: onnxruntime runs in a worker thread, so decoding keeps
 * going on this one while a batch is inferred. Disposes of the worker when it fails.
 */
async function makeClassifier(p: RemotePatcher, plan: Plan, o: RunOptions, device: Device): Promise<Classifier> {
  try {
    const opened = p.open(plan.modelPath, plan.signatureFiles, { device, force: o.force ? true : plan.transfers, threads: o.threads, ...plan.packOptions, expect: plan.expect, packModel: plan.packModel });
    // --mix auto: while the worker reads the model and every signature, onnxruntime's once-per-process
    // set-up on this thread, which has less to do. Any other run is the other way round: this thread
    // loads the decoder (sharp) meanwhile and finishes after the worker (warm-up.ts has the figures).
    const warmed = plan.auto ? import('../engine/runtime/warm-up.js').then((w) => w.warmOnnxruntime()).catch(() => {}) : undefined;
    await Promise.all([opened, warmed]);
    await p.setMix(plan.mix);
  } catch (e) {
    await p.dispose();
    throw e;
  }
  for (const w of p.warnings) console.error(`warning: ${w}`);
  const run = holdAfter(Number(process.env.RWS_TEST_HOLD_AFTER ?? 0), (x: Float32Array, d: number[]) => p.run(x, d, { transfer: true }));
  return {
    inputSpec: plan.inputSpec,
    labels: plan.labels,
    outputKind: plan.outputKind,
    maxBatch: plan.maxBatch ?? p.maxBatch ?? FREE_BATCH,
    device: p.device,
    fallback: p.fallback,
    // Each batch is a fresh array: hand its buffer over rather than copy it.
    run,
    ...(plan.auto ? await autoRunner(plan, p) : {}),
    dispose: () => p.dispose(),
  };
}

/** `--mix auto`'s batch runner: one chooser for the whole run, so what it learns carries over. */
async function autoRunner(plan: Plan, p: RemotePatcher): Promise<Pick<Classifier, 'runWithMixes' | 'planAuto'>> {
  const auto = plan.auto!;
  const [{ createChooser }, { imagesFromInput }] = await Promise.all([import('../engine/auto/chooser.js'), import('../engine/auto/mix.js')]);
  const runner = { setMix: (m: ConditionMix) => p.setMix(m), run: (a: Float32Array, b: number[]) => p.run(a, b) };
  const chooser: AutoChooser = createChooser(auto.scope, runner, auto.candidates, { classes: plan.labels.length, kind: plan.outputKind, recogniser: auto.recogniser });
  return {
    runWithMixes: async (x, d, files) => {
      const r = await chooser.run(x, d, () => imagesFromInput(x, d, plan.inputSpec), files);
      return { scores: r.scores, mixes: r.choices.map((c) => c.mix), blends: r.choices.map((c) => c.blend?.mix) };
    },
    ...(chooser.plan ? { planAuto: (files, decode, batch) => chooser.plan!({ files, decode, batch }) } : {}),
  };
}

/**
 * A test hook (`RWS_TEST_HOLD_AFTER=N`): inference holds for good once N images are classified,
 * so a test can kill the run at a known point instead of racing a kill against a count.
 */
function holdAfter(n: number, run: (x: Float32Array, d: number[]) => Promise<Float32Array>): (x: Float32Array, d: number[]) => Promise<Float32Array> {
  if (!(n > 0)) return run;
  let images = 0;
  return (x, d) => {
    if (images >= n) return new Promise(() => {});
    images += d[0]!;
    return run(x, d);
  };
}

function parseAutoScope(v: string): AutoScope {
  if (v !== 'folder' && v !== 'file' && v !== 'batch') throw new InvalidArgumentError('expected folder, batch or file');
  return v;
}

function percent(score: number): string {
  return `${(score * 100).toFixed(1)}%`;
}

/** One concise line per image: the file, then each top class with its probability. */
export function formatResult(r: FileResult, showMix = false): string {
  return `${r.file}  ${showMix ? `[${ranUnderKey(r.mix, r.blend)}]  ` : ''}${r.top.map((t) => `${t.label} ${percent(t.score)}`).join('  ')}`;
}

/** Registers `rws run`: classify images and folders with a pack (or a bare model) and a mix. */
export function register(program: Command): void {
  inputFlags(
    program
      .command('run')
      .description(described('run'))
      .argument('<inputs...>', 'image files and folders')
      .option('--pack <dir>', 'model pack folder (default: the bundled fashion-mnist pack)')
      .option('--model <file>', 'a bare .onnx model instead of a pack (input read from its shape, labels 0..N-1)')
      .option('--mix <mix>', 'ID=α,ID=α, a named condition or mix of the pack, off, or auto (the model\'s outputs choose)', undefined)
      .option('--auto-by <scope>', 'with --mix auto: folder (each folder samples its first images under every mix and commits to the best), batch, or file (every mix on every image)', parseAutoScope, 'folder' as AutoScope)
      .option('--signature <file[=α]>', 'with --model: a signature and its strength (default 1); repeatable', collect, [] as string[])
      .option('--device <device>', 'auto, cpu, cuda, dml, coreml or webgpu', 'auto')
      .option('--top <k>', 'classes shown and saved per image', positiveInt, 5)
      .option('--batch <n>', 'images per inference (default: chosen for the device)', positiveInt)
      .option('--json <file>', 'write all results as JSON (atomically, at the end)')
      .option('--csv <file>', 'write all results as CSV (atomically, at the end)')
      .option('--journal <file>', 'record results as they come (JSONL); default <json or csv>.journal.jsonl')
      .option('--resume', 'continue an interrupted run from its journal: files already done are skipped')
      .option('--copy-to <dir>', 'copy (never move) each image into <dir>/<predicted label>/')
      .option('--shard <I/N|auto|auto/N>', 'classify only shard I of N (from 1) of the files, for runs split across machines (merge them with rws merge); auto: the index from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or PARALLEL_SEQ')
      .option('--force', 'apply signatures made for another base model (transfer), with a warning')
      .option('--max-pixels <n>', 'refuse images larger than this many pixels (pixel bombs)', positiveInt, DEFAULT_MAX_PIXELS)
      .option('--threads <n>', 'onnxruntime threads (default: all cores)', positiveInt)
      .option('--quiet', 'do not print a line per image'),
  )
    .action(async (inputs: string[], o: RunOptions) => {
      process.exitCode = await runCommand(inputs, o);
    });
}

async function runCommand(inputs: string[], o: RunOptions): Promise<number> {
  if (o.pack && o.model) throw new RwsError('usage', '--pack and --model: give one of them, not both', { field: '--pack' });
  const device = parseDevice(o.device);
  const journalFile = o.journal ?? (o.json ? `${o.json}.journal.jsonl` : o.csv ? `${o.csv}.journal.jsonl` : undefined);
  if (o.resume && !journalFile) throw new RwsError('usage', '--resume: needs a journal to resume from: give --journal, --json or --csv as in the first run', { field: '--resume' });
  if (o.copyTo) (await import('../engine/folder/plan.js')).assertOutsideInputs(inputs, o.copyTo, '--copy-to', 'usage-copy-to');
  // Said before the model loads, not after the run (a shard's results often go to a folder of their own).
  for (const [flag, file] of [['--json', o.json], ['--csv', o.csv], ['--journal', o.journal]] as const) {
    const dir = file && path.dirname(path.resolve(file));
    if (dir && !existsSync(dir)) throw new RwsError('usage-output', `${flag} ${file}: the folder ${path.dirname(file)} does not exist`, { file, field: flag });
  }
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  // Temp files that a kill during an earlier run's final write left beside the outputs.
  for (const f of [o.json, o.csv]) if (f) await (await import('../engine/io/atomic-file.js')).removeStaleTemps(f);

  // Started by bin/rws.js before this code loaded (run-worker.ts), or now: either way before the
  // run is planned, so that it loads onnxruntime and the patcher on the other core meanwhile.
  const worker = takeRunWorker();
  let plan: Plan;
  try {
    plan = o.model ? await planFromModel(o.model, o) : await planFromPack(o.pack ?? (await import('../engine/packs/pack.js')).defaultPackDir(), o);
    if (o.batch !== undefined) (await import('../engine/folder/plan.js')).checkBatch(o.batch, plan.inputSpec, '--batch', 'usage-batch');
  } catch (e) {
    await worker.dispose();
    throw e;
  }
  // Loading the decoder (sharp) here overlaps the model's load in the worker.
  const useBar = Boolean(process.stderr.isTTY) && !process.env.CI;
  const engine = Promise.all([import('../engine/folder/run.js'), import('../engine/folder/results-file.js'), useBar ? import('cli-progress') : undefined]);
  const classifier = await makeClassifier(worker, plan, o, device);
  const [{ runFolder }, { resultsContent, writeResults }, progress] = await engine;
  const scopeText = { folder: 'sample, then commit', batch: 'per batch', file: 'per file', stream: 'stream' } as const;
  const mixText = plan.auto ? `auto (${scopeText[plan.auto.scope]}; ${plan.auto.candidates.length} mixes and the clean model)` : Object.keys(plan.mix).length ? Object.entries(plan.mix).map(([k, a]) => `${k}=${a}`).join(',') : 'off';
  const shardNote = shard ? `, shard ${shardText(shard)}${shard.from ? ` (from ${shard.from})` : ''}` : '';
  console.error(`rws run: ${plan.pack}, mix ${mixText}, device ${classifier.device}${shardNote}`);
  if (classifier.fallback) console.error(`warning: ${classifier.fallback}`);

  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(130);
    console.error('\nrws run: stopping after the batch in hand (Ctrl-C again to quit now)...');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const cliProgress = progress?.default;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        { format: ' {bar} {value}/{total} | {failed} failed | {rate} img/s | ETA {eta_text}', hideCursor: true, clearOnComplete: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let barStarted = false;
  const say = (line: string, toErr = false) => {
    // Clear the bar's line first; it draws itself again on the next update.
    if (barStarted && (toErr || process.stdout.isTTY)) process.stderr.write('\r\x1b[2K');
    if (toErr) console.error(line);
    else console.log(line);
  };
  const onProgress = (p: FolderProgress) => {
    if (!bar) return;
    const fields = { failed: p.failed, rate: p.rate.toFixed(0), eta_text: p.eta === undefined ? '-' : `${Math.ceil(p.eta)} s` };
    if (!barStarted) bar.start(p.total, p.done + p.failed, fields);
    barStarted = true;
    bar.setTotal(p.total);
    bar.update(p.done + p.failed, fields);
  };

  let summary;
  try {
    summary = await runFolder({
      inputs,
      classifier,
      pack: plan.pack,
      model: plan.identity,
      mix: plan.auto ? 'auto' : plan.mix,
      top: o.top,
      batch: o.batch,
      maxPixels: o.maxPixels,
      journal: journalFile,
      resume: Boolean(o.resume),
      copyTo: o.copyTo,
      shard,
      signal: controller.signal,
      onProgress,
      onResult: o.quiet ? undefined : (r) => say(formatResult(r, Boolean(plan.auto))),
      onFailure: (f: FileFailure) => say(`rws: ${f.message}`, true),
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await classifier.dispose();
  }

  const n = summary.results.length;
  for (const x of summary.special) console.error(`rws: skipped ${x.file}: ${x.reason}`);
  if (summary.stopped) {
    console.error(`rws run: stopped with ${n} of ${n + summary.failed.length} files done${journalFile ? `; results so far are in ${journalFile}: run the same command with --resume to continue` : ''}`);
    return EXIT.fatal;
  }
  if (o.json || o.csv) {
    const content = resultsContent(plan.pack, plan.auto ? 'auto' : plan.mix, summary.device, summary.results, summary.failed);
    // A shard's results say which shard of which run they are, for rws merge to check.
    if (shard) content.shard = { index: shard.index, count: shard.count, run: plan.identity, top: summary.top, listing: summary.listing };
    await writeResults(content, { json: o.json, csv: o.csv });
    // The exports now hold everything; a journal we named ourselves would only block the next run.
    if (!o.journal && journalFile) await unlink(journalFile).catch(() => {});
  }
  const rate = summary.seconds > 0 ? (n - summary.resumed) / summary.seconds : 0;
  const parts = [
    `${n} image${n === 1 ? '' : 's'} classified${summary.resumed ? ` (${summary.resumed} from the journal)` : ''}`,
    `${summary.failed.length} failed`,
    ...(summary.skipped.length ? [`${summary.skipped.length} skipped (not images)`] : []),
    ...(summary.special.length ? [`${summary.special.length} skipped (not regular files)`] : []),
    `${rate.toFixed(0)} images/s on ${summary.device}, batch ${summary.batch}`,
  ];
  if (plan.auto && n) {
    const used = new Map<string, number>();
    for (const r of summary.results) {
      const key = ranUnderKey(r.mix, r.blend);
      used.set(key, (used.get(key) ?? 0) + 1);
    }
    console.error(`rws run: auto ran ${[...used].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${c} under ${k}`).join(', ')}`);
  }
  const outs = [o.json, o.csv].filter(Boolean).join(' and ');
  console.error(`rws run: ${shard ? `shard ${shardText(shard)}: ` : ''}${parts.join(', ')}${outs ? `; results in ${outs}` : ''}`);
  if (n === 0 && summary.failed.length === 0) console.error(`rws run: no images found in ${inputs.join(', ')}`);
  return summary.failed.length ? EXIT.partial : EXIT.ok;
}
