import { describe, expect, it } from 'vitest';
import { MessageRate } from '../../main/serve/message-rate.js';

describe('MessageRate', () => {
  it('passes the burst, then the steady rate, refuses above it and says close after enough refusals in a row', () => {
    let t = 0;
    const r = new MessageRate({ perSecond: 100, burst: 5, closeAfter: 3 }, () => t);
    expect(Array.from({ length: 5 }, () => r.take())).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(r.take()).toBe('refuse');
    t += 10; // one token back
    expect([r.take(), r.take()]).toEqual(['ok', 'refuse']);
    expect(r.take()).toBe('refuse');
    expect(r.take()).toBe('close');
  });

  it('a 60 fps camera with a mix change each frame stays within the defaults', () => {
    let t = 0;
    const r = new MessageRate({}, () => t);
    const verdicts = new Set<string>();
    for (let frame = 0; frame < 60 * 60; frame++) {
      t += 1000 / 60;
      verdicts.add(r.take());
      verdicts.add(r.take());
    }
    expect([...verdicts]).toEqual(['ok']);
  });

  it('the idle bucket refills only up to the burst', () => {
    let t = 0;
    const r = new MessageRate({ perSecond: 10, burst: 2, closeAfter: 100 }, () => t);
    t += 60_000;
    expect([r.take(), r.take(), r.take()]).toEqual(['ok', 'ok', 'refuse']);
  });
});
