#!/usr/bin/python3
"""Amends native-models/recipe/LOG.md after retrain.sh has retrained some conditions' signatures with
`rws train` on the shipped model: their rows of the targets, every-condition, storage and mix tables are
written again from the new `rws eval` figures, Auto's rows and section from the new `rws eval --mix auto`,
and a line at the top says what was retrained, how, and which tables still describe the run's torch
signatures. Every other figure is the last full run's, as before.

The robust models (all layers fine-tuned on one family) are the last full run's and are not in the
repository, so the gaps use the robust figures LOG.md already holds for the same cells: rws eval's test
images are a function of its seed alone, and the script refuses to go on unless the clean model's
accuracy on every retrained cell is the one LOG.md holds (the same images, the same model)."""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
wl = __import__('write-log')


def cells(line):
    return [x.strip() for x in line.strip().strip('|').split('|')]


def section(lines, title):
    """Index of the line holding `title` (a heading), and of the next heading of that level or above."""
    start = next(i for i, l in enumerate(lines) if l.startswith(title))
    level = len(title) - len(title.lstrip('#'))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r'^#{1,%d} ' % level, lines[i])), len(lines))
    return start, end


def table_rows(lines, start, end, header_start):
    """Indices of the data rows of the first table in lines[start:end] whose header starts with header_start."""
    h = next(i for i in range(start, end) if lines[i].startswith(header_start))
    i, out = h + 2, []
    while i < end and lines[i].startswith('|'):
        out.append(i)
        i += 1
    return h, out


def replace_rows(lines, idx, keep, new_rows):
    """Rows at `idx` for which keep(cells) is false are replaced, in place of the first of them, by new_rows."""
    gone = [i for i in idx if not keep(cells(lines[i]))]
    if not gone:
        # Nothing to replace: append after the last row.
        at = idx[-1] + 1
        lines[at:at] = new_rows
        return
    at = gone[0]
    for i in reversed(gone):
        del lines[i]
    lines[at:at] = new_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--log', required=True)
    ap.add_argument('--eval', required=True, action='append', help="rws eval --json of retrained conditions (--families all --lofo); repeatable")
    ap.add_argument('--auto', help='rws eval --mix auto --json over every condition (the candidates changed)')
    ap.add_argument('--remix', help="remix.js's output: the pair mixes with a retrained part, measured again")
    ap.add_argument('--note', required=True, help='what was retrained and how (one line of markdown)')
    ap.add_argument('--smoke', action='store_true', help="retrain.sh --smoke: other images than the log's, so the clean figures are not checked")
    a = ap.parse_args()
    evs = [json.load(open(f)) for f in a.eval]
    ev = evs[0]
    for e in evs[1:]:
        if e['clean'] != ev['clean'] or e['data'] != ev['data']:
            sys.exit(f'{a.eval[0]} and another --eval file measured different images: clean {ev["clean"]} vs {e["clean"]}')
        ev['conditions'] += e['conditions']
        ev['composition'] += [m for m in e['composition'] if m['name'] not in {x['name'] for x in ev['composition']}]
    auto = json.load(open(a.auto)) if a.auto else None
    lines = open(a.log).read().split('\n')
    retrained = [c['id'] for c in ev['conditions']]
    if len(set(retrained)) != len(retrained):
        sys.exit(f'--eval: a condition is measured twice ({", ".join(retrained)})')

    # The robust figures LOG.md holds, and a check that the clean figures are the same cells.
    s0, s1 = section(lines, '## Every condition, family and strength')
    _, rows = table_rows(lines, s0, s1, '| condition | family | strength |')
    old = {}
    for i in rows:
        c = cells(lines[i])
        old[(c[0], c[1], int(c[2]))] = c
    for c in ev['conditions']:
        for f in c.get('families') or []:
            for s in f['severities']:
                o = old.get((c['id'], f['family'], s['severity']))
                if o is None:
                    sys.exit(f'{a.log}: no row for {c["id"]} / {f["family"]} / strength {s["severity"]}')
                if wl.pct(s['clean']) != o[3] and not a.smoke:
                    sys.exit(f'{a.log}: {c["id"]} / {f["family"]} / strength {s["severity"]}: the clean model scores {wl.pct(s["clean"])} here and'
                             f' {o[3]} in the log: not the same images or not the same model, so its robust figures do not apply')
                if o[4] != '–':
                    s['robust'] = float(o[4]) / 100
                    if s['robust'] != s['clean']:
                        s['gapRecovered'] = (s['patched'] - s['clean']) / (s['robust'] - s['clean'])
                        if s.get('lofo') is not None:
                            s['gapLofo'] = (s['lofo'] - s['clean']) / (s['robust'] - s['clean'])

    def out(fn, *args):
        buf = []
        fn(buf.append, *args)
        return [l for l in buf if l.startswith('|')]

    # Every-condition table, then the storage table (int8 only: the int4 copies of retrained signatures are
    # not shipped); each condition's new rows where its old ones were.
    for cond in ev['conditions']:
        fam = []
        for c, f, lin, s in wl.family_rows({'conditions': [cond]}):
            wl.family_row(fam.append, c, f, s)
        s0, s1 = section(lines, '## Every condition, family and strength')
        _, rows = table_rows(lines, s0, s1, '| condition | family | strength |')
        replace_rows(lines, rows, lambda c: c[0] != cond['id'], fam)
        s0, s1 = section(lines, '## Every condition, family and strength')
        _, qrows = table_rows(lines, s0, s1, '| condition | clean images while patched | storage |')
        replace_rows(lines, qrows, lambda c: c[0] != cond['id'], out(wl.quant_rows, cond))

    # Mix table: mixes with a retrained part, the pair model's figure kept from the log.
    s0, s1 = section(lines, '## Every condition, family and strength')
    _, mrows = table_rows(lines, s0, s1, '| mix | α |')
    pair = {cells(lines[i])[0]: cells(lines[i])[7] for i in mrows}
    new_mix = []
    touched = set()
    for m in ev.get('composition') or []:
        if not set(m['mix']) & set(retrained):
            continue
        touched.add(m['name'])
        pm = pair.get(m['name'], '–')
        if pm != '–':
            m['pairModel'] = float(pm) / 100
            m['shareOfPair'] = (m['mixed'] - m['clean']) / (m['pairModel'] - m['clean'])
        new_mix += out(wl.composition_row, m)
    if new_mix:
        replace_rows(lines, mrows, lambda c: c[0] not in touched, new_mix)

    # Targets: the retrained conditions' gap and clean rows; every Auto row.
    t0, t1 = section(lines, '## Targets')
    _, trows = table_rows(lines, t0, t1, '| target | condition |')
    # Each condition's new rows where its old ones were, so that the table keeps the full run's order.
    for kind in ('gap recovered', 'clean images while patched'):
        for cid in retrained:
            t0, t1 = section(lines, '## Targets')
            _, trows = table_rows(lines, t0, t1, '| target | condition |')
            rows = [r for r in out(wl.gap_targets, ev, [cid]) if r.startswith(f'| {kind}')]
            replace_rows(lines, trows, lambda c: not (c[0].startswith(kind) and c[1] == cid), rows)
    if auto:
        t0, t1 = section(lines, '## Targets')
        _, trows = table_rows(lines, t0, t1, '| target | condition |')
        is_auto = lambda c: 'Auto' in c[0]
        replace_rows(lines, trows, lambda c: not is_auto(c), out(wl.auto_targets, auto))
        a0, a1 = section(lines, '## Auto (`rws eval --mix auto`)')
        buf = []
        wl.auto_section(buf.append, auto)
        lines[a0:a1] = '\n'.join(buf).split('\n')

    # remix.js's tables, in their own section after the torch composition tables (replacing an earlier one).
    if a.remix:
        if any(l.startswith(wl.REMIX_TITLE) for l in lines):
            r0, r1 = section(lines, wl.REMIX_TITLE)
            del lines[r0:r1]
        at = max(i for i, l in enumerate(lines) if l.startswith('### Composition:'))
        at = next((i for i in range(at + 1, len(lines)) if lines[i].startswith('#')), len(lines))
        buf = []
        wl.remix_section(buf.append, open(a.remix).read())
        lines[at:at] = '\n'.join(buf).split('\n')
    # The note, after the header's bullets and earlier retrain notes; an earlier note of no other
    # conditions than these (the same retraining, run again) is replaced.
    named = lambda l: set(re.findall(r'([a-z-]+) \(\d+ convs', l))
    lines = [l for l in lines if not (l.startswith('- Retrained after the run') and named(l) <= set(retrained))]
    at = max(i for i, l in enumerate(lines) if l.startswith('- `rws eval` (onnxruntime') or l.startswith('- Retrained after the run'))
    lines.insert(at + 1, '- Retrained after the run ' + a.note)
    open(a.log, 'w').write('\n'.join(lines))
    print(f'amended {a.log}: {", ".join(retrained)}')


if __name__ == '__main__':
    main()
