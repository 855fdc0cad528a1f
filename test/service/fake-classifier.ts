// A stand-in for the engine's RemotePatcher so the service and serve tests run without onnxruntime:
// its "prediction" is a pure function of the input's mean and the mix, and it records its calls.
import type { Classifier, ClassifierFactory } from '../../main/service/models.js';
import type { ConditionMix } from '../../main/api/contract.js';
import { RwsError } from '../../main/core/errors.js';

export class FakeClassifier implements Classifier {
  mix: ConditionMix = {};
  calls: string[] = [];
  disposed = false;
  /** Make the next run fail as a dead inference worker does. */
  crashNext = false;
  readonly strategy = 'fake';
  readonly warnings: string[] = [];
  constructor(
    readonly signatures: string[],
    readonly device: string,
    readonly delayMs = 0,
  ) {}

  async setMix(mix: ConditionMix): Promise<void> {
    for (const id of Object.keys(mix)) if (!this.signatures.includes(id)) throw new Error(`fake: no signature ${id}`);
    this.calls.push(`setMix ${JSON.stringify(mix)}`);
    this.mix = { ...mix };
  }

  async run(input: Float32Array, dims: number[]): Promise<Float32Array> {
    this.calls.push(`run ${dims.join('x')}`);
    if (this.crashNext) throw new RwsError('worker-exited', 'the inference worker exited (code 1)');
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const n = dims[0]!;
    const per = input.length / n;
    const out = new Float32Array(n * 10);
    for (let b = 0; b < n; b++) {
      let mean = 0;
      for (let i = 0; i < per; i++) mean += input[b * per + i]!;
      mean /= per;
      const shift = 3 * (this.mix.fog ?? 0) + 5 * (this.mix['low-light'] ?? 0);
      const target = (((Math.round(mean * 4 + 4 + shift) % 10) + 10) % 10);
      for (let j = 0; j < 10; j++) out[b * 10 + j] = -((j - target) ** 2) / 4;
    }
    return out;
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** A factory that makes FakeClassifiers and keeps them for inspection. */
export function fakeFactory(opts: { delayMs?: number } = {}): ClassifierFactory & { made: FakeClassifier[]; delay: { ms: number } } {
  const made: FakeClassifier[] = [];
  const delay = { ms: opts.delayMs ?? 0 };
  const f = (async (_model: string, signatureFiles: Map<string, string>, opts: { device: string }) => {
    const c = new FakeClassifier([...signatureFiles.keys()], opts.device === 'auto' ? 'cpu' : opts.device, delay.ms);
    made.push(c);
    return c;
  }) as unknown as ClassifierFactory & { made: FakeClassifier[] };
  f.made = made;
  return Object.assign(f, { delay });
}
