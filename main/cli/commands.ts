// Every `rws` command as `rws --help` lists it, in this one small file: the program loads a
// command's own module (and what that imports: onnxruntime, sharp, the pack schema...) only when
// that command runs, and lists the others from here. Each module takes its description from here;
// test/cli/commands.test.ts checks that each listing matches what its module registers.

/** A command's line in `rws --help`. */
export interface CommandListing {
  /** The name, then `[options]` and the arguments, as commander writes them for the real command. */
  term: string;
  description: string;
  /** The file in main/cli/ that registers it (`sign.ts` registers `keygen` too). */
  module: 'extract' | 'inspect' | 'patch' | 'run' | 'merge' | 'corrupt' | 'eval' | 'serve' | 'sign' | 'verify' | 'pack' | 'train';
}

/** The commands, in the order `rws --help` lists them. */
export const COMMANDS: Readonly<Record<string, CommandListing>> = {
  extract: { module: 'extract', term: 'extract [options]', description: 'make a Robust Weight Signature from a clean and a robust model of the same graph' },
  inspect: { module: 'inspect', term: 'inspect [options] <file>', description: 'describe a model (.onnx), a signature (.rws.safetensors) or a pack (folder), and whether signatures fit' },
  patch: { module: 'patch', term: 'patch [options]', description: 'write a copy of a model with signatures added to its weights (θ = θ_clean + Σ α·RWS)' },
  run: { module: 'run', term: 'run [options] <inputs...>', description: 'classify image files and folders (recursively), with signatures patched in; prints the top classes per image' },
  merge: {
    module: 'merge',
    term: 'merge [options] <out_dir> <shard_results...>',
    description: 'merge the results of the shards of one run (rws run --shard I/N) into OUT_DIR/results.json, results.csv and summary.json',
  },
  corrupt: { module: 'corrupt', term: 'corrupt [options] [inputs...]', description: 'write corrupted copies of images (the inputs are never changed)' },
  eval: {
    module: 'eval',
    term: 'eval [options]',
    description: 'measure a pack: clean / patched / robust accuracy per condition and severity, unpatch exactness, α and layer sweeps, quantization, mixes',
  },
  serve: { module: 'serve', term: 'serve [options]', description: 'Serve the RWS Studio UI and its API over HTTP + WebSocket (127.0.0.1 by default).' },
  sign: {
    module: 'sign',
    term: 'sign [options] <files...>',
    description: 'sign files with an Ed25519 key: writes FILE.sig (the SHA-256 of FILE and its name); a pack folder signs its pack.json',
  },
  keygen: {
    module: 'sign',
    term: 'keygen [options]',
    description: 'make an Ed25519 signing key pair: NAME.key.pem (private, keep it secret) and NAME.pub.pem (give it out)',
  },
  verify: { module: 'verify', term: 'verify [options] <files...>', description: 'check that files or pack folders were signed by a trusted key (exit 3 when any is refused)' },
  pack: { module: 'pack', term: 'pack', description: 'make a model pack for your own model, and add signatures to it' },
  train: {
    module: 'train',
    term: 'train [options]',
    description:
      "train signatures for a pack's own model on your images, corrupted on the fly by the condition's generator families, and add them to the pack (needs PyTorch: Debian's python3-torch, or RWS_PYTHON)",
  },
};

/** The description of command `name` (its module registers it with this). */
export function described(name: string): string {
  const listing = COMMANDS[name];
  if (!listing) throw new Error(`no rws command "${name}" in main/cli/commands.ts`);
  return listing.description;
}

/** The command a command line runs (`rws help run` counts as run), or undefined. */
export function commandOf(args: readonly string[]): string | undefined {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const a = args[i]!;
    if (a === '--trusted-keys') i++;
    else if (!a.startsWith('-')) words.push(a);
  }
  return words[0] === 'help' ? words[1] : words[0];
}

/** Whether a command line (without node and the script) classifies images: `rws run`, not its help. */
export function runsInference(args: readonly string[]): boolean {
  return commandOf(args) === 'run' && !args.some((a) => a === 'help' || a === '--help' || a === '-h');
}
