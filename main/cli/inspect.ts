import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../core/errors.js';
import { loadOnnx, type OnnxModel } from '../engine/onnx/model.js';
import { exportProblems } from '../engine/onnx/export-check.js';
import { loadPack } from '../engine/packs/pack.js';
import { checkFit, readSignature } from '../engine/signatures/fit.js';
import { formatBytes } from './options.js';

type Kind = 'pack' | 'model' | 'signature';

async function kindOf(file: string): Promise<Kind> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new RwsError('inspect-missing', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  if (st.isDirectory() || path.basename(file) === 'pack.json') return 'pack';
  if (file.endsWith('.safetensors')) return 'signature';
  if (file.endsWith('.onnx')) return 'model';
  // Decide by content: safetensors starts with a small little-endian header length then '{'.
  const head = (await readFile(file)).subarray(0, 9);
  if (head.length === 9 && head[8] === 0x7b) return 'signature';
  return 'model';
}

function describeModel(m: OnnxModel, file: string, size: number) {
  const inits = m.initializers();
  const params = inits.reduce((s, i) => s + i.dims.reduce((a, b) => a * Number(b), 1), 0);
  return {
    kind: 'model' as const,
    file,
    size,
    inputs: m.inputs,
    outputs: m.outputs,
    initializers: inits.length,
    parameters: params,
    problems: exportProblems(m),
    layers: m.layers().map((l) => ({
      index: l.index,
      node: l.node,
      op: l.op,
      kind: l.kind,
      weight: l.weight,
      shape: l.shape,
      ...(l.groups !== undefined ? { groups: l.groups, kernel: l.kernel, stride: l.stride } : {}),
      bias: l.bias,
      batchNorm: l.batchNorm ?? null,
      channelAxis: l.channelAxis,
      tensors: l.tensors.map((t) => ({ name: t.name, role: t.role, shape: t.shape, ...(t.via ? { via: t.via } : {}) })),
    })),
  };
}

/** Registers `rws inspect`: describe a model, a signature or a pack (and whether signatures fit). */
export function register(program: Command): void {
  program
    .command('inspect')
    .description('describe a model (.onnx), a signature (.rws.safetensors) or a pack (folder), and whether signatures fit')
    .argument('<file>', 'model, signature or pack folder')
    .option('--model <file>', 'with a signature: check it against this model')
    .option('--json', 'print JSON to stdout')
    .action(async (file: string, o) => {
      const kind = await kindOf(file);
      let out: Record<string, unknown>;
      if (kind === 'model') {
        out = describeModel(await loadOnnx(file), file, (await stat(file)).size);
      } else if (kind === 'signature') {
        const sig = await readSignature(file);
        const size = (await stat(file)).size;
        out = {
          kind: 'signature',
          file,
          size,
          meta: sig.meta,
          tensors: sig.tensors.map((t) => ({ name: t.name, shape: t.shape, mode: t.mode, channelAxis: t.channelAxis, values: t.values.length })),
        };
        if (o.model) {
          const model = await loadOnnx(o.model);
          const fit = checkFit(model, sig);
          const modelSize = (await stat(o.model)).size;
          out.fit = { model: o.model, ...fit, modelSize, ratio: modelSize / size };
        }
      } else {
        const dir = path.basename(file) === 'pack.json' ? path.dirname(file) : file;
        const pack = await loadPack(dir);
        const model = await loadOnnx(pack.modelPath);
        const sigs = [];
        for (const s of pack.manifest.signatures) {
          const f = pack.signatureFiles.get(s.id);
          if (!f) {
            sigs.push({ id: s.id, condition: s.condition, file: null, fits: false, problems: [pack.missing.find((m) => m.id === s.id)?.reason ?? 'missing'] });
            continue;
          }
          const sig = await readSignature(f);
          const fit = checkFit(model, sig);
          const hashOnly = fit.problems.every((p) => p.kind === 'hash');
          sigs.push({
            id: s.id,
            condition: s.condition,
            file: f,
            size: (await stat(f)).size,
            quant: sig.meta.quant,
            layers: sig.meta.layers,
            method: sig.meta.method,
            transfer: s.transfer,
            fits: fit.fits || (s.transfer && hashOnly),
            problems: fit.problems.map((p) => p.message),
          });
        }
        out = {
          kind: 'pack',
          dir,
          id: pack.manifest.id,
          name: pack.manifest.name,
          version: pack.manifest.version,
          input: pack.manifest.input,
          labels: pack.manifest.labels,
          conditions: pack.manifest.conditions,
          mixes: pack.manifest.mixes,
          signatures: sigs,
          model: describeModel(model, pack.modelPath, (await stat(pack.modelPath)).size),
        };
      }
      if (o.json) {
        console.log(JSON.stringify(out, null, 2));
        return;
      }
      printHuman(out);
    });
}

/** How many labels the human-readable pack description shows (ImageNet packs have 1000). */
const LABELS_SHOWN = 10;

/** One layer as `inspect` prints it: index, op, node, shape, conv geometry, and its tensors. */
function layerLine(l: Record<string, any>): string {
  const geometry = l.kernel ? ` k${l.kernel.join('×')}${l.stride.some((s: number) => s !== 1) ? ` s${l.stride.join('×')}` : ''}${l.groups > 1 ? (l.groups === l.shape[0] && l.shape[1] === 1 ? ` depthwise` : ` groups ${l.groups}`) : ''}` : '';
  const tensors = l.tensors.map((t: any) => `${t.role === 'weight' || t.role === 'param' ? t.name : t.role}${t.via ? ` (via ${t.via.join('→')})` : ''}`).join(' + ');
  return `${String(l.index).padStart(3)} ${l.op.padEnd(18)} ${l.node}  [${l.shape.join('×')}]${geometry}  ${tensors}`;
}

function printHuman(o: Record<string, any>): void {
  const line = (s = '') => console.log(s);
  if (o.kind === 'model') {
    line(`model ${o.file} (${formatBytes(o.size)}, ${o.parameters.toLocaleString('en')} parameters, ${o.initializers} initializers)`);
    for (const i of o.inputs) line(`  input  ${i.name} [${i.dims.join('×')}]`);
    for (const i of o.outputs) line(`  output ${i.name} [${i.dims.join('×')}]`);
    for (const p of o.problems) line(`  ${p.severity === 'error' ? 'REFUSED (rws will not run it)' : 'warning'}: ${p.message}`);
    line(`  layers (graph order; --layers K keeps the first K, or name them by node or tensor, e.g. --layers '/features/0/*'):`);
    for (const l of o.layers) line(`    ${layerLine(l)}`);
  } else if (o.kind === 'signature') {
    const m = o.meta;
    line(`signature "${m.id}" ${o.file} (${formatBytes(o.size)})`);
    line(`  condition ${m.condition}, severity ${m.severity.join('-')}, method ${m.method}, ${m.layers} layers, ${m.quant}, BatchNorm ${m.batchNorm}`);
    if (m.energyShare !== undefined) line(`  energy share kept ${(m.energyShare * 100).toFixed(2)}%`);
    if (m.effect) line(`  effect ${JSON.stringify(m.effect)}`);
    for (const t of o.tensors) line(`  ${t.name} [${t.shape.join('×')}]${t.mode === 'log' ? ' (log-variance)' : ''}`);
    if (o.fit) {
      line(o.fit.fits ? `  fits ${o.fit.model} (${o.fit.ratio.toFixed(1)}× smaller than the model)` : `  does NOT fit ${o.fit.model}:`);
      for (const p of o.fit.problems) line(`    ${p.message}`);
    }
  } else {
    line(`pack "${o.id}" ${o.name} ${o.version} (${o.dir})`);
    line(`  model ${path.basename(o.model.file)} (${formatBytes(o.model.size)}, ${o.model.parameters.toLocaleString('en')} parameters), input ${o.input.name} ${o.input.channels}×${o.input.height}×${o.input.width} ${o.input.colorSpace}`);
    line(`  labels (${o.labels.length}): ${o.labels.length > LABELS_SHOWN ? `${o.labels.slice(0, LABELS_SHOWN).join(', ')}, … (--json lists all)` : o.labels.join(', ')}`);
    line(`  signatures:`);
    for (const s of o.signatures) {
      const state = s.file ? (s.fits ? (s.transfer ? 'fits (transfer)' : 'fits') : 'does NOT fit') : 'missing';
      line(`    ${s.id.padEnd(12)} ${s.condition.padEnd(14)} ${s.file ? `${formatBytes(s.size)} ${s.quant}, ${s.layers} layers, ${s.method}` : ''}  ${state}`);
      if (!s.fits) for (const p of s.problems) line(`      ${p}`);
    }
    line(`  conditions: ${o.conditions.map((c: any) => `${c.name} (${c.id})`).join(', ') || 'none'}`);
    line(`  mixes: ${o.mixes.map((c: any) => `${c.name} (${c.id}: ${Object.entries(c.mix).map(([k, v]) => `${k}=${v}`).join(',')})`).join(', ') || 'none'}`);
  }
}
