import { describe, expect, expectTypeOf, it } from 'vitest';
import { CHANNELS, COMMANDS, EVENT_CHANNELS, EVENTS, type CommandArgs, type CommandName, type CommandResults, type RwsApi } from '../../main/api/contract.js';
import { fromApiError, toApiError } from '../../main/api/errors.js';
import { parseArgs, schemas } from '../../main/api/schemas.js';
import { RwsError } from '../../main/core/errors.js';

describe('api contract', () => {
  it('has one channel per command and per event, all distinct', () => {
    expect(Object.keys(CHANNELS).sort()).toEqual([...COMMANDS].sort());
    expect(Object.keys(EVENT_CHANNELS).sort()).toEqual([...EVENTS].sort());
    const all = [...Object.values(CHANNELS), ...Object.values(EVENT_CHANNELS)];
    expect(new Set(all).size).toBe(all.length);
    expect(CHANNELS.setMix).toBe('rws:setMix');
  });

  it('accepts well-formed arguments', () => {
    expect(parseArgs('setMix', { mix: { fog: 0.8 } }).mix).toEqual({ fog: 0.8 });
    expect(parseArgs('setMix', { mix: 'fog=0.8,low-light=1' }).mix).toBe('fog=0.8,low-light=1');
    expect(parseArgs('getState', undefined)).toBeUndefined();
    expect(parseArgs('loadPack', {})).toEqual({});
    const f = parseArgs('classifyFrame', { width: 2, height: 2, channels: 1, data: new Float32Array(4), compare: true });
    expect(f.data).toBeInstanceOf(Float32Array);
  });

  it('refuses bad arguments with an RwsError naming the field', () => {
    const cases: [keyof typeof schemas, unknown, string][] = [
      ['setDevice', { device: 'tpu' }, 'device'],
      ['setMix', { mix: { Fog: 1 } }, 'mix'],
      ['setMix', { mix: { fog: Number.NaN } }, 'mix'],
      ['classifyFrame', { width: 2, height: 2, channels: 1, data: [1, 2, 3] }, 'data'],
      ['classifyFrame', { width: 2, height: 2, channels: 2, data: [1, 2, 3, 4, 5, 6, 7, 8] }, 'channels'],
      ['startFolderRun', { inputs: [], output: 'x' }, 'inputs'],
      ['exportResults', { format: 'xml', file: 'a' }, 'format'],
      ['getState', { extra: 1 }, '(arguments)'],
      ['previewCondition', { condition: 'fog', severity: 9, image: { width: 1, height: 1, channels: 1, data: [0] } }, 'severity'],
    ];
    for (const [cmd, args, field] of cases) {
      let err: unknown;
      try {
        parseArgs(cmd, args);
      } catch (e) {
        err = e;
      }
      expect(err, `${cmd} ${JSON.stringify(args)}`).toBeInstanceOf(RwsError);
      expect((err as RwsError).code).toBe('bad-argument');
      expect((err as RwsError).field).toContain(field === '(arguments)' ? '' : field);
      expect((err as RwsError).message).toContain(cmd);
    }
  });

  it('carries errors across a transport unchanged', () => {
    const e = new RwsError('pack-field', 'p/pack.json: field "labels": required', { file: 'p/pack.json', field: 'labels' });
    const wire = JSON.parse(JSON.stringify(toApiError(e)));
    const back = fromApiError(wire);
    expect(back).toBeInstanceOf(RwsError);
    expect([back.code, back.message, back.file, back.field]).toEqual([e.code, e.message, e.file, e.field]);
    expect(toApiError('boom')).toEqual({ code: 'internal', message: 'boom' });
  });

  it('has one schema per command, and types window.rws as one function per command', () => {
    expect(Object.keys(schemas).sort()).toEqual([...COMMANDS].sort());
    // Checked by `tsc -p tsconfig.test.json` (npm test): the API's functions are exactly the commands plus the host's extras.
    expectTypeOf<Exclude<keyof RwsApi, CommandName>>().toEqualTypeOf<'on' | 'host' | 'pickFolder' | 'pickSaveFile' | 'openPath' | 'onConnection'>();
    expectTypeOf<RwsApi['setMix']>().parameter(0).toEqualTypeOf<CommandArgs<'setMix'>>();
    expectTypeOf<ReturnType<RwsApi['setMix']>>().toEqualTypeOf<Promise<CommandResults['setMix']>>();
  });
});
