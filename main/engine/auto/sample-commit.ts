// `--mix auto` over a folder: sample, then commit. The first images of each folder (and of every
// chunk of a long one) are classified under every candidate mix (the clean model included); the
// model's own outputs score each candidate without labels (main/core/auto-check.ts), and once the
// choice is clear (a wide lead on the first images, or the margin's verdict after up to `maxSample`
// images when candidates are close) the best one, if it beats the clean model by a margin, is used
// for the rest of the chunk. Images in the sample get the choice the sample so far supports, from outputs already
// computed, so the sample costs only the other candidates' runs. No classifier is needed, so the
// choice holds on weather made by any implementation; each folder and each new chunk samples again,
// following a tree whose conditions change from folder to folder or along a long folder's paths.
// When the sample cannot tell the best two patches apart (the margin's verdict after `maxSample`
// images) and they classify more than one image in twenty differently, the chunk hedges: every image
// runs under both and takes the mean of their probabilities. Where they agree on nearly every image,
// which one is used hardly matters (their accuracies differ by at most the share they disagree on),
// and the chunk keeps the one that scored best, at the cost of one run.
import { disagreement, OutputTally, verdict, type CandidateCheck, type OutputCheck } from '../../core/auto-check.js';
import { mixKey } from '../../core/mix.js';
import type { ConditionMix } from '../../core/signature.js';
import { blendOutputs, choiceName, type AutoCandidate, type AutoChoice, type AutoRun, type MixRunner } from './choice.js';

/** Tuning of `SampleCommit`. */
export interface SampleCommitOptions {
  /** Images scored under every candidate before the choice may be committed. */
  sample?: number;
  /** Most images scored under every candidate when the choice stays close (sampled in doublings from `sample`). */
  maxSample?: number;
  /** Images per chunk: each chunk samples anew. */
  chunk?: number;
  /** Score a candidate must gain over the clean model (nats) to be chosen, on 32 images (less on more: auto-check.ts `marginAt`). */
  margin?: number;
}

export const SAMPLE_COMMIT_DEFAULTS: Required<SampleCommitOptions> = { sample: 32, maxSample: 256, chunk: 2048, margin: 0.05 };

/** Share of the sample's images two close candidates must classify differently for a chunk to hedge between them. */
export const HEDGE_DISAGREEMENT = 0.05;

/** A candidate with its outputs' check on the sample, as `rws run --mix auto` reports it. */
export interface SampleReport {
  /** The folder (path inside the input, `''` for the top or a run without paths). */
  folder: string;
  chunk: number;
  images: number;
  chosen: string;
  abstained: boolean;
  checks: { id: string; check: OutputCheck }[];
}

/** A choice on the sample so far, whether it is settled, the checks it rests on, and the hedge a commit would take. */
interface Judged {
  choice: AutoChoice;
  settled: boolean;
  checks: CandidateCheck<ConditionMix>[];
  hedge?: AutoChoice['blend'];
}

/** What one folder (or the whole run) has learnt: its current chunk's sample and choice. */
interface Stream {
  seen: number;
  chunkStart: number;
  tallies: Map<string, OutputTally>;
  committed: AutoChoice | undefined;
  lastId: string;
}

/** Folders whose state is kept at once (a run goes through its folders in path order). */
const KEPT_FOLDERS = 64;

/**
 * A run's whole listing, to decide each folder's chunks on fixed images: the chunk's first `sample`
 * (up to `maxSample`) files in listing order, whichever shard, batch or resumed run meets the chunk first. `decode` gives
 * an image's input tensor (undefined for one that fails: it is left out of the sample).
 */
export interface SampleListing<F extends { rel: string }> {
  files: readonly F[];
  decode: (file: F) => Promise<Float32Array | undefined>;
  /** Images per inference. */
  batch: number;
}

/** The folder key of a path inside the input (`''` for the top). */
function folderOf(file: string): string {
  return file.slice(0, Math.max(0, file.lastIndexOf('/')));
}

/**
 * Sample-then-commit over a run's images in the order they come, each folder on its own when the
 * images' paths are given (a folder usually holds one place and time: one weather).
 */
export class SampleCommit {
  private readonly opts: Required<SampleCommitOptions>;
  private readonly all: AutoCandidate[];
  private readonly streams = new Map<string, Stream>();
  /** One entry per chunk decided so far. */
  readonly reports: SampleReport[] = [];

  constructor(
    private readonly runner: MixRunner,
    candidates: readonly AutoCandidate[],
    private readonly classes: number,
    private readonly kind: 'logits' | 'probabilities',
    opts: SampleCommitOptions = {},
  ) {
    this.opts = { ...SAMPLE_COMMIT_DEFAULTS, ...opts };
    this.opts.maxSample = Math.max(this.opts.sample, this.opts.maxSample);
    const seen = new Set<string>(['off']);
    this.all = [{ id: 'clean', mix: {} }];
    for (const c of candidates) {
      const key = mixKey(c.mix);
      if (seen.has(key)) continue;
      seen.add(key);
      this.all.push(c);
    }
  }

  /** With a listing: each file's chunk and each chunk's sample (planned by `plan`). */
  private planned?: { chunkOf: Map<string, string>; samples: Map<string, (from: number, to: number) => Promise<Float32Array[]>>; batch: number };
  /** Choices committed per chunk of a planned run (kept for the folders in flight; a chunk evicted decides again, the same). */
  private readonly decided = new Map<string, AutoChoice>();

  /**
   * Decides each folder chunk on the chunk's first images of the whole listing (all shards), so a
   * chunk's choice is the same in a single run, in every shard, after a resume and at any batch size.
   * The sample images are decoded again and run under every candidate when their chunk first comes.
   */
  plan<F extends { rel: string }>(listing: SampleListing<F>): void {
    const chunkOf = new Map<string, string>();
    const members = new Map<string, F[]>();
    const count = new Map<string, number>();
    for (const f of listing.files) {
      const folder = folderOf(f.rel);
      const i = count.get(folder) ?? 0;
      count.set(folder, i + 1);
      const key = `${folder}#${Math.floor(i / this.opts.chunk)}`;
      chunkOf.set(f.rel, key);
      let m = members.get(key);
      if (!m) members.set(key, (m = []));
      if (m.length < this.opts.maxSample) m.push(f);
    }
    const samples = new Map<string, (from: number, to: number) => Promise<Float32Array[]>>();
    for (const [key, files] of members) {
      samples.set(key, async (from, to) => (await Promise.all(files.slice(from, to).map((f) => listing.decode(f)))).filter((t): t is Float32Array => t !== undefined));
    }
    this.planned = { chunkOf, samples, batch: Math.max(1, listing.batch) };
  }

  /** The candidates it chooses among, the clean model first. */
  get candidates(): readonly AutoCandidate[] {
    return this.all;
  }

  /**
   * Runs one batch (batch-first `dims`) with the mix each image's folder supports so far; `files`
   * (each image's path, `/`-separated) splits the batch by folder, without it the run is one folder.
   */
  async run(input: Float32Array, dims: number[], files?: readonly string[]): Promise<AutoRun> {
    const n = dims[0]!;
    const groups = new Map<string, number[]>();
    const planned = this.planned;
    for (let i = 0; i < n; i++) {
      const f = files?.[i];
      const key = f === undefined ? '' : planned ? (planned.chunkOf.get(f) ?? `${folderOf(f)}#?`) : folderOf(f);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(i);
    }
    const group = (key: string, x: Float32Array, d: number[]) => (planned ? this.runChunk(key, x, d) : this.runGroup(key, x, d));
    if (groups.size === 1) return group([...groups.keys()][0]!, input, dims);
    const per = input.length / n;
    const scores = new Float32Array(n * this.classes);
    const choices: AutoChoice[] = new Array(n);
    for (const [key, idx] of groups) {
      const sub = new Float32Array(idx.length * per);
      idx.forEach((src, j) => sub.set(input.subarray(src * per, (src + 1) * per), j * per));
      const r = await group(key, sub, [idx.length, ...dims.slice(1)]);
      idx.forEach((dst, j) => {
        scores.set(r.scores.subarray(j * this.classes, (j + 1) * this.classes), dst * this.classes);
        choices[dst] = r.choices[j]!;
      });
    }
    return { scores, choices };
  }

  private stream(key: string): Stream {
    let st = this.streams.get(key);
    if (!st) {
      st = { seen: 0, chunkStart: 0, tallies: new Map(), committed: undefined, lastId: 'clean' };
      this.streams.set(key, st);
      if (this.streams.size > KEPT_FOLDERS) this.streams.delete(this.streams.keys().next().value!);
    }
    return st;
  }

  /** A planned chunk: decided once on its sample, then every image of it runs under the choice. */
  private async runChunk(key: string, input: Float32Array, dims: number[]): Promise<AutoRun> {
    const n = dims[0]!;
    let choice = this.decided.get(key);
    if (!choice) {
      const sample = this.planned!.samples.get(key);
      // A file outside the listing (it appeared after the walk) decides on itself.
      const own = Array.from({ length: n }, (_, i) => input.subarray((i * input.length) / n, ((i + 1) * input.length) / n));
      choice = await this.decide(key, sample ?? (async (from) => (from === 0 ? own : [])), dims.slice(1));
      this.decided.set(key, choice);
      if (this.decided.size > KEPT_FOLDERS) this.decided.delete(this.decided.keys().next().value!);
    }
    const scores = await this.runUnder(choice, input, dims);
    return { scores, choices: Array.from({ length: n }, () => ({ ...choice, switched: false })) };
  }

  /**
   * Runs the sample under every candidate, in batches of the run's size, a doubling at a time (the
   * chunk's images `sample`, then up to 2·`sample`, …, `maxSample`) until the choice is settled.
   */
  private async decide(key: string, images: (from: number, to: number) => Promise<Float32Array[]>, shape: number[]): Promise<AutoChoice> {
    const batch = this.planned!.batch;
    const tallies = this.all.map(() => new OutputTally(this.classes));
    const [folder = '', chunk = '0'] = key.split(/#(?=[^#]*$)/);
    let from = 0;
    for (let to = this.opts.sample; ; to = Math.min(this.opts.maxSample, to * 2)) {
      const part = from < to ? await images(from, to) : [];
      for (const [j, c] of this.all.entries()) {
        if (!part.length) break;
        await this.runner.setMix(c.mix);
        for (let i = 0; i < part.length; i += batch) {
          const some = part.slice(i, i + batch);
          const x = new Float32Array(some.reduce((a, t) => a + t.length, 0));
          let at = 0;
          for (const t of some) (x.set(t, at), (at += t.length));
          tallies[j]!.add(await this.runner.run(x, [some.length, ...shape]), this.kind);
        }
      }
      from = to;
      const judged = this.judge(tallies);
      // The chunk has no more images to sample (or every one failed to decode): the margin decides now.
      if (judged.settled || !part.length || to >= this.opts.maxSample) return this.commit(judged, folder, Number(chunk) || 0);
    }
  }

  /** Each candidate's check against the clean model's: the choice on the images so far (not yet marked switched) and whether it is settled. */
  private judge(tallies: readonly OutputTally[]): Judged {
    const checks: CandidateCheck<ConditionMix>[] = this.all.map((c, j) => ({ id: c.id, value: c.mix, check: tallies[j]!.check() }));
    const images = tallies[0]!.images;
    const { choice: pick, settled, clear, second, secondAhead } = verdict(checks, 'clean', this.opts.margin, this.opts.maxSample);
    const choice = { mix: { ...pick.value }, id: pick.id, severity: 0, confidence: certainty(pick.lead, images), switched: false, evidence: { gain: pick.gain, images, abstained: pick.abstained } };
    // A close call between two patches, each ahead of the clean model by the margin, that disagree on
    // enough images: hedge between them if committed now.
    let hedge: Judged['hedge'];
    if (!clear && !pick.abstained && pick.id !== 'clean' && second && secondAhead) {
      const at = (id: string) => tallies[this.all.findIndex((c) => c.id === id)]!;
      if (disagreement(at(pick.id), at(second.id)) > HEDGE_DISAGREEMENT) hedge = { id: second.id, mix: { ...second.value } };
    }
    return { choice, settled, checks, ...(hedge ? { hedge } : {}) };
  }

  /** Commits a judged choice for a folder's chunk (with its hedge, if any): it is reported, and returned. */
  private commit(j: Judged, folder: string, chunk: number): AutoChoice {
    const choice: AutoChoice = j.hedge ? { ...j.choice, blend: j.hedge } : j.choice;
    const e = choice.evidence!;
    this.reports.push({ folder, chunk, images: e.images, chosen: choiceName(choice), abstained: e.abstained, checks: j.checks.map((c) => ({ id: c.id, check: c.check })) });
    return choice;
  }

  /** A batch under a committed choice: its mix, or for a hedge the mean of both mixes' probabilities. */
  private async runUnder(choice: AutoChoice, input: Float32Array, dims: number[]): Promise<Float32Array> {
    await this.runner.setMix(choice.mix);
    const a = await this.runner.run(input, dims);
    if (!choice.blend) return a;
    await this.runner.setMix(choice.blend.mix);
    return blendOutputs(a, await this.runner.run(input, dims), this.classes, this.kind);
  }

  private async runGroup(key: string, input: Float32Array, dims: number[]): Promise<AutoRun> {
    const st = this.stream(key);
    const n = dims[0]!;
    if (st.seen - st.chunkStart >= this.opts.chunk) {
      st.chunkStart = st.seen;
      st.tallies = new Map();
      st.committed = undefined;
    }
    st.seen += n;
    if (st.committed) {
      const scores = await this.runUnder(st.committed, input, dims);
      return { scores, choices: Array.from({ length: n }, () => ({ ...st.committed!, switched: false })) };
    }
    const outs = new Map<string, Float32Array>();
    for (const c of this.all) {
      await this.runner.setMix(c.mix);
      const out = await this.runner.run(input, dims);
      outs.set(c.id, out);
      let t = st.tallies.get(c.id);
      if (!t) st.tallies.set(c.id, (t = new OutputTally(this.classes)));
      t.add(out, this.kind);
    }
    const images = st.tallies.get('clean')!.images;
    const tallies = this.all.map((c) => st.tallies.get(c.id)!);
    // From `sample` images on, a clear choice is committed; a close one samples on up to `maxSample`.
    const judged = this.judge(tallies);
    const commit = images >= this.opts.sample && (images >= this.opts.maxSample || judged.settled);
    const choice = commit ? this.commit(judged, key, this.reports.filter((r) => r.folder === key).length) : judged.choice;
    choice.switched = choiceName(choice) !== st.lastId;
    st.lastId = choiceName(choice);
    if (commit) st.committed = choice;
    const scores = choice.blend ? blendOutputs(outs.get(choice.id)!, outs.get(choice.blend.id)!, this.classes, this.kind) : outs.get(choice.id)!;
    return { scores, choices: Array.from({ length: n }, (_, i) => ({ ...choice, switched: i === 0 && choice.switched })) };
  }
}

/**
 * How sure a check-based choice is, 0..1, for the UI: its lead over the next candidate (nats per
 * image) over the images it rests on, as a logistic in lead·√n (0.5: a coin toss; abstaining, below).
 */
export function certainty(lead: number, images: number): number {
  if (images <= 0) return 0;
  if (lead === Infinity) return 1;
  return 1 / (1 + Math.exp(-4 * lead * Math.sqrt(images)));
}
