import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CONDITIONS, familiesOf, findFamily, type Severity } from '../../core/corruptions/index.js';
import { RwsError } from '../../core/errors.js';
import { parseMix } from '../../core/mix.js';
import type { ConditionMix, Signature } from '../../core/signature.js';
import { loadLabelledData } from '../io/labelled-data.js';
import { readSignature } from '../signatures/fit.js';
import { accuracy, accuracyOf, corruptedSet, corruptionOrder, corruptionsOf, EVAL_BATCH, evalTarget, scoresOf, type CorruptedSet } from './corrupted-set.js';
import { loadOnnx, type Layer, type OnnxModel } from '../onnx/model.js';
import { loadPack, type ModelPack } from '../packs/pack.js';
import { loadSignatures, Patcher } from '../runtime/patcher.js';
import { packCandidates } from '../auto/choice.js';
import { createChooser } from '../auto/chooser.js';

export { corruptionOrder };

/** What `rws eval` measures; see `evaluatePack`. */
export interface EvalOptions {
  pack: string;
  data: string;
  /** Extra signature libraries to look in (after the pack's own and the shipped one). */
  libraries?: string[];
  /** Condition ids (default: every pack condition the corruptions can simulate). */
  conditions?: string[];
  severities?: Severity[];
  /** Mixes to test on data corrupted by all of their conditions: named mix ids or `ID=α,ID=α` (default: the pack's mixes). */
  mixes?: string[];
  /** Folder of `<condition>.onnx` models fine-tuned on each condition (and `<a>+<b>.onnx` for pairs). */
  robust?: string;
  /** Folder with `<id>-f32.rws.safetensors` / `<id>-int4.rws.safetensors` variants of the pack's signatures. */
  quantVariants?: string;
  /** Images to use (default 2000). */
  limit?: number;
  seed?: number;
  alphas?: number[];
  /**
   * Generator families to measure each condition on as well (`all`, or ids such as `physical`,
   * `imagenet-c`): a table per family and strength. A robust model for a family is
   * `<condition>@<family>.onnx` in `robust`.
   */
  families?: string[];
  /**
   * Folder of leave-one-family-out signatures, `<condition>@<lineage>.rws.safetensors`: the
   * condition's signature trained with that family lineage left out, measured on its families.
   */
  lofo?: string;
  /** The recipe's figures (figures.json): BatchNorm adaptation and TENT on the unfolded model, carried into the family rows. */
  peers?: string;
  /** Severity of the α, k, quantization and composition tables (default 3). */
  sweepSeverity?: Severity;
  threads?: number;
  progress?: (line: string) => void;
}

export interface SeverityRow {
  severity: number;
  clean: number;
  patched: number;
  robust?: number;
  /** (patched − clean) / (robust − clean). */
  gapRecovered?: number;
  /** Family rows: the signature trained with this family's lineage left out, and its gap recovered. */
  lofo?: number;
  gapLofo?: number;
  /** Family rows: `--mix auto` over these images (sample, then commit), and the best of the pack's mixes chosen with hindsight. */
  auto?: number;
  autoPick?: string;
  best?: { id: string; accuracy: number };
  /** Family rows: the test-time peers from the recipe (torch, unfolded model, its own test images of this family and strength). */
  peers?: PeerFigures;
}

/** BatchNorm adaptation, TENT, and the signature with BatchNorm adaptation, each with the clean accuracy it leaves behind. */
export interface PeerFigures {
  bn: number;
  bnClean: number;
  tent: number;
  tentClean: number;
  rwsBn: number;
  rwsBnClean: number;
  /** The recipe's own clean model, robust model, in-family and left-out signature on those images. */
  clean: number;
  robust?: number;
  patched: number;
  lofo?: number;
}

export interface ConditionTable {
  id: string;
  name: string;
  signatures: ConditionMix;
  transfer: boolean;
  severities: SeverityRow[];
  /** Accuracy on clean images with this condition's patch on. */
  cleanWhilePatched: number;
  /** Per generator family (with `families`): the same rows on that family's images. */
  families?: { family: string; lineage: string; corruptions: string[]; severities: SeverityRow[] }[];
  alpha: { alpha: number; corrupted: number; clean: number }[];
  layers: { layers: number; values: number; corrupted: number }[];
  quant: { quant: string; bytes: number; corrupted: number; smallerThanModel: number }[];
}

export interface CompositionRow {
  id: string;
  name: string;
  mix: ConditionMix;
  corruptions: string[];
  severity: number;
  clean: number;
  mixed: number;
  singles: Record<string, number>;
  pairModel?: number;
  /** (mixed − clean) / (pairModel − clean). */
  shareOfPair?: number;
  /** Pack signatures made for this exact combination, at α = 1. */
  dedicated: Record<string, number>;
}

export interface EvalReport {
  pack: string;
  packName: string;
  model: { file: string; bytes: number };
  data: { source: string; images: number; seed: number };
  clean: number;
  /** Severity of the α, layer, quantization and mix tables. */
  sweepSeverity: number;
  /** Clean logits after patching and unpatching are the clean model's, bit for bit. */
  unpatch: { bitIdentical: boolean; cleanAfterUnpatch: number; comparedLogits: number };
  conditions: ConditionTable[];
  composition: CompositionRow[];
  seconds: number;
}

const DEFAULT_ALPHAS = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5];

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = new Uint32Array(a[i]!.buffer, a[i]!.byteOffset, a[i]!.length);
    const y = new Uint32Array(b[i]!.buffer, b[i]!.byteOffset, b[i]!.length);
    if (x.length !== y.length) return false;
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  }
  return true;
}

/** The first `k` layers of a signature (layers in the model's topological order). */
function truncate(sig: Signature, model: OnnxModel, k: number): Signature {
  const names = new Set(signatureLayerList(sig, model).slice(0, k).flatMap((l) => l.tensors.map((t) => t.name)));
  return { meta: { ...sig.meta, layers: k }, tensors: sig.tensors.filter((t) => names.has(t.name)) };
}

/** The model's layers a signature holds a tensor of, in graph order. */
function signatureLayerList(sig: Signature, model: OnnxModel): Layer[] {
  const held = new Set(sig.tensors.map((t) => t.name));
  return model.layers().filter((l) => l.tensors.some((t) => held.has(t.name)));
}

function signatureLayers(sig: Signature, model: OnnxModel): number {
  return signatureLayerList(sig, model).length;
}

/** A `--mixes` entry: a named mix or condition of the pack, else mix text (`ID=α,ID=α`). */
function parseMixArg(text: string, pack: ModelPack): { id: string; name: string; mix: ConditionMix } {
  const named = pack.manifest.mixes.find((m) => m.id === text) ?? pack.manifest.conditions.find((m) => m.id === text);
  if (named) return { id: named.id, name: named.name, mix: named.mix };
  return { id: text, name: text, mix: parseMix(text, pack.manifest, '--mix') };
}

/**
 * Runs the paper's tables for a pack on labelled data: per condition and severity the clean,
 * patched and (given `robust`) fine-tuned models; clean accuracy while patched and after unpatching
 * (bit for bit); α and layer sweeps; quantization variants; mixes on data corrupted by each of
 * their conditions. Signatures the pack marks as transfer are applied with their hash check off.
 */
export async function evaluatePack(opts: EvalOptions): Promise<EvalReport> {
  const t0 = performance.now();
  const say = opts.progress ?? (() => {});
  const pack = await loadPack(opts.pack, opts.libraries);
  const m = pack.manifest;
  if (pack.missing.length) say(`missing signatures: ${pack.missing.map((x) => `${x.id} (${x.reason})`).join(', ')}`);
  const seed = opts.seed ?? 0;
  const sweep = opts.sweepSeverity ?? 3;
  const severities = opts.severities ?? [1, 2, 3, 4, 5];
  const classes = m.labels.length;
  const data = await loadLabelledData(opts.data, m.input, m.labels, opts.limit ?? 2000);
  say(`data: ${data.images.length} images from ${data.source}`);
  const model = await loadOnnx(pack.modelPath);
  const signatures = new Map<string, Signature>();
  for (const [id, file] of pack.signatureFiles) signatures.set(id, await readSignature(file));
  const transferIds = m.signatures.filter((s) => s.transfer).map((s) => s.id);
  const threads = opts.threads ?? 2;
  const packOptions = { inputName: m.input.name, outputName: m.output.name, strategy: m.patching.strategy };
  const patcher = await Patcher.create(model, signatures, { force: transferIds, threads, ...packOptions });
  const plain = await Patcher.create(model, new Map(), { threads, ...packOptions });
  const batch = Math.min(EVAL_BATCH, model.maxBatch() ?? EVAL_BATCH);
  const cache = new Map<string, CorruptedSet>();
  const dataFor = (corruptions: string[], severity: Severity): CorruptedSet => {
    const key = `${corruptions.join('+')}@${severity}`;
    let d = cache.get(key);
    if (!d) {
      d = corruptedSet(data.images, data.labels, m.input, corruptions, severity, seed, batch);
      if (cache.size > 40) cache.clear();
      cache.set(key, d);
    }
    return d;
  };
  const acc = (p: Patcher, d: CorruptedSet) => accuracy(p, d, classes);
  const robustModels = new Map<string, Patcher>();
  const robustFor = async (name: string): Promise<Patcher | undefined> => {
    if (!opts.robust) return undefined;
    if (robustModels.has(name)) return robustModels.get(name);
    const file = path.join(opts.robust, `${name}.onnx`);
    if (!existsSync(file)) return undefined;
    const p = await Patcher.create(await loadOnnx(file), new Map(), { threads });
    robustModels.set(name, p);
    return p;
  };

  // Leave-one-family-out signatures, one Patcher holding them all (keyed `<condition>@<lineage>`).
  const lofoFiles = new Map<string, string>();
  if (opts.lofo) {
    for (const f of await readdir(opts.lofo).catch(() => [] as string[])) {
      const m = /^(.+@.+)\.rws\.safetensors$/.exec(f);
      if (m) lofoFiles.set(m[1]!, path.join(opts.lofo, f));
    }
  }
  const lofoPatcher = lofoFiles.size ? await Patcher.create(model, await loadSignatures(lofoFiles), { threads }) : undefined;
  const lofoFor = (key: string): string | undefined => (lofoFiles.has(key) ? key : undefined);
  const peerFigures = opts.peers ? await readPeers(opts.peers) : undefined;
  // Auto as `rws run --mix auto` runs a folder, and every candidate mix on the same images.
  const candidates = packCandidates(m, [...signatures.keys()]);
  const autoAndBest = async (d: CorruptedSet): Promise<Pick<SeverityRow, 'auto' | 'autoPick' | 'best'>> => {
    const chooser = createChooser('folder', patcher, candidates, { classes, kind: m.output.kind });
    const scores: Float32Array[] = [];
    const picks = new Map<string, number>();
    for (const b of d.batches) {
      const r = await chooser.run(b.input, b.dims);
      scores.push(r.scores);
      for (const c of r.choices) picks.set(c.id, (picks.get(c.id) ?? 0) + 1);
    }
    let best = { id: 'clean', accuracy: -1 };
    for (const c of candidates) {
      await patcher.setMix(c.mix);
      const a = await acc(patcher, d);
      if (a > best.accuracy) best = { id: c.id, accuracy: a };
    }
    await patcher.setMix({});
    const autoPick = [...picks].sort((a, b) => b[1] - a[1])[0]?.[0];
    return { auto: accuracyOf(scores, d.labels, classes), ...(autoPick ? { autoPick } : {}), best };
  };

  try {
    const clean = dataFor([], 1);
    await patcher.setMix({});
    const before = await scoresOf(patcher, clean);
    const cleanAcc = accuracyOf(before, clean.labels, classes);
    say(`clean accuracy ${(cleanAcc * 100).toFixed(2)}%`);

    const wanted = opts.conditions ?? m.conditions.map((c) => c.id);
    const tables: ConditionTable[] = [];
    for (const id of wanted) {
      const { name, mix, corruptions } = evalTarget(m, id, (sid) => signatures.get(sid)?.meta.condition, opts.pack);
      const robust = await robustFor(corruptions.join('+'));
      const rows: SeverityRow[] = [];
      for (const s of severities) {
        const d = dataFor(corruptions, s);
        await patcher.setMix({});
        const row: SeverityRow = { severity: s, clean: await acc(patcher, d), patched: 0 };
        await patcher.setMix(mix);
        row.patched = await acc(patcher, d);
        if (robust) {
          row.robust = await acc(robust, d);
          if (row.robust !== row.clean) row.gapRecovered = (row.patched - row.clean) / (row.robust - row.clean);
        }
        rows.push(row);
      }
      const familyRows: NonNullable<ConditionTable['families']> = [];
      const single = Object.keys(mix).length === 1 ? Object.keys(mix)[0]! : undefined;
      for (const family of familiesFor(corruptions, opts.families)) {
        const keyed = corruptions.map((c) => (findFamily(c, family) ? `${c}/${family}` : c));
        const lineage = corruptions.length === 1 ? (findFamily(corruptions[0]!, family)?.lineage ?? family) : family;
        const frobust = await robustFor(`${corruptions.join('+')}@${family}`);
        // The signature trained without this family's lineage, where the condition is one signature.
        const lofoId = single && opts.lofo ? lofoFor(`${corruptions.join('+')}@${lineage}`) : undefined;
        const frows: SeverityRow[] = [];
        for (const s of severities) {
          const d = dataFor(keyed, s);
          await patcher.setMix({});
          const row: SeverityRow = { severity: s, clean: await acc(patcher, d), patched: 0 };
          await patcher.setMix(mix);
          row.patched = await acc(patcher, d);
          if (frobust) {
            row.robust = await acc(frobust, d);
            if (row.robust !== row.clean) row.gapRecovered = (row.patched - row.clean) / (row.robust - row.clean);
          }
          if (lofoId && lofoPatcher) {
            await lofoPatcher.setMix({ [lofoId]: mix[single!]! });
            row.lofo = await acc(lofoPatcher, d);
            if (row.robust !== undefined && row.robust !== row.clean) row.gapLofo = (row.lofo - row.clean) / (row.robust - row.clean);
          }
          Object.assign(row, await autoAndBest(d));
          const peer = peersOf(peerFigures, corruptions.join('+'), family, s);
          if (peer) row.peers = peer;
          frows.push(row);
        }
        familyRows.push({ family, lineage, corruptions: keyed, severities: frows });
        const mid = frows.find((r) => r.severity === sweep) ?? frows[0];
        say(`${id} / ${family}: severity ${mid?.severity} clean ${pct(mid?.clean)} patched ${pct(mid?.patched)}${mid?.lofo !== undefined ? ` left out ${pct(mid.lofo)}` : ''}${mid?.robust !== undefined ? ` robust ${pct(mid.robust)} gap recovered ${pct(mid.gapRecovered)}${mid.gapLofo !== undefined ? ` (left out ${pct(mid.gapLofo)})` : ''}` : ''} auto ${pct(mid?.auto)} best ${mid?.best?.id} ${pct(mid?.best?.accuracy)}`);
      }
      await patcher.setMix(mix);
      const cleanWhilePatched = await acc(patcher, clean);
      const sd = dataFor(corruptions, sweep);
      const alpha = [];
      for (const a of opts.alphas ?? DEFAULT_ALPHAS) {
        const scaled = Object.fromEntries(Object.entries(mix).map(([k, v]) => [k, v * a]));
        await patcher.setMix(scaled);
        alpha.push({ alpha: a, corrupted: await acc(patcher, sd), clean: await acc(patcher, clean) });
      }
      await patcher.setMix({});
      // Layer sweep and quantization: only for a condition made of one signature.
      const layers: ConditionTable['layers'] = [];
      const quant: ConditionTable['quant'] = [];
      const modelBytes = (await stat(pack.modelPath)).size;
      if (single) {
        const sig = signatures.get(single)!;
        const variants = new Map<string, Signature>();
        const total = signatureLayers(sig, model);
        for (let k = 1; k <= total; k++) variants.set(`k${k}`, truncate(sig, model, k));
        const sizes: Record<string, number> = { [sig.meta.quant]: (await stat(pack.signatureFiles.get(single)!)).size };
        for (const q of ['f32', 'int4']) {
          const f = opts.quantVariants ? path.join(opts.quantVariants, `${single}-${q}.rws.safetensors`) : '';
          if (f && existsSync(f)) {
            variants.set(q, await readSignature(f));
            sizes[q] = (await stat(f)).size;
          }
        }
        const vp = await Patcher.create(model, variants, { force: transferIds.includes(single), threads });
        try {
          for (let k = 1; k <= total; k++) {
            await vp.setMix({ [`k${k}`]: mix[single]! });
            layers.push({ layers: k, values: variants.get(`k${k}`)!.tensors.reduce((s, t) => s + t.values.length, 0), corrupted: await acc(vp, sd) });
          }
          const shipped = rows.find((r) => r.severity === sweep)?.patched ?? (await (async () => {
            await patcher.setMix(mix);
            const a = await acc(patcher, sd);
            await patcher.setMix({});
            return a;
          })());
          quant.push({ quant: sig.meta.quant, bytes: sizes[sig.meta.quant]!, corrupted: shipped, smallerThanModel: modelBytes / sizes[sig.meta.quant]! });
          for (const q of ['f32', 'int4']) {
            if (!variants.has(q)) continue;
            await vp.setMix({ [q]: mix[single]! });
            quant.push({ quant: q, bytes: sizes[q]!, corrupted: await acc(vp, sd), smallerThanModel: modelBytes / sizes[q]! });
          }
        } finally {
          await vp.dispose();
        }
      }
      const t: ConditionTable = {
        id,
        name,
        signatures: mix,
        transfer: Object.keys(mix).some((s) => transferIds.includes(s)),
        severities: rows,
        cleanWhilePatched,
        ...(opts.families ? { families: familyRows } : {}),
        alpha,
        layers,
        quant,
      };
      tables.push(t);
      const r3 = rows.find((r) => r.severity === sweep);
      say(`${id}: severity ${sweep} clean ${pct(r3?.clean)} patched ${pct(r3?.patched)}${r3?.robust !== undefined ? ` robust ${pct(r3.robust)} gap recovered ${pct(r3.gapRecovered)}` : ''}`);
    }

    // Unpatching: back to the clean weights, bit for bit, compared with a session that never saw a patch.
    await patcher.setMix({});
    const after = await scoresOf(patcher, clean);
    const fresh = await scoresOf(plain, clean);
    const bitIdentical = sameBits(before, after) && sameBits(before, fresh);

    const composition: CompositionRow[] = [];
    const mixArgs = opts.mixes ?? m.mixes.map((x) => x.id);
    for (const text of mixArgs) {
      const { id, name, mix } = parseMixArg(text, pack);
      if (!Object.keys(mix).every((s) => signatures.has(s))) {
        say(`mix ${id}: skipped, a signature is missing`);
        continue;
      }
      let corruptions = corruptionOrder(Object.keys(mix).flatMap((s) => corruptionsOf(signatures.get(s)!.meta.condition)));
      if (corruptions.length < 1) continue;
      // Parts of a pair condition (fog + low light = foggy night): that pair's own images and robust model.
      const pairCondition = CONDITIONS.find((c) => c.parts && c.parts.length === new Set(corruptions).size && c.parts.every((x) => corruptions.includes(x)));
      const pairRobust = pairCondition ? `${pairCondition.id}@${familiesOf(pairCondition.id)[0]!.id}` : undefined;
      if (pairCondition) corruptions = [pairCondition.id];
      const d = dataFor(corruptions, sweep);
      await patcher.setMix({});
      const row: CompositionRow = { id, name, mix, corruptions, severity: sweep, clean: await acc(patcher, d), mixed: 0, singles: {}, dedicated: {} };
      await patcher.setMix(mix);
      row.mixed = await acc(patcher, d);
      // Each single-condition signature of the mix alone, and any signature made for this very combination.
      const parts = new Set(pairCondition ? pairCondition.parts : corruptions);
      for (const [sid, sig] of signatures) {
        const cs = corruptionsOf(sig.meta.condition);
        if (cs.length === 1 && parts.has(cs[0]!)) {
          await patcher.setMix({ [sid]: 1 });
          row.singles[sid] = await acc(patcher, d);
        } else if (sig.meta.condition === pairCondition?.id || (cs.length > 1 && cs.length === parts.size && cs.every((c) => parts.has(c)))) {
          await patcher.setMix({ [sid]: 1 });
          row.dedicated[sid] = await acc(patcher, d);
        }
      }
      await patcher.setMix({});
      const pair = (pairRobust ? await robustFor(pairRobust) : undefined) ?? (await robustFor(corruptions.join('+')));
      if (pair) {
        row.pairModel = await acc(pair, d);
        if (row.pairModel !== row.clean) row.shareOfPair = (row.mixed - row.clean) / (row.pairModel - row.clean);
      }
      composition.push(row);
      say(`mix ${id} on ${corruptions.join(' then ')}: clean ${pct(row.clean)} mix ${pct(row.mixed)}${row.pairModel !== undefined ? ` pair model ${pct(row.pairModel)} (${pct(row.shareOfPair)} of its gain)` : ''}`);
    }

    return {
      pack: opts.pack,
      packName: m.name,
      model: { file: path.basename(pack.modelPath), bytes: (await stat(pack.modelPath)).size },
      data: { source: data.source, images: data.images.length, seed },
      clean: cleanAcc,
      sweepSeverity: sweep,
      unpatch: { bitIdentical, cleanAfterUnpatch: accuracyOf(after, clean.labels, classes), comparedLogits: before.reduce((s, b) => s + b.length, 0) },
      conditions: tables,
      composition,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await patcher.dispose();
    await plain.dispose();
    await lofoPatcher?.dispose();
    for (const p of robustModels.values()) await p.dispose();
  }
}

/** The recipe's figures.json, as far as the peers go (native-models/recipe/evaluate.py writes it). */
interface RecipeFigures {
  conditions?: Record<string, { families?: Record<string, { strengths?: Record<string, Record<string, number>> }> }>;
}

async function readPeers(file: string): Promise<RecipeFigures> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RecipeFigures;
  } catch (e) {
    throw new RwsError('eval-peers', `${file}: cannot read the recipe's figures (${(e as Error).message})`, { file, field: 'peers' });
  }
}

/** The peers' figures of one condition, family and strength, when the recipe measured them. */
function peersOf(fig: RecipeFigures | undefined, condition: string, family: string, strength: number): PeerFigures | undefined {
  const r = fig?.conditions?.[condition]?.families?.[family]?.strengths?.[String(strength)];
  if (!r || r.bn === undefined || r.tent === undefined) return undefined;
  return {
    bn: r.bn,
    bnClean: r.bn_clean!,
    tent: r.tent,
    tentClean: r.tent_clean!,
    rwsBn: r.rws_bn!,
    rwsBnClean: r.rws_bn_clean!,
    clean: r.clean!,
    patched: r.patched!,
    ...(r.robust !== undefined ? { robust: r.robust } : {}),
    ...(r.lofo !== undefined ? { lofo: r.lofo } : {}),
  };
}

/** The families to measure a condition's corruptions on: every family one of them has (`all`), or the listed ones they have. */
function familiesFor(corruptions: string[], wanted: string[] | undefined): string[] {
  if (!wanted?.length) return [];
  const have = [...new Set(corruptions.flatMap((c) => familiesOf(c).map((f) => f.id)))];
  return wanted.includes('all') ? have : have.filter((f) => wanted.includes(f));
}

function pct(v: number | undefined): string {
  return v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
}
