// A training's saved state, so that a stopped or killed `rws train` goes on where it was: the
// trainable weights and the optimizer's momentum (as the backend writes them), the step reached,
// and everything that decides what the remaining steps do. The data order, corruptions and
// learning rate follow from the seed and the step number, so a resumed run takes the same steps
// as an uninterrupted one. The state is written atomically: weights under a new name first, then
// state.json naming them, then the old weights removed; a kill at any point leaves a usable state.
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { NuisanceLevel } from '../../core/corruptions/nuisance.js';
import { RwsError } from '../../core/errors.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { TorchGraph } from './torch-graph.js';

/** The settings that decide a training's steps (train-signature.ts `TrainSettings` adds the rest). */
export interface TrainSteps {
  condition: string;
  id: string;
  labels: 'folder' | 'model';
  epochs: number;
  batch: number;
  /** Peak learning rate of the one-cycle schedule. */
  lr: number;
  /** Share of training images shown clean (keeps the patched model right where nothing is wrong). */
  cleanShare: number;
  weightDecay: number;
  /**
   * `adapt`: BatchNorm statistics of the trained layers follow the training batches and are folded
   * into the signature (as the recipe trains); `fixed`: they stay the clean model's.
   */
  batchNorm: 'adapt' | 'fixed';
  seed: number;
  /** Images held back from training to measure the signature on. */
  holdout: number;
  /** Lineages or family ids left out of training (leave-one-family-out). */
  exclude: string[];
  strength: [number, number];
  /** Camera nuisances on a share of the corrupted images, and their reach (`--nuisances [level]`); absent when off. */
  nuisances?: NuisanceLevel;
}

/** What decides the training's steps: resuming with any of it changed is refused, naming the field. */
export type TrainIdentity = TrainSteps & {
  /** SHA-256 of the model file. */
  model: string;
  /** SHA-256 of the training images and labels (train-data.ts `dataFingerprint`). */
  data: string;
  /** The trained tensors, in order. */
  tensors: string[];
  /**
   * With --labels model: the temperature the clean model's probabilities are sharpened to (each
   * step sharpens them; 1 before rws train sharpened). Absent with labels.
   */
  targetTemperature?: number;
};

/** The flag a user changes to change each field (for the refusal's message). */
const FLAG: Record<keyof TrainIdentity, string> = {
  model: 'the pack\'s model',
  data: '--data (its images or labels changed)',
  condition: '--condition',
  id: '--id',
  tensors: '--layers',
  labels: '--labels',
  epochs: '--epochs',
  batch: '--batch',
  lr: '--lr',
  cleanShare: '--clean-share',
  weightDecay: '--weight-decay',
  batchNorm: '--batchnorm',
  seed: '--seed',
  holdout: '--holdout',
  exclude: '--exclude-family',
  strength: '--strength',
  nuisances: '--nuisances',
  targetTemperature: 'temperature of the clean model\'s targets (set by this version of rws train, not by a flag)',
};

export interface TrainProgressRecord {
  epoch: number;
  /** Mean training loss and the share of images whose top class was the target's. */
  loss: number;
  agreement: number;
}

/** state.json. */
export interface TrainState {
  format: 'rws-train/1';
  identity: TrainIdentity;
  /** Steps done. */
  step: number;
  totalSteps: number;
  /** The weights file (inside the state folder) holding the weights after `step` steps. */
  weights?: string;
  /** Seconds of training so far, over every run of it. */
  seconds: number;
  /** Per finished epoch. */
  epochs: TrainProgressRecord[];
  /** Loss and hits summed over the current epoch's steps so far. */
  running: { loss: number; hits: number; images: number };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The state folder of one training: its state.json, weights, and the clean model's targets. */
export class TrainCheckpoint {
  constructor(readonly dir: string) {}

  get stateFile(): string {
    return path.join(this.dir, 'state.json');
  }

  private get targetsFile(): string {
    return path.join(this.dir, 'targets.f32');
  }

  /** The saved state, or undefined when there is none. */
  async read(): Promise<TrainState | undefined> {
    let text: string;
    try {
      text = await readFile(this.stateFile, 'utf8');
    } catch {
      return undefined;
    }
    let state: TrainState;
    try {
      state = JSON.parse(text) as TrainState;
    } catch (e) {
      throw new RwsError('train-state', `${this.stateFile}: not valid JSON (${(e as Error).message}); remove ${this.dir} to start over`, { file: this.stateFile });
    }
    if (state.format !== 'rws-train/1') throw new RwsError('train-state', `${this.stateFile}: field "format": "${state.format}" is not rws-train/1; remove ${this.dir} to start over`, { file: this.stateFile, field: 'format' });
    return state;
  }

  /**
   * The state to start from: none for a new training. A saved state is refused without `resume`
   * (a run must not silently restart or continue), and when `identity` differs from it.
   */
  async start(identity: TrainIdentity, resume: boolean): Promise<TrainState | undefined> {
    const saved = await this.read();
    if (!saved) return undefined;
    if (!resume) {
      throw new RwsError('usage-train-exists', `${this.stateFile}: a training of "${saved.identity.id}" stopped here at step ${saved.step} of ${saved.totalSteps}: add --resume to continue it, or remove ${this.dir} to start over`, { file: this.stateFile, field: '--resume' });
    }
    for (const key of Object.keys(FLAG) as (keyof TrainIdentity)[]) {
      if (!same(saved.identity[key], identity[key])) {
        // A state saved before the targets were sharpened has no temperature: theirs was 1.
        const before = key === 'targetTemperature' && saved.identity.labels === 'model' ? (saved.identity[key] ?? 1) : saved.identity[key];
        const was = key === 'model' || key === 'data' ? '' : ` (it was ${JSON.stringify(before)}, now ${JSON.stringify(identity[key])})`;
        throw new RwsError('usage-train-changed', `${this.stateFile}: field "identity.${key}": this training was started with another ${FLAG[key]}${was}: resume it with the same settings, or remove ${this.dir} to start over`, { file: this.stateFile, field: `identity.${key}` });
      }
    }
    return saved;
  }

  /** Saves the backend's weights and momentum, then the state naming them; older weights go. */
  async save(graph: TorchGraph, state: Omit<TrainState, 'weights' | 'format'>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const weights = `weights-${state.step}.safetensors`;
    await graph.save(path.join(this.dir, weights));
    await writeFileAtomic(this.stateFile, `${JSON.stringify({ format: 'rws-train/1', ...state, weights }, null, 1)}\n`);
    for (const f of await readdir(this.dir)) {
      if (/^weights-\d+\.safetensors$/.test(f) && f !== weights) await rm(path.join(this.dir, f), { force: true });
    }
  }

  /** Puts a saved state's weights and momentum back into the backend. */
  async restore(graph: TorchGraph, state: TrainState): Promise<void> {
    if (!state.weights) return;
    await graph.restore(path.join(this.dir, state.weights));
  }

  /** The clean model's targets saved by `saveTargets`, if their size fits. */
  async targets(count: number): Promise<Float32Array | undefined> {
    try {
      const bytes = await readFile(this.targetsFile);
      if (bytes.length !== count * 4) return undefined;
      return new Float32Array(Uint8Array.prototype.slice.call(bytes).buffer);
    } catch {
      return undefined;
    }
  }

  async saveTargets(values: Float32Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.targetsFile, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  /** Removes the state folder (the training finished). */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
