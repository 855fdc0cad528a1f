// One rule between class labels and folder names, used both ways: a folder run's "copy into class
// folders" writes `classFolderName(label)`, and labelled data (evaluation) reads a folder back
// with `classOfFolder`. A label's folder name, and the ways people write it by hand (any case,
// spaces, `_` or `-` between words), all name the same class.

/** Characters a file system refuses in a name (Windows' set, which covers the others), and controls. */
const REFUSED = /[\\/:*?"<>|\x00-\x1f]/g;

/** A class label as a folder name: refused characters become `_`, leading/trailing dots and spaces go. */
export function classFolderName(label: string, index: number): string {
  const s = label.replace(REFUSED, '_').replace(/^[.\s]+|[.\s]+$/g, '');
  return s || `class-${index}`;
}

/** The form two names are compared in: lower case, each run of separators as one `-`. */
function foldName(name: string): string {
  return name
    .normalize('NFC')
    .toLowerCase()
    .replace(/[\s_\-.\\/:*?"<>|\x00-\x1f]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The class index a folder stands for: the label written as it is, or as classFolderName writes it,
 * or in any case with spaces, `_` or `-` between words (`T-shirt_top`, `ankle-boot`, `Ankle boot`),
 * or a class index (`3`). -1 when it names no class, or two classes alike.
 */
export function classOfFolder(name: string, labels: readonly string[]): number {
  const exact = labels.indexOf(name);
  if (exact >= 0) return exact;
  const written = labels.findIndex((l, i) => classFolderName(l, i) === name);
  if (written >= 0) return written;
  const key = foldName(name);
  if (key) {
    const alike = labels.flatMap((l, i) => (foldName(l) === key ? [i] : []));
    if (alike.length === 1) return alike[0]!;
    if (alike.length > 1) return -1;
  }
  if (/^\d+$/.test(name) && Number(name) < labels.length) return Number(name);
  return -1;
}
