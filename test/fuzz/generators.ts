// Input generators for the fuzz targets, as fast-check arbitraries: byte-level mutations of the seed
// corpus (AFL-style havoc: flips, interesting values, inserts, deletes, splices), JSON-aware
// mutations of the safetensors header and pack.json (so inputs get past the parser into the checks
// behind it), and structure-aware builders that claim huge sizes, odd dtypes and hostile paths.
import fc from 'fast-check';
import { SAFETENSORS_DTYPE_SIZE } from '../../main/core/safetensors.js';
import { encodeModel } from '../fixtures/models.js';

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x2c, 0x2d, 0x2e, 0x30, 0x39, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d];
const INTERESTING_INTS = [0, 1, 2, 7, 8, 0x7f, 0xff, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, 10_000_000_000, 100_000_001, -1, -(2 ** 31)];
const TOKENS = ['"', '{', '}', '[', ']', ',', ':', 'null', 'true', '-1', '0.5', '1e308', '10000000000', '4294967296', '"__proto__"', '"constructor"', '\\u0000', '\\ud800', '"../"', '/etc/passwd', '\u00ff', '\u{1f600}'];
/** JSON values to drop into a parsed document: wrong types, huge or negative sizes, hostile strings. */
const INTERESTING_JSON: unknown[] = [
  null, true, 0, -1, 0.5, 1e308, -0, 2 ** 32, 2 ** 53, 10_000_000_000, 65536, '', ' ', '..', '../../etc/passwd', '/etc/passwd', 'C:\\Windows\\win.ini', 'a/../../b',
  '__proto__', 'x'.repeat(10_000), [], [0], [10_000_000_000], [100000, 100000], [65536, 65536], [-1], [1.5], {}, { __proto__: { polluted: true } },
  '{"a":', '[1,2,', 'NaN', 'Infinity', '1e999', '[100000,100000]', '{"shape":[65536,65536],"channel_axis":0,"mode":"add","quant":"int4"}',
];

type Op =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'dup'; at: number; len: number; to: number }
  | { k: 'truncate'; at: number }
  | { k: 'int'; at: number; width: 1 | 2 | 4 | 8; v: number }
  | { k: 'token'; at: number; s: string }
  | { k: 'splice'; other: number; at: number; from: number };

const at = fc.nat();
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('flip' as const), at, bit: fc.nat(7) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('set' as const), at, v: fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.nat(255)) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 64 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('dup' as const), at, len: fc.integer({ min: 1, max: 64 }), to: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('truncate' as const), at }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('int' as const), at, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), v: fc.constantFrom(...INTERESTING_INTS) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('token' as const), at, s: fc.constantFrom(...TOKENS) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('splice' as const), other: fc.nat(), at, from: fc.nat() }), weight: 1 },
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

function applyOp(b: Uint8Array, o: Op, seeds: Uint8Array[]): Uint8Array {
  const n = b.length;
  const i = n ? o.at % n : 0;
  switch (o.k) {
    case 'flip':
      if (!n) return b;
      b = b.slice();
      b[i] ^= 1 << o.bit;
      return b;
    case 'set':
      if (!n) return b;
      b = b.slice();
      b[i] = o.v;
      return b;
    case 'insert':
      return concat(b.subarray(0, i), o.bytes, b.subarray(i));
    case 'delete':
      return concat(b.subarray(0, i), b.subarray(Math.min(n, i + o.len)));
    case 'dup': {
      const chunk = b.slice(i, i + o.len);
      const to = n ? o.to % n : 0;
      return concat(b.subarray(0, to), chunk, b.subarray(to));
    }
    case 'truncate':
      return b.slice(0, i);
    case 'int': {
      if (n < o.width) return b;
      const j = o.at % (n - o.width + 1);
      b = b.slice();
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (o.width === 8) dv.setBigUint64(j, BigInt.asUintN(64, BigInt(o.v)), true);
      else if (o.width === 4) dv.setUint32(j, o.v >>> 0, true);
      else if (o.width === 2) dv.setUint16(j, o.v & 0xffff, true);
      else dv.setUint8(j, o.v & 0xff);
      return b;
    }
    case 'token':
      return concat(b.subarray(0, i), new TextEncoder().encode(o.s), b.subarray(i));
    case 'splice': {
      const other = seeds[o.other % seeds.length]!;
      const from = other.length ? o.from % other.length : 0;
      return concat(b.subarray(0, i), other.subarray(from));
    }
  }
}

/** Byte-level havoc on the seeds: 1 to 8 stacked mutations. */
export function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(op, { minLength: 1, maxLength: 8 })).map(([s, ops]) => ops.reduce((b, o) => applyOp(b, o, seeds), seeds[s]!));
}

/** Every path to a value inside a JSON document. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

type JsonEdit = { path: number; how: 'replace' | 'delete' | 'add' | 'nested'; value: number; key: string };

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.nat(),
  how: fc.constantFrom('replace' as const, 'replace' as const, 'delete' as const, 'add' as const, 'nested' as const),
  value: fc.nat(),
  key: fc.constantFrom('shape', 'dtype', 'data_offsets', '__proto__', 'extra', 'model', 'file', 'modelSha256', 'mix', 'tensors', 'quant', 'channel_axis'),
});

/** Apply edits to a parsed JSON document; `nested` edits JSON that is stored inside a string (safetensors metadata). */
function editJson(doc: unknown, edits: JsonEdit[]): unknown {
  let root = structuredClone(doc);
  for (const e of edits) {
    const all = paths(root);
    const p = all[e.path % all.length]!;
    const value = structuredClone(INTERESTING_JSON[e.value % INTERESTING_JSON.length]);
    if (p.length === 0) {
      if (e.how === 'replace') root = value;
      continue;
    }
    const parent = p.slice(0, -1).reduce<any>((o, k) => o[k], root);
    const last = p[p.length - 1]!;
    if (e.how === 'replace') parent[last] = value;
    else if (e.how === 'delete') Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
    else if (e.how === 'add') {
      if (Array.isArray(parent)) parent.push(value);
      else Object.defineProperty(parent, e.key, { value, enumerable: true, writable: true, configurable: true });
    } else if (typeof parent[last] === 'string') {
      try {
        const inner = JSON.parse(parent[last]);
        parent[last] = JSON.stringify(editJson(inner, [{ ...e, how: 'replace' }]));
      } catch {
        parent[last] = String(value);
      }
    }
  }
  return root;
}

/** Split a safetensors file into its header JSON and its data; undefined when it has no readable header. */
function splitSafetensors(b: Uint8Array): { header: unknown; data: Uint8Array } | undefined {
  if (b.length < 8) return undefined;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > b.length) return undefined;
  try {
    return { header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))), data: b.subarray(8 + n) };
  } catch {
    return undefined;
  }
}

/** A safetensors file from a header object and data bytes, with a consistent header length. */
export function joinSafetensors(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) ?? 'null');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(len, json, data);
}

/** JSON-aware edits of the seeds' safetensors headers (the header length is kept right). */
export function headerEdited(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(jsonEdit, { minLength: 1, maxLength: 3 }), fc.option(fc.nat(), { nil: undefined })).map(([s, edits, cut]) => {
    const parts = splitSafetensors(seeds[s]!)!;
    const data = cut === undefined || parts.data.length === 0 ? parts.data : parts.data.subarray(0, cut % parts.data.length);
    return joinSafetensors(editJson(parts.header, edits), data);
  });
}

/** JSON-aware edits of JSON seeds (pack.json). */
export function jsonEdited(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat(seeds.length - 1), fc.array(jsonEdit, { minLength: 1, maxLength: 4 })).map(([s, edits]) => {
    const doc = JSON.parse(new TextDecoder().decode(seeds[s]!));
    return new TextEncoder().encode(JSON.stringify(editJson(doc, edits)) ?? 'null');
  });
}

const DIMS = [0, 1, 2, 3, 8, 255, 65535, 65536, 65537, 100_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 10_000_000_000, 2 ** 53 - 1];
const dim = fc.oneof(fc.constantFrom(...DIMS), fc.nat(16));
const shapeArb = fc.array(dim, { maxLength: 4 });
const bytesFor = (count: number, size: number, rnd: number) => {
  const want = count * size;
  // A claim larger than 1 MiB gets a small buffer: the reader must refuse it without allocating the claim.
  return new Uint8Array(Number.isSafeInteger(want) && want >= 0 && want <= 1 << 20 ? want : rnd % 64);
};

/**
 * Signatures built from the format's own rules but with claims a hostile file could make: huge or
 * odd logical shapes (10 GB, 2^32 ± 1 elements), stored shapes computed as a writer would, every
 * storage type, and scale tensors to match.
 */
export function hostileSignature(): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      shape: shapeArb,
      axis: fc.nat(4),
      quant: fc.constantFrom('f32', 'f16', 'int8', 'int4'),
      storedAs: fc.constantFrom('writer', 'halfTrunc', 'halfCeil', 'small'),
      mode: fc.constantFrom('add', 'log', 'mul'),
      rnd: fc.nat(),
      extraMeta: fc.dictionary(fc.constantFrom('layers', 'severity', 'energy_share', 'effect', 'base_sha256'), fc.constantFrom('1', '-1', '1e400', '{}', '[1,5]', '5-1', 'x', '{"a":"0"}')),
    })
    .map(({ shape, axis, quant, storedAs, mode, rnd, extraMeta }) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const dtype = { f32: 'F32', f16: 'F16', int8: 'I8', int4: 'U8' }[quant] as keyof typeof SAFETENSORS_DTYPE_SIZE;
      let stored: number[] = shape;
      if (quant === 'int4' || storedAs !== 'writer') {
        stored = storedAs === 'halfCeil' ? [Math.ceil(count / 2)] : storedAs === 'small' ? [rnd % 9] : [(count + 1) >> 1];
      }
      const header: Record<string, unknown> = {};
      let offset = 0;
      const chunks: Uint8Array[] = [];
      const add = (name: string, dt: keyof typeof SAFETENSORS_DTYPE_SIZE, s: number[]) => {
        const data = bytesFor(s.reduce((a, b) => a * b, 1), SAFETENSORS_DTYPE_SIZE[dt], rnd);
        header[name] = { dtype: dt, shape: s, data_offsets: [offset, offset + data.length] };
        offset += data.length;
        chunks.push(data);
      };
      add('t', dtype, stored);
      if (quant === 'int8' || quant === 'int4') add('t.scale', 'F32', [shape.length ? (shape[axis % shape.length] ?? 1) : 1]);
      header.__metadata__ = {
        format: 'rws/1', id: 'hostile', condition: 'fog', severity: '1-5', method: 'plain', layers: '1', quant, base_sha256: '{}', batch_norm: 'none',
        tensors: JSON.stringify({ t: { shape, channel_axis: shape.length ? axis % shape.length : 0, mode, quant } }),
        ...extraMeta,
      };
      return joinSafetensors(header, concat(...chunks));
    });
}

/** Raw safetensors headers with claims a hostile file could make: 10 GB header lengths, huge tensors, gaps and overlaps. */
export function hostileSafetensors(): fc.Arbitrary<Uint8Array> {
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom(...Object.keys(SAFETENSORS_DTYPE_SIZE)), fc.constantFrom('F128', '', 'f32')),
    shape: shapeArb,
    begin: fc.oneof(fc.constantFrom(...DIMS), fc.nat(64)),
    len: fc.oneof(fc.constantFrom(...DIMS), fc.nat(64)),
  });
  return fc
    .record({
      entries: fc.dictionary(fc.constantFrom('a', 'b', '__proto__', 'constructor', '', 'x.scale'), entry, { maxKeys: 4 }),
      dataLen: fc.nat(256),
      headerLen: fc.option(fc.constantFrom(0, 7, 100_000_001, 10_000_000_000, 2 ** 53, 2 ** 64 - 1), { nil: undefined }),
    })
    .map(({ entries, dataLen, headerLen }) => {
      const header = Object.fromEntries(Object.entries(entries).map(([k, e]) => [k, { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.begin + e.len] }]));
      const file = joinSafetensors(header, new Uint8Array(dataLen));
      if (headerLen !== undefined) new DataView(file.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(headerLen)), true);
      return file;
    });
}

const EXTERNAL_LOCATIONS = ['weights.bin', '../weights.bin', '/etc/passwd', 'sub/../weights.bin', './weights.bin', '', 'a\u0000b', 'missing.bin', '.', '..', 'weights.bin/'];
const NUMBER_TEXT = ['0', '4', '-1', '1e3', '99999999999', 'abc', '', '0x10', '18446744073709551615'];

/**
 * ONNX models built as protobuf messages with hostile parts: initializers whose dims claim 10 GB,
 * mismatched storage (raw, typed, external with escaping locations and bad offsets), every data
 * type, dangling and cyclic edges, nested subgraphs.
 */
export function hostileOnnx(): fc.Arbitrary<Uint8Array> {
  const init = fc.record({
    name: fc.constantFrom('w', 'b', 'x', ''),
    dims: fc.array(fc.oneof(fc.constantFrom(...DIMS), fc.nat(8)), { maxLength: 4 }),
    data_type: fc.oneof(fc.constantFrom(1, 10, 11, 16), fc.nat(25)),
    storage: fc.constantFrom('raw', 'float', 'int32', 'double', 'external', 'none'),
    n: fc.nat(64),
    location: fc.constantFrom(...EXTERNAL_LOCATIONS),
    offset: fc.constantFrom(...NUMBER_TEXT),
    length: fc.option(fc.constantFrom(...NUMBER_TEXT), { nil: undefined }),
  });
  const node = fc.record({
    op_type: fc.constantFrom('Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'Add', 'Relu', 'If', ''),
    input: fc.array(fc.constantFrom('input', 'w', 'b', 'x', 'y', 'z', ''), { maxLength: 5 }),
    output: fc.array(fc.constantFrom('y', 'z', 'x', 'out'), { minLength: 1, maxLength: 2 }),
    transB: fc.option(fc.integer({ min: -1, max: 2 }), { nil: undefined }),
    depth: fc.nat(3),
    domain: fc.constantFrom('', 'ai.onnx', 'com.microsoft'),
  });
  return fc
    .record({
      ir: fc.constantFrom(0, 3, 8, 10, -1),
      inits: fc.array(init, { maxLength: 4 }),
      nodes: fc.array(node, { maxLength: 5 }),
      inputDims: fc.array(fc.oneof(fc.constantFrom(...DIMS), fc.constant('batch')), { maxLength: 4 }),
    })
    .map(({ ir, inits, nodes, inputDims }) => {
      const subgraph = (depth: number): Record<string, unknown> => ({
        name: `g${depth}`,
        node: [{ op_type: depth ? 'If' : 'Add', input: ['w', 'x'], output: [`s${depth}`], attribute: depth ? [{ name: 'then_branch', type: 5, g: subgraph(depth - 1) }] : [] }],
      });
      const model = {
        ir_version: ir,
        opset_import: [{ domain: '', version: 17 }],
        graph: {
          name: 'hostile',
          node: nodes.map((n) => ({
            op_type: n.op_type,
            domain: n.domain,
            input: n.input,
            output: n.output,
            attribute: [
              ...(n.transB === undefined ? [] : [{ name: 'transB', type: 2, i: n.transB }]),
              ...(n.op_type === 'If' ? [{ name: 'then_branch', type: 5, g: subgraph(n.depth) }] : []),
            ],
          })),
          initializer: inits.map((t) => {
            const o: Record<string, unknown> = { name: t.name, dims: t.dims, data_type: t.data_type };
            if (t.storage === 'raw') o.raw_data = new Uint8Array(t.n);
            else if (t.storage === 'float') o.float_data = Array.from({ length: t.n }, (_, i) => i * 0.5);
            else if (t.storage === 'int32') o.int32_data = Array.from({ length: t.n }, (_, i) => i * 1000);
            else if (t.storage === 'double') o.double_data = Array.from({ length: t.n }, (_, i) => i);
            else if (t.storage === 'external') {
              o.data_location = 1;
              o.external_data = [{ key: 'location', value: t.location }, { key: 'offset', value: t.offset }, ...(t.length === undefined ? [] : [{ key: 'length', value: t.length }])];
            }
            return o;
          }),
          input: [{ name: 'input', type: { tensor_type: { elem_type: 1, shape: { dim: inputDims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } } }],
          output: [{ name: 'out' }],
        },
      };
      try {
        return encodeModel(model);
      } catch {
        return new Uint8Array(0);
      }
    });
}

/** Declared sizes and numbers a hostile pack.json could give, beside INTERESTING_JSON. */
const PACK_NUMBERS: unknown[] = [4096, 4097, 30_000, 100_000, 2 ** 31, 1e-320, 5e-324, -1e-320, 1e308, -1e308, [1e-320], [1e308], [0, 1e308], [0.5, 0.5]];
const PACK_FIELDS = ['input.width', 'input.height', 'input.channels', 'input.layout', 'input.mean', 'input.std', 'input.range', 'labels', 'model', 'modelSha256', 'signatures.0.file', 'signatures.1.file', 'conditions'];

/**
 * Pack folders made hostile (test/fixtures/hostile-pack.ts): some of its files replaced by FIFOs,
 * links to /dev/zero, out of the pack or to nothing, folders, huge sparse files, garbage; pack.json
 * edited with huge declared sizes and numbers that overflow; the inputs are the JSON of a HostileSpec.
 */
export function hostilePackFolder(files: readonly string[], replacements: readonly string[]): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      files: fc.dictionary(fc.constantFrom(...files), fc.constantFrom(...replacements), { maxKeys: 3 }),
      manifest: fc.dictionary(fc.constantFrom(...PACK_FIELDS), fc.oneof(fc.constantFrom(...PACK_NUMBERS), fc.constantFrom(...INTERESTING_JSON)), { maxKeys: 2 }),
      overflowingFog: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
      // Big label lists are slow to write and parse: rare, so the pass tries many folders.
      labelCount: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 30 },
        { arbitrary: fc.constantFrom(0, 1, 9, 11), weight: 3 },
        { arbitrary: fc.constantFrom(100_000, 100_001), weight: 1 },
      ),
    })
    .map((spec) => new TextEncoder().encode(JSON.stringify(spec)));
}
