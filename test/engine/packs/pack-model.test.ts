// A pack.json that lies about its model (or about itself) is refused, naming the field.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { loadPack, parsePackManifest } from '../../../main/engine/packs/pack.js';
import { writeFixturePack } from '../../service/fixture-pack.js';

/** The fixture pack (a 1×28×28 grey model, output "logits", 10 labels) with pack.json edited. */
function packWith(edit: (pack: Record<string, any>) => void): string {
  const dir = writeFixturePack(mkdtempSync(path.join(tmpdir(), 'rws-pack-model-')));
  const file = path.join(dir, 'pack.json');
  const pack = JSON.parse(readFileSync(file, 'utf8'));
  edit(pack);
  writeFileSync(file, JSON.stringify(pack));
  return dir;
}

async function refusal(edit: (pack: Record<string, any>) => void): Promise<RwsError> {
  const dir = packWith(edit);
  const err = await loadPack(dir).catch((e) => e);
  expect(err).toBeInstanceOf(RwsError);
  expect(err.message.startsWith(`${path.join(dir, 'pack.json')}: field "${err.field}": `)).toBe(true);
  return err;
}

describe('pack.json against its model', () => {
  it('the fixture pack itself loads', async () => {
    await expect(loadPack(packWith(() => {}))).resolves.toBeTruthy();
  });

  it('an input name the model does not have', async () => {
    const e = await refusal((p) => (p.input.name = 'input.1'));
    expect(e.field).toBe('input.name');
    expect(e.message).toMatch(/model\.onnx has no input "input\.1" \(its inputs: input\)/);
  });

  it('an output name the model does not have', async () => {
    const e = await refusal((p) => (p.output.name = 'output'));
    expect(e.field).toBe('output.name');
    expect(e.message).toMatch(/has no output "output" \(its outputs: logits\)/);
  });

  it('a width, height or channel count the model does not take', async () => {
    expect((await refusal((p) => (p.input.width = 32))).message).toMatch(/field "input\.width": 32, but model\.onnx's input "input" is \[batch, 1, 28, 28\] \(NCHW\): width 28/);
    expect((await refusal((p) => (p.input.height = 30))).field).toBe('input.height');
    const c = await refusal((p) => Object.assign(p.input, { channels: 3, colorSpace: 'rgb' }));
    expect(c.field).toBe('input.channels');
  });

  it('a layout the other way round', async () => {
    const e = await refusal((p) => (p.input.layout = 'NHWC'));
    // [batch, 1, 28, 28] read as NHWC has 28 channels; the model's own channel count sits at dim 1.
    expect(e.field).toBe('input.layout');
    expect(e.message).toMatch(/its channels come second \(NCHW\)/);
  });

  it('a label count that differs from the classes', async () => {
    const e = await refusal((p) => p.labels.pop());
    expect(e.field).toBe('labels');
    expect(e.message).toMatch(/9 labels, but model\.onnx's output "logits" \[batch, 10\] has 10 classes/);
  });
});

describe('pack.json against itself', () => {
  const base = { name: 'x', layout: 'NCHW', width: 224, height: 224, channels: 3, colorSpace: 'rgb', range: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'fill' };
  const parse = (input: Record<string, unknown>) => () =>
    parsePackManifest(JSON.stringify({ format: 'rws-pack/1', id: 'p', name: 'p', version: '1', task: 'classification', model: 'm.onnx', input: { ...base, ...input }, output: { name: 'o', kind: 'logits' }, labels: ['a'] }), 'pack.json');

  it('accepts ImageNet preprocessing in 0-1 and in 0-255 units', () => {
    expect(parse({})).not.toThrow();
    expect(parse({ range: [0, 255], mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] })).not.toThrow();
    expect(parse({ resize: 'cover', shorterSide: 256 })).not.toThrow();
  });

  it('refuses a mean in 0-255 units with values in 0-1, and the other way round', () => {
    expect(parse({ mean: [123.675, 116.28, 103.53] })).toThrow(/pack\.json: field "input\.mean": \[123\.675, 116\.28, 103\.53\] is in 0-255 units but input\.range is \[0, 1\]/);
    expect(parse({ std: [58.4, 57.1, 57.4] })).toThrow(/field "input\.std"/);
    expect(parse({ range: [0, 255] })).toThrow(/field "input\.std": \[0\.229, 0\.224, 0\.225\] is in 0-1 units but input\.range is \[0, 255\]/);
  });

  it('refuses grey with 3 channels, rgb with 1, and a mean per channel of the wrong length', () => {
    expect(parse({ colorSpace: 'grey' })).toThrow(/field "input\.colorSpace": "grey" with 3 channels/);
    expect(parse({ channels: 1, mean: [0.5], std: [0.5] })).toThrow(/field "input\.colorSpace": "rgb" with 1 channel/);
    expect(parse({ mean: [0.5, 0.5] })).toThrow(/field "input\.mean": 2 values for 3 channels/);
  });

  it('refuses a range that does not go up, and a crop larger than its shorter side', () => {
    expect(parse({ range: [1, 0] })).toThrow(/field "input\.range"/);
    expect(parse({ resize: 'cover', shorterSide: 200 })).toThrow(/field "input\.shorterSide": 200 is smaller than the 224×224 crop/);
    expect(parse({ shorterSide: 256 })).toThrow(/field "input\.shorterSide": only applies to resize "cover"/);
  });
});
