// A tiny image classifier as ONNX bytes, encoded by hand so the folder-run tests and the folder
// bench need nothing else: Conv(3x3, pad 1) → Relu → GlobalAveragePool → Flatten → Gemm.
// Weights come from a seeded generator, so the same call gives the same model everywhere.

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

type Field = number[];
const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, v: number): Field => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: ArrayLike<number>): Field => [...key(field, 2), ...varint(b.length), ...Array.from(b)];
const str = (field: number, s: string): Field => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, ...parts: Field[]): Field => bytes(field, parts.flat());

function tensor(name: string, dims: number[], values: Float32Array): Field {
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))];
}

function valueInfo(name: string, dims: (number | string)[]): Field {
  const dim = dims.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return [...str(1, name), ...msg(2, msg(1, int(1, 1), msg(2, ...dim)))];
}

function node(op: string, inputs: string[], outputs: string[], attrs: Field[] = []): Field {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, `${op}_${outputs[0]}`), ...str(4, op), ...attrs.flat()];
}

const attrInts = (name: string, v: number[]): Field => msg(5, str(1, name), ...v.map((x) => int(8, x)), int(20, 7));
const attrInt = (name: string, v: number): Field => msg(5, str(1, name), int(3, v), int(20, 2));

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** ONNX bytes of a small classifier over `[N, channels, size, size]` (batch dimension symbolic). */
export function folderTestModel(opts: { channels?: 1 | 3; size?: number; classes?: number; hidden?: number; seed?: number } = {}): Uint8Array {
  const c = opts.channels ?? 1;
  const size = opts.size ?? 28;
  const k = opts.classes ?? 10;
  const h = opts.hidden ?? 8;
  const rnd = seeded(opts.seed ?? 7);
  const fill = (n: number, scale: number) => Float32Array.from({ length: n }, () => rnd() * scale);
  const graph: Field[] = [
    msg(1, ...[node('Conv', ['input', 'conv.weight', 'conv.bias'], ['c1'], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])])]),
    msg(1, node('Relu', ['c1'], ['r1'])),
    msg(1, node('GlobalAveragePool', ['r1'], ['p1'])),
    msg(1, node('Flatten', ['p1'], ['f1'], [attrInt('axis', 1)])),
    msg(1, node('Gemm', ['f1', 'fc.weight', 'fc.bias'], ['logits'], [attrInt('transB', 1)])),
    str(2, 'folder-test-model'),
    msg(5, tensor('conv.weight', [h, c, 3, 3], fill(h * c * 9, 2))),
    msg(5, tensor('conv.bias', [h], fill(h, 0.2))),
    msg(5, tensor('fc.weight', [k, h], fill(k * h, 8))),
    msg(5, tensor('fc.bias', [k], fill(k, 0.5))),
    msg(11, valueInfo('input', ['N', c, size, size])),
    msg(12, valueInfo('logits', ['N', k])),
  ];
  return Uint8Array.from([...int(1, 8), ...msg(8, str(1, ''), int(2, 17)), ...str(2, 'rws-test'), ...msg(7, ...graph)]);
}
