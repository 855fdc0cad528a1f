// The scheduler examples of examples/ run here as they would on a cluster: the Slurm scripts with
// the variables Slurm sets, the Kubernetes Jobs' commands with those Kubernetes sets, and the GNU
// parallel script with Debian's `parallel`; each set of shards must merge into what one
// `rws run` writes. (The container recipes cannot be built here: no container engine.)
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureBuilt } from '../cli/cli-harness.js';
import { makeImageFolder } from '../engine/folder/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const examples = path.join(root, 'examples');
let tmp: string;
let input: string;
let single: string;
/** PATH with an `rws` that runs this checkout's bin/rws.js, as an installed `rws` would. */
let env: NodeJS.ProcessEnv;

const hasParallel = spawnSync('parallel', ['--version'], { stdio: 'ignore' }).status === 0;

function run(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...env, ...extra }, cwd: tmp, maxBuffer: 16 * 1024 * 1024 }, (e, stdout, stderr) => {
      const code = e ? ((e as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` });
    });
  });
}

beforeAll(async () => {
  await ensureBuilt();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-examples-'));
  input = (await makeImageFolder(path.join(tmp, 'season 2024'), 12)).dir;
  const bin = path.join(tmp, 'bin');
  await mkdir(bin);
  await writeFile(path.join(bin, 'rws'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(root, 'bin', 'rws.js'))} "$@"\n`);
  await chmod(path.join(bin, 'rws'), 0o755);
  env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
  for (const k of Object.keys(env)) if (/^(SLURM_|PARALLEL_|JOB_COMPLETION_INDEX)/.test(k)) delete env[k];
  single = path.join(tmp, 'single.json');
  const r = await run('rws', ['run', '--quiet', '--json', single, input]);
  expect(r.code, r.out).toBe(3); // the folder has bad files
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const merged = (out: string) => readFile(path.join(out, 'merged', 'results.json'), 'utf8');

describe('examples/slurm', () => {
  it('passes bash -n, and its array tasks then its merge give the single run\'s results', async () => {
    const shards = path.join(examples, 'slurm', 'rws-shards.sbatch');
    const merge = path.join(examples, 'slurm', 'rws-merge.sbatch');
    for (const script of [shards, merge]) expect((await run('bash', ['-n', script])).code).toBe(0);
    const out = path.join(tmp, 'slurm results');
    for (let task = 1; task <= 3; task++) {
      const r = await run('bash', [shards, input, out], { SLURM_ARRAY_TASK_ID: String(task), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '3', SLURM_ARRAY_TASK_COUNT: '3', SLURM_CPUS_PER_TASK: '1' });
      expect(r.code, r.out).toBe(0);
    }
    const r = await run('bash', [merge, out]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/3 of 3 shards/);
    expect(await merged(out)).toBe(await readFile(single, 'utf8'));
  });
});

describe('examples/kubernetes', () => {
  it('are Jobs whose commands, run with each completion index, give the single run\'s results', async () => {
    const job = parse(await readFile(path.join(examples, 'kubernetes', 'rws-shards-job.yaml'), 'utf8'));
    const mergeJob = parse(await readFile(path.join(examples, 'kubernetes', 'rws-merge-job.yaml'), 'utf8'));
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job', spec: { completionMode: 'Indexed', template: { spec: { restartPolicy: 'Never' } } } });
    expect(mergeJob).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job' });
    const n: number = job.spec.completions;
    const container = job.spec.template.spec.containers[0];
    const [sh, dashC, line] = container.command as string[];
    expect([sh, dashC]).toEqual(['sh', '-c']);
    // The count of --shard auto/N is the Job's: a different one would split the files otherwise.
    expect(line).toContain(`--shard auto/${n}`);
    expect((await run('sh', ['-n', '-c', line!])).code).toBe(0);
    const mounts = new Map<string, string>(container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]));
    const vars = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(vars.INPUT.startsWith(`${mounts.get('images')}/`)).toBe(true);
    expect(vars.RESULTS.startsWith(`${mounts.get('results')}/`)).toBe(true);
    // Here the volumes are folders of this machine.
    const out = path.join(tmp, 'k8s results');
    for (let index = 0; index < n; index += 2) {
      const pods = [index, index + 1].filter((i) => i < n).map((i) => run('sh', ['-c', line!], { INPUT: input, RESULTS: out, JOB_COMPLETION_INDEX: String(i) }));
      for (const r of await Promise.all(pods)) expect(r.code, r.out).toBe(0);
    }
    const mergeLine = mergeJob.spec.template.spec.containers[0].command[2] as string;
    const r = await run('sh', ['-c', mergeLine], { RESULTS: out });
    expect(r.code, r.out).toBe(0);
    expect(await merged(out)).toBe(await readFile(single, 'utf8'));
  });
});

describe('examples/parallel', () => {
  it.skipIf(!hasParallel)('runs N shards with GNU parallel and merges them into the single run\'s results (skipped without `parallel`: apt-get install parallel)', async () => {
    const script = path.join(examples, 'parallel', 'rws-parallel.sh');
    const out = path.join(tmp, 'parallel results');
    const r = await run('bash', [script, input, out, '3'], { PARALLEL_JOBS: '2' });
    expect(r.code, r.out).toBe(0);
    expect(await merged(out)).toBe(await readFile(single, 'utf8'));
    // Run again, it redoes nothing: every shard succeeded in the joblog.
    const again = await run('bash', [script, input, out, '3'], { PARALLEL_JOBS: '2' });
    expect(again.code, again.out).toBe(0);
    expect((await readFile(path.join(out, 'shards.joblog'), 'utf8')).trim().split('\n')).toHaveLength(4);
  });
});

describe('examples/container', () => {
  it('copies what rws needs into the image and runs rws', async () => {
    for (const variant of ['cpu', 'cuda']) {
      const recipe = await readFile(path.join(examples, 'container', `Dockerfile.${variant}`), 'utf8');
      const ignored = (await readFile(path.join(examples, 'container', `Dockerfile.${variant}.dockerignore`), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
      // The default pack, the shipped signatures and the CLI reach the image.
      for (const needed of ['bin', 'native-models', 'signatures', 'package.json', 'package-lock.json', 'main']) expect(ignored, variant).not.toContain(needed);
      expect(recipe).toMatch(/^ENTRYPOINT \["rws"\]$/m);
      expect(recipe).toMatch(/ln -s \/opt\/rws\/bin\/rws\.js \/usr\/local\/bin\/rws/);
      expect(recipe).toMatch(/ELECTRON_SKIP_BINARY_DOWNLOAD=1/);
    }
    expect(await readFile(path.join(examples, 'container', 'Dockerfile.cuda'), 'utf8')).toMatch(/--onnxruntime-node-install=cuda12/);
  });
});
