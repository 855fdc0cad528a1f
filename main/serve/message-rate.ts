/**
 * Per-connection bound on WebSocket message rates for `rws serve`: a token bucket (steady rate
 * plus a burst), and a count of refusals in a row so a client that keeps flooding is cut off.
 */

export interface MessageRateOptions {
  /** Steady messages per second (default 200: a 60 fps camera plus mix changes, with room). */
  perSecond?: number;
  /** Messages allowed at once above the steady rate (default 200). */
  burst?: number;
  /** Refusals in a row after which the connection is closed (default 400). */
  closeAfter?: number;
}

export type RateVerdict = 'ok' | 'refuse' | 'close';

/** A token bucket for one connection; `now` is milliseconds (injectable for tests). */
export class MessageRate {
  readonly perSecond: number;
  readonly burst: number;
  readonly closeAfter: number;
  private tokens: number;
  private last: number;
  private refusedInRow = 0;

  constructor(opts: MessageRateOptions = {}, private readonly now: () => number = () => performance.now()) {
    this.perSecond = opts.perSecond ?? 200;
    this.burst = opts.burst ?? 200;
    this.closeAfter = opts.closeAfter ?? 400;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Take one message: 'ok' to handle it, 'refuse' to answer with an error, 'close' to drop the connection. */
  take(): RateVerdict {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusedInRow = 0;
      return 'ok';
    }
    this.refusedInRow++;
    return this.refusedInRow >= this.closeAfter ? 'close' : 'refuse';
  }
}
