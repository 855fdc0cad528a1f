#!/usr/bin/python3
"""Writes native-models/recipe/LOG.md from a recipe run's work folder (figures.jsonl, figures.json,
rws-eval.json, auto-eval.json, rws-eval-digits.json, recipe.log). Every figure in the log comes from
these files."""
import argparse
import json
import os
import platform
import re
import statistics


def pct(v):
    return '–' if v is None or (isinstance(v, float) and v != v) else f'{v * 100:.1f}'


def yes(met):
    return 'yes' if met else '**no**'


def data_seconds(W):
    """Seconds gen-data.ts took per family, from the run's logs (recipe.log, or gen.log of a hand-started run)."""
    out = {}
    for f in ('recipe.log', 'gen.log'):
        p = os.path.join(W, f)
        if os.path.exists(p):
            for line in open(p):
                m = re.match(r'^(\S+@\S+): \d+ train, .* in ([\d.]+) s', line)
                if m:
                    out[m.group(1)] = float(m.group(2))
    return out


def family_rows(ev):
    """(condition, family, lineage, row) for every family row of rws eval."""
    for c in ev['conditions']:
        for f in c.get('families') or []:
            for s in f['severities']:
                yield c['id'], f['family'], f.get('lineage', f['family']), s


def gap_targets(w, ev, only=None):
    """The gap rows (left out, strengths 3 and 5) and clean-while-patched rows of rws eval's conditions (or of `only`)."""
    by = {}
    for c, f, lin, s in family_rows(ev):
        if s.get('gapLofo') is None or s.get('robust') is None or s['robust'] - s['clean'] < 0.02:
            continue
        by.setdefault((c, s['severity']), []).append((s['gapLofo'], f))
    ids = [x['id'] for x in ev['conditions'] if only is None or x['id'] in only]
    for c in ids:
        for sev, need in ((3, 0.8), (5, 0.6)):
            g = by.get((c, sev))
            if not g:
                continue
            worst = min(g)
            w(f'| gap recovered ≥ {need:.0%} at strength {sev} | {c} | {pct(worst[0])}% ({worst[1]}); mean {pct(statistics.mean(x for x, _ in g))}% | {yes(worst[0] >= need)} |')
    for c in ev['conditions']:
        if c['id'] not in ids:
            continue
        d = c['cleanWhilePatched'] - ev['clean']
        w(f'| clean images while patched within 1 pp | {c["id"]} | {d * 100:+.1f} pp ({pct(c["cleanWhilePatched"])} vs {pct(ev["clean"])}) | {yes(d >= -0.01)} |')


def auto_targets(w, auto):
    """Auto's rows of the targets table (auto-eval.json)."""
    rows = auto['rows']
    for c in sorted({r['condition'] for r in rows}):
        rs = [r for r in rows if r['condition'] == c]
        best = min(rs, key=lambda r: r['auto'] - r['best']['accuracy'])
        clean = min(rs, key=lambda r: r['auto'] - r['clean'])
        if c != 'clean':
            w(f'| Auto within 3 pp of the best mix (hindsight) | {c} | {(best["auto"] - best["best"]["accuracy"]) * 100:+.1f} pp ({best["family"]} s{best["strength"]}) | {yes(best["auto"] - best["best"]["accuracy"] >= -0.03)} |')
        where = '' if c == 'clean' else f' ({clean["family"]} s{clean["strength"]})'
        w(f'| Auto never more than 1 pp below no patch | {c} | {(clean["auto"] - clean["clean"]) * 100:+.1f} pp{where} | {yes(clean["auto"] - clean["clean"] >= -0.01)} |')
    cl = next((r for r in rows if r['condition'] == 'clean'), None)
    if cl:
        w(f'| clean images stay ≥ 91% with Auto | clean | {pct(cl["auto"])}% | {yes(cl["auto"] >= 0.91)} |')


def targets(w, fig, ev, auto):
    """Issue 11's targets, each with the figure that decides it (leave-one-family-out, rws eval, int8)."""
    w('## Targets (leave-one-family-out, `rws eval`: ONNX, int8 signatures)\n')
    w('Gap recovered = (patched − clean model) / (all layers fine-tuned on the test family − clean model). "Left out":')
    w('the signature trained by the same recipe with the test family\'s lineage left out. A family whose robust model')
    w('gains under 2 pp over the clean model at that strength is not counted (the gap is noise there; it is in the table below).\n')
    w('| target | condition | figure (worst family; mean) | met |')
    w('|---|---|---|---|')
    if ev:
        gap_targets(w, ev)
    if auto:
        auto_targets(w, auto)
    if fig:
        for c, row in fig['conditions'].items():
            for f, fr in row['families'].items():
                r = fr['strengths'].get('3') or fr['strengths'].get(3)
                if not r:
                    continue
                beat = r['patched'] > r['bn'] and r['patched'] > r['tent']
                w(f'| patched beats BN adaptation and TENT at strength 3 (torch) | {c} / {f} | patched {pct(r["patched"])}, BN {pct(r["bn"])}, TENT {pct(r["tent"])} | {yes(beat)} |')
    w('')


def family_row(w, c, f, s):
    """One row of the every-condition table."""
    b = s.get('best') or {}
    w(f'| {c} | {f} | {s["severity"]} | {pct(s["clean"])} | {pct(s.get("robust"))} | {pct(s["patched"])} | {pct(s.get("gapRecovered"))} | '
      f'{pct(s.get("lofo"))} | {pct(s.get("gapLofo"))} | {pct(s.get("auto"))} | {b.get("id", "–")} {pct(b.get("accuracy"))} |')


def quant_rows(w, c):
    for q in c['quant']:
        w(f'| {c["id"]} | {pct(c["cleanWhilePatched"])} | {q["quant"]} | {q["bytes"]} | {q["smallerThanModel"]:.1f}× | {pct(q["corrupted"])} |')


REMIX_TITLE = '### Composition measured again with retrained parts (rws, strength 3)'


def remix_section(w, text):
    """remix.js's output (the pair mixes with a part retrained by retrain.sh, measured again), if it holds a grid."""
    if not any(l.startswith('|') for l in text.split('\n')):
        return
    w(REMIX_TITLE + '\n')
    w('The pair mixes whose parts `retrain.sh` retrained, on the grid above (and α 0.25), through onnxruntime with the '
      'signatures that ship, on the test set\'s last images (not those the tables above report on); an α pair that costs '
      'more than 1 pp on clean images is not chosen (`remix.ts`).\n')
    w(text.strip('\n'))
    w('')


def composition_row(w, m):
    w(f'| {m["name"]} | {json.dumps(m["mix"])} | {" then ".join(m["corruptions"])} | {pct(m["clean"])} | ' + ', '.join(f'{k} {pct(v)}' for k, v in m['singles'].items()) +
      f' | {pct(m["mixed"])} | ' + (', '.join(f'{k} {pct(v)}' for k, v in m['dedicated'].items()) or '–') + f' | {pct(m.get("pairModel"))} | {pct(m.get("shareOfPair"))} |')


def auto_section(w, auto):
    """The Auto section: every family and strength, against the best mix with hindsight (auto-eval.json)."""
    w('## Auto (`rws eval --mix auto`)\n')
    w(f'Candidates: {", ".join(auto["candidates"])}. Auto chooses by the model\'s own outputs and was trained on nothing:'
      ' every family below is one it never saw.\n')
    w('| condition | family | strength | clean model | best mix (hindsight) | Auto | Auto − best | Auto − clean | ran under |')
    w('|---|---|---|---|---|---|---|---|---|')
    for r in auto['rows']:
        picks = ', '.join(f'{k} {pct(v)}%' for k, v in sorted(r['picks'].items(), key=lambda x: -x[1])[:2])
        w(f'| {r["condition"]} | {r["family"] or "–"} | {r["strength"] or "–"} | {pct(r["clean"])} | {r["best"]["id"]} {pct(r["best"]["accuracy"])} | {pct(r["auto"])} | '
          f'{(r["auto"] - r["best"]["accuracy"]) * 100:+.1f} | {(r["auto"] - r["clean"]) * 100:+.1f} | {picks} |')
    s = auto.get('stream')
    if s:
        w(f'\nStream of {s["frames"]} frames whose weather changes every {s["segment"]} ({s["changes"]} changes): clean {pct(s["clean"])}%, best mix per'
          f' segment with hindsight {pct(s["best"])}%, Auto {pct(s["auto"])}%; {s["switches"]} switches ({s["extraSwitches"]} beyond one per segment);'
          f' frames to settle median {s["settleMedian"]}, max {s["settleMax"]}; {s["inferencesPerFrame"]:.3f} inferences per frame.')
    w('')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--seconds', type=int, required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--jobs', type=int, default=1, help='signature fine-tunes run at once (run.sh RWS_RECIPE_JOBS)')
    ap.add_argument('--nuisance', default='', help='the conditions whose signatures trained with camera nuisances (run.sh NUISANCE)')
    ap.add_argument('--clean-share', type=float, default=0.3, help='the clean share of the other signature fine-tunes (run.sh CLEAN_SHARE)')
    ap.add_argument('--clean-half', default='', help='the conditions whose signatures trained with half clean images (run.sh CLEAN_HALF)')
    ap.add_argument('--deep', default='', help='the conditions whose signatures hold stem + stages 1-2 (run.sh DEEP)')
    a = ap.parse_args()
    W = a.work
    load = lambda f: json.load(open(os.path.join(W, f))) if os.path.exists(os.path.join(W, f)) else None
    # A stage run again (an interrupted or redone run) counts once, as its last record.
    train = list({r['out']: r for r in (json.loads(l) for l in open(os.path.join(W, 'figures.jsonl')) if l.strip())}.values())
    fig = load('figures.json')
    ev = load('rws-eval.json')
    auto = load('auto-eval.json')
    L = []
    w = L.append
    w('# Fashion-MNIST recipe: log of the last run\n')
    w('Written by `native-models/recipe/write-log.py` from the run\'s own figures; regenerate everything with')
    w('`npm run recipe` (see `run.sh` for the stages and the environment variables).\n')
    train_s = sum(r.get('seconds', 0) for r in train)
    gen = data_seconds(W)
    w(f'- Last invocation: {a.seconds / 60:.1f} min; training stages {train_s / 60:.1f} min in all, data generation {sum(gen.values()) / 60:.1f} min;'
      f' {os.cpu_count()} CPU cores ({platform.machine()}), torch threads 2'
      + (f' (signature fine-tunes {a.jobs} at a time, one thread each)' if a.jobs > 1 else '') + ', machine shared with other jobs during the run.')
    w(f'- Every condition has several generator families (`rws corrupt --families`); training sets draw a family and a strength'
      f' (uniform in 1–5) per image, seeds of stream 1; test sets hold each family at strengths 1–5, seeds of stream 2.')
    nuis = a.nuisance.split()
    plain = [c for c in (fig or {}).get('conditions', {}) if c not in nuis]
    if nuis:
        w(f'- The signatures (shipped and left out) of {", ".join(nuis)} train on copies of those sets with camera nuisances on half'
          ' of the images (`recipe/nuisance.ts`: a little blur, exposure gain, a tone curve, a faint veil, sensor noise), so they'
          ' learn the condition rather than its generators. Low light came first: without them, its signature trained with the'
          ' physical family left out scored below the clean model on it (gap −13% at strength 3); the others followed where'
          ' their left-out figures fell short.' + (f' {", ".join(plain).capitalize()} train without them.' if plain else ''))
    half = a.clean_half.split()
    if half:
        w(f'- Signature fine-tunes mix clean images in: {a.clean_share:.0%} of the images, and half for {", ".join(half)}, whose patched model'
          f' fell more than 1 pp below the clean one on clean images at {a.clean_share:.0%} (the stages table below has each one\'s share).')
    deep = a.deep.split()
    if deep:
        w(f'- The signatures hold the stem and stage 1 (5 convs), and the stem and stages 1–2 (10 convs) for {", ".join(deep)}, whose'
          ' figures in family were capped by 5 convs (`run.sh` DEEP has the figures that chose them). The shared-stem digits model'
          ' below shares only the first 5, so those signatures are left out of its transfer tables.')
    if 'inputs' in (fig or {}):
        w('- Figures on checkpoints and test sets unchanged since the previous evaluation (the peers, BN adaptation and TENT; and'
          ' every figure of a condition none of whose checkpoints changed) are carried over from it (`evaluate.py --reuse`,'
          ' matched by SHA-256); everything resting on a retrained checkpoint is new.')
    if fig:
        w(f'- Evaluation in torch on {fig.get("samples")} test images per family and strength, in folded weight space (the ONNX'
          f' model\'s space); BN adaptation and TENT on the unfolded model, batches of {fig.get("peer_batch")}.')
    if ev:
        w(f'- `rws eval` (onnxruntime, the shipped int8 files through the Patcher): {ev["data"]["images"]} test images, its own seeds.')
    w('')
    targets(w, fig, ev, auto)
    if ev:
        w('## Every condition, family and strength (`rws eval`, ONNX, int8)\n')
        w('In family: the shipped signature (trained on every family). Left out: trained with this family\'s lineage left out.')
        w('Robust: all layers fine-tuned on this family alone. Auto: `--mix auto` over these images (sample, then commit).')
        w('Best: the best of the pack\'s mixes on these images, chosen with hindsight.\n')
        w('| condition | family | strength | clean | robust | in family | gap | left out | gap | Auto | best mix (hindsight) |')
        w('|---|---|---|---|---|---|---|---|---|---|---|')
        for c, f, lin, s in family_rows(ev):
            family_row(w, c, f, s)
        w('')
        w(f'Clean {pct(ev["clean"])}%; after patch and unpatch {pct(ev["unpatch"]["cleanAfterUnpatch"])}%, logits bit-identical: '
          f'**{"yes" if ev["unpatch"]["bitIdentical"] else "NO"}** ({ev["unpatch"]["comparedLogits"]} values). Model file {ev["model"]["bytes"]} bytes.\n')
        w('| condition | clean images while patched | storage | bytes | smaller than model | accuracy (default family, s3) |')
        w('|---|---|---|---|---|---|')
        for c in ev['conditions']:
            quant_rows(w, c)
        w('')
        if ev['composition']:
            w('| mix | α | data | clean | singles | mix | dedicated | pair model | share of pair gain |')
            w('|---|---|---|---|---|---|---|---|---|')
            for m in ev['composition']:
                composition_row(w, m)
            w('')
    if auto:
        auto_section(w, auto)
    if fig:
        w('## Per condition, family and strength (torch, folded space, f32; peers on the unfolded model)\n')
        w('BN: prediction-time BatchNorm (each test batch normalised by its own statistics). TENT: entropy minimisation of the BN')
        w('affine parameters, one Adam step per batch, online. RWS+BN: the shipped signature\'s model with BN adaptation. After the')
        w('slash: the clean accuracy each leaves behind (clean images through the adapted model).\n')
        w('| condition | family | strength | clean | robust | in family | left out | BN / clean | TENT / clean | RWS+BN / clean |')
        w('|---|---|---|---|---|---|---|---|---|---|')
        for c, row in fig['conditions'].items():
            for f, fr in row['families'].items():
                for s, r in fr['strengths'].items():
                    w(f'| {c} | {f} | {s} | {pct(r["clean"])} | {pct(r.get("robust"))} | {pct(r["patched"])} | {pct(r.get("lofo"))} | {pct(r["bn"])} / {pct(r["bn_clean"])} | '
                      f'{pct(r["tent"])} / {pct(r["tent_clean"])} | {pct(r["rws_bn"])} / {pct(r["rws_bn_clean"])} |')
        w('')
        w('### α per strength (left-out signatures on the family left out, mean over every condition and family)\n')
        acc = {}
        for c, row in fig['conditions'].items():
            for f, fr in row['families'].items():
                for s, r in fr['strengths'].items():
                    for al, v in (r.get('lofo_alpha') or {}).items():
                        acc.setdefault((int(s), al), []).append(v)
        alphas = sorted({k[1] for k in acc}, key=float)
        if alphas:
            w('| strength | ' + ' | '.join(f'α={x}' for x in alphas) + ' |')
            w('|---|' + '---|' * len(alphas))
            for s in range(1, 6):
                w(f'| {s} | ' + ' | '.join(pct(statistics.mean(acc[(s, al)])) if (s, al) in acc else '–' for al in alphas) + ' |')
            w('')
        w('### Clean images (torch)\n')
        w(f'Clean model (θ_clean): **{pct(fig["clean_acc"])}%** (folded copy {pct(fig["folded_clean_acc"])}%).\n')
        w('| condition | clean images, patched | clean images, unpatched |')
        w('|---|---|---|')
        for c, row in fig['conditions'].items():
            w(f'| {c} | {pct(row["clean_acc_patched"])} | {pct(row["clean_acc_unpatched"])} |')
        w('')
        if fig.get('quant'):
            w('### Quantisation (torch, mean over the condition\'s families at strength 3)\n')
            w('| condition | f32 | int8 | int4 |')
            w('|---|---|---|---|')
            for c, q in fig['quant'].items():
                w(f'| {c} | {pct(q.get("32"))} | {pct(q.get("8"))} | {pct(q.get("4"))} |')
            w('')
        if fig.get('extraction'):
            w('### Extraction methods (default family, strength 3)\n')
            w('`projected` and `plain` are cut from the all-layer fine-tune on that family (the paper\'s RWS with θ_pre, and the plain')
            w('difference to θ_clean), keeping k convs; `finetune` is the shallow fine-tune\'s delta that ships.\n')
            keys = sorted({k for r in fig['extraction'].values() for k in r if k != 'family'})
            w('| condition | family | ' + ' | '.join(keys) + ' |')
            w('|---|---|' + '---|' * len(keys))
            for c, r in fig['extraction'].items():
                w(f'| {c} | {r["family"]} | ' + ' | '.join(pct(r.get(k)) for k in keys) + ' |')
            w('')
        for pair, comp in (fig.get('composition') or {}).items():
            p1, p2 = comp['parts']
            w(f'### Composition: {p1} + {p2} on {pair} (strength 3, torch)\n')
            w(f'| family | clean | {p1} sig. | {p2} sig. | sum (α 1, 1) | best α pair | {pair} signature | pair model (all layers) |')
            w('|---|---|---|---|---|---|---|---|')
            for f, r in comp['families'].items():
                best = max(r['grid'].items(), key=lambda kv: kv[1])
                w(f'| {f} | {pct(r["clean"])} | {pct(r[p1])} | {pct(r[p2])} | {pct(r["sum"])} | ({best[0]}) {pct(best[1])} | {pct(r.get("pair_signature"))} | {pct(r.get("pair_model"))} |')
            w('')
        if os.path.exists(os.path.join(W, 'remix.md')):
            remix_section(w, open(os.path.join(W, 'remix.md')).read())
        for key, what in (('transfer', 'fine-tuned from the same θ_pre, all layers'), ('transfer_shared', 'fine-tuned from θ_clean with the stem and stage 1 kept (shared stem)')):
            if key not in fig:
                continue
            t = fig[key]
            w(f'### Transfer: UCI digits model {what}; clean {pct(t["clean_acc"])}%; patched with the Fashion-MNIST signatures, default family, strength 3\n')
            w('| condition | digits clean model | digits robust model | + Fashion-MNIST signature | gap recovered |')
            w('|---|---|---|---|---|')
            for c, r in t.items():
                if isinstance(r, dict):
                    w(f'| {c} | {pct(r["clean"])} | {pct(r["robust"])} | {pct(r["patched"])} | {pct(r.get("gap_recovered"))} |')
            w('')
    d = load('rws-eval-digits.json')
    if d:
        w('## `rws eval` transfer: the shared-stem digits pack with the Fashion-MNIST signatures (ONNX, int8)\n')
        w(f'Digits model clean {pct(d["clean"])}% on {d["data"]["images"]} test images; signatures applied with their base-hash check off (declared transfer).\n')
        w('| condition | severity | digits clean model | + Fashion-MNIST signature | digits robust model | gap recovered |')
        w('|---|---|---|---|---|---|')
        for c in d['conditions']:
            for s in c['severities']:
                w(f'| {c["id"]} | {s["severity"]} | {pct(s["clean"])} | {pct(s["patched"])} | {pct(s.get("robust"))} | {pct(s.get("gapRecovered"))} |')
        w('')
    w('## Training stages\n')
    w('| stage | part | images | clean share | epochs | seconds | test accuracy | on |')
    w('|---|---|---|---|---|---|---|---|')
    for r in train:
        part = r.get('part', 'all') + (f' ({r["stages"]} stages)' if r.get('stages', 1) > 1 else '')
        w(f'| {r["out"]} | {part} | {r.get("images")} | {pct(r.get("clean_share"))} | {r.get("epochs")} | {r.get("seconds", 0):.0f} | {pct(r.get("acc"))} | {r.get("test", "fashion:test")} |')
    w('')
    with open(a.out, 'w') as f:
        f.write('\n'.join(L) + '\n')
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
