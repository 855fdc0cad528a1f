// Rolling frame statistics for the camera view (and for the bench, which reads them from the page).

/** Latencies of the last `size` frames and their arrival times, for p50/p95 and FPS. */
export class FrameStats {
  private lat: number[] = [];
  private times: number[] = [];
  constructor(private readonly size = 120) {}

  /** Record one frame: `latency` ms from grab to prediction shown, at time `now` (ms). */
  add(latency: number, now: number): void {
    this.lat.push(latency);
    this.times.push(now);
    if (this.lat.length > this.size) {
      this.lat.shift();
      this.times.shift();
    }
  }

  reset(): void {
    this.lat = [];
    this.times = [];
  }

  get count(): number {
    return this.lat.length;
  }

  /** The q-quantile (0..1) of the recorded latencies, nearest rank; NaN when empty. */
  quantile(q: number): number {
    if (this.lat.length === 0) return NaN;
    const s = [...this.lat].sort((a, b) => a - b);
    const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
    return s[i]!;
  }

  /** Frames per second over the recorded window; 0 with fewer than two frames. */
  fps(): number {
    const n = this.times.length;
    if (n < 2) return 0;
    const span = this.times[n - 1]! - this.times[0]!;
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  /** Raw latencies (oldest first), for the bench. */
  latencies(): number[] {
    return [...this.lat];
  }
}
