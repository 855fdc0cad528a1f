// One rule between class labels and folder names, used both ways: a folder run's "copy into class
// folders" writes `classFolderNames(labels)[i]`, and labelled data (evaluation, training) reads a
// folder back with `classOfFolder`. The names are decided on the whole label list, so two labels
// never share a folder (not even on a file system that ignores case) and each name reads back as
// its own class; the ways people write a class folder by hand (any case, spaces, `_` or `-`
// between words) name the same class when they fit only one.

/** Characters a file system refuses in a name (Windows' set, which covers the others), and controls. */
const REFUSED = /[\\/:*?"<>|\x00-\x1f\x7f]/g;

/** Names Windows keeps for devices, alone or before an extension (`CON`, `nul.txt`, `COM1`). */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(?=\.|$)/i;

/** Longest name kept from a label, in UTF-8 bytes: under every file system's 255, with room for a suffix. */
const MAX_BYTES = 120;

/** Half of a surrogate pair without its other half: no file system can store it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const utf8 = new TextEncoder();

/** The first `max` UTF-8 bytes of `s`, cut between code points. */
function clip(s: string, max: number): string {
  if (utf8.encode(s).length <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    bytes += utf8.encode(ch).length;
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/**
 * One label as a folder name on its own, before the label list is looked at: refused characters
 * become `_`, leading and trailing dots and spaces go (hidden on Unix, refused on Windows), a name
 * Windows reserves gets a `_`, a long label is cut; `class-INDEX` when nothing is left. Two labels
 * may come out alike here: `classFolderNames` tells them apart.
 */
export function classFolderName(label: string, index: number): string {
  const trim = (s: string) => s.replace(/^[.\s]+|[.\s]+$/g, '');
  const s = trim(clip(trim(label.replace(LONE_SURROGATE, '_').normalize('NFC').replace(REFUSED, '_')), MAX_BYTES)).replace(RESERVED, '$1_');
  return s || `class-${index}`;
}

/** Two names that are one folder on some file system (case-insensitive, Unicode-normalising) have one key. */
function folderKey(name: string): string {
  return name.normalize('NFC').toUpperCase().toLowerCase();
}

/** Names already decided for a label list (a folder of N classes is read back N times). */
const namesOf = new WeakMap<readonly string[], readonly string[]>();

/**
 * The folder name of each class, one per label, all different (also ignoring case): a label keeps
 * its own name (`classFolderName`) unless another label's is the same folder; then the label that
 * is written as it is (else the first) keeps it and the others get ` (class INDEX)` after it.
 */
export function classFolderNames(labels: readonly string[]): readonly string[] {
  const known = namesOf.get(labels);
  if (known) return known;
  const plain = labels.map((l, i) => classFolderName(l, i));
  const groups = new Map<string, number[]>();
  plain.forEach((n, i) => {
    const k = folderKey(n);
    groups.set(k, [...(groups.get(k) ?? []), i]);
  });
  const names: (string | undefined)[] = labels.map(() => undefined);
  const taken = new Set<string>();
  for (const [key, members] of groups) {
    const keeper = members.find((i) => plain[i] === labels[i]) ?? members[0]!;
    names[keeper] = plain[keeper];
    taken.add(key);
  }
  for (const [i, n] of plain.entries()) {
    if (names[i] !== undefined) continue;
    let name = `${n} (class ${i})`;
    for (let k = 2; taken.has(folderKey(name)); k++) name = `${n} (class ${i}, ${k})`;
    names[i] = name;
    taken.add(folderKey(name));
  }
  const done = Object.freeze(names as string[]);
  namesOf.set(labels, done);
  return done;
}

/** The form two hand-written names are compared in: lower case, each run of separators as one `-`. */
function foldName(name: string): string {
  return name
    .normalize('NFC')
    .toLowerCase()
    .replace(/[\s_\-.\\/:*?"<>|\x00-\x1f]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The class index a folder stands for: the name `classFolderNames` gives a class, or a label
 * written as it is, or a label in any case with spaces, `_` or `-` between words (`T-shirt_top`,
 * `ankle-boot`, `Ankle boot`), or a class index (`3`). -1 when it names no class, or two classes alike.
 */
export function classOfFolder(name: string, labels: readonly string[]): number {
  const nfc = name.normalize('NFC');
  const written = classFolderNames(labels).indexOf(nfc);
  if (written >= 0) return written;
  const exact = labels.indexOf(name);
  if (exact >= 0) return exact;
  const key = foldName(name);
  if (key) {
    const alike = labels.flatMap((l, i) => (foldName(l) === key ? [i] : []));
    if (alike.length === 1) return alike[0]!;
    if (alike.length > 1) return -1;
  }
  if (/^\d+$/.test(name) && Number(name) < labels.length) return Number(name);
  return -1;
}
