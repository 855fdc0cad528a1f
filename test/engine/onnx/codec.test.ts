// The engine's ONNX codec is generated from onnx.proto3 (scripts/gen-onnx-codec.mjs): it must be what
// the schema generates now, and read and write every model as protobufjs's reflection of the same
// schema does, byte for byte, so that a model written back keeps every field.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPackDir } from '../../../main/engine/packs/pack.js';
import { installRoot } from '../../../main/engine/io/install-root.js';
import { decodeModelProto, encodeModelProto } from '../../../main/engine/onnx/onnx-proto.js';
import { mobilenetV3SmallLike, smallResNet, tinyConvNet } from '../../fixtures/models.js';
import { onnxType } from '../../fixtures/onnx-reflect.js';

describe('the generated ONNX codec', () => {
  it('is what onnx.proto3 generates now', () => {
    // Exits 1, naming the file, when the schema changed and the codec was not regenerated.
    expect(() => execFileSync(process.execPath, [path.join(installRoot(), 'scripts/gen-onnx-codec.mjs'), '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('decodes and re-encodes models exactly as protobufjs reflection does', () => {
    const models: [string, Uint8Array][] = [
      ['tiny conv net', tinyConvNet().bytes],
      ['small ResNet', smallResNet().bytes],
      ['MobileNetV3-like (squeeze-excite, hard-swish)', mobilenetV3SmallLike().bytes],
      ['the default pack', readFileSync(path.join(defaultPackDir(), 'model.onnx'))],
    ];
    const ModelProto = onnxType('ModelProto');
    for (const [name, bytes] of models) {
      const ours = decodeModelProto(bytes);
      const theirs = ModelProto.decode(bytes);
      // Each decode written by each encoder: the same bytes four times over.
      const want = Buffer.from(ModelProto.encode(theirs).finish());
      expect(Buffer.from(encodeModelProto(ours)).equals(want), name).toBe(true);
      expect(Buffer.from(ModelProto.encode(ours as never).finish()).equals(want), name).toBe(true);
      expect(Buffer.from(encodeModelProto(theirs as never)).equals(want), name).toBe(true);
    }
  });

  it('refuses bytes that are not a model', () => {
    expect(() => decodeModelProto(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))).toThrow();
  });
});
