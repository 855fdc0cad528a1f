"""Figures of the recipe, in folded weight space (the space of the ONNX model and its signatures).

`train.py evaluate --ckpt WORKDIR --out figures.json [--samples N] [--reuse OLD.json]`

Reads from WORKDIR (run.sh makes them): families.json (gen-data.ts: every condition's families and
lineages), test-<c>@<f>-s<k>.u8 and test-clean.u8; pre.pt, clean.pt; robust-<c>@<f>.pt (all layers
fine-tuned from θ_clean on that family alone: the best a user could have with one model per family);
sig-<c>.pt (stem + stage 1 fine-tuned from θ_clean on every family of <c> with clean images mixed in:
what ships); lofo-<c>@<l>.pt (the same with lineage <l> left out: the honest generalisation figure);
digits[-shared]-clean.pt and digits[-shared]-robust-<c>.pt (transfer).

Per condition, family and strength: the clean model, the family's robust model, the shipped signature
(in family), the leave-one-family-out signature (and its α sweep), and the test-time peers on the same
images: BatchNorm statistics adaptation (prediction-time BN on each test batch) and TENT (entropy
minimisation of the BN affine parameters, online, one Adam step per batch), each with the clean
accuracy it leaves behind, and the shipped signature plus BN adaptation. Also every shipped signature
on every set with the label-free scores Auto can see (mean entropy, mean confidence, entropy of the
mean prediction), composition, quantisation, and transfer.

The slow figures (the peers) depend only on the clean model, a signature's checkpoint and the test
images: with `--reuse`, those of an earlier figures.json whose inputs (SHA-256 of each checkpoint and
test file, listed under `inputs`) are the same are taken from it, so retraining one signature
re-measures only what depends on it; a condition none of whose checkpoints and test sets changed keeps
its whole row.
"""
import copy
import hashlib
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from train import Folded, accuracy, delta, load_model, load_set, projected, fold, subset, to_input

SHALLOW = 5  # stem + the 4 convs of stage 1
STAGE = 5  # convs per stage after the first (2 blocks and the downsampling conv)
PEER_BATCH = 200
ALPHAS = (0.5, 0.75, 1.0, 1.25, 1.5)


class Ctx:
    def __init__(self, args):
        self.args = args
        self.dir = args.ckpt
        self.cache = {}
        self.n = args.samples or 2000
        self.families = json.load(open(os.path.join(self.dir, 'families.json')))
        self.inputs = {}
        self.old = json.load(open(args.reuse)) if getattr(args, 'reuse', None) else {}
        if self.old.get('samples') != self.n:
            self.old = {}
        self.old_inputs = self.old.get('inputs', {})

    def data(self, name):
        """Test set by file stem, e.g. `test-fog@physical-s3` or `test-clean`."""
        if name not in self.cache:
            x, y = load_set(os.path.join(self.dir, name + '.u8'), self.args)
            self.cache[name] = subset(x, y, self.n, 7)
        return self.cache[name]

    def has(self, f):
        return os.path.exists(os.path.join(self.dir, f))

    def model(self, f):
        return load_model(os.path.join(self.dir, f))

    def sha(self, f):
        """SHA-256 of a file of the work folder (a checkpoint, or a test set by stem), recorded in `inputs`."""
        f = f if f.endswith('.pt') else f + '.u8'
        if f not in self.inputs:
            with open(os.path.join(self.dir, f), 'rb') as fh:
                self.inputs[f] = hashlib.sha256(fh.read()).hexdigest()
        return self.inputs[f]

    def reused(self, old, files, keys):
        """The figures `keys` of `old` (a dict of an earlier run), if every file they rest on is unchanged."""
        if old is None or not all(k in old for k in keys):
            return None
        if any(self.old_inputs.get(f if f.endswith('.pt') else f + '.u8') != self.sha(f) for f in files):
            return None
        return {k: old[k] for k in keys}


def acc(model, ctx, name):
    return round(accuracy(model, *ctx.data(name)), 4)


@torch.no_grad()
def scores(model, ctx, name, batch=1000):
    """Accuracy and the label-free scores of a model on a set: mean entropy, mean confidence, entropy of the mean prediction."""
    model.eval()
    x, y = ctx.data(name)
    probs = torch.cat([F.softmax(model(to_input(x[i:i + batch])), 1) for i in range(0, len(x), batch)])
    ent = -(probs * probs.clamp_min(1e-12).log()).sum(1)
    mean = probs.mean(0)
    return {
        'acc': round((probs.argmax(1).numpy() == y).mean().item(), 4),
        'entropy': round(ent.mean().item(), 4),
        'confidence': round(probs.max(1).values.mean().item(), 4),
        'marginal': round(-(mean * mean.clamp_min(1e-12).log()).sum().item(), 4),
    }


def bn_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@torch.no_grad()
def bn_adapt(model, ctx, name, clean_name='test-clean'):
    """Prediction-time BatchNorm: each test batch normalised by its own statistics (Schneider et al. 2020, Nado et al. 2020)."""
    m = copy.deepcopy(model).eval()
    for bn in bn_layers(m):
        bn.train()
        bn.track_running_stats = False
        bn.running_mean = None
        bn.running_var = None

    def run(set_name):
        x, y = ctx.data(set_name)
        right = 0
        for i in range(0, len(x), PEER_BATCH):
            right += (m(to_input(x[i:i + PEER_BATCH])).argmax(1).numpy() == y[i:i + PEER_BATCH]).sum()
        return round(right / len(x), 4)

    return run(name), run(clean_name)


def tent(model, ctx, name, clean_name='test-clean', lr=1e-3):
    """TENT (Wang et al., ICLR 2021): batch statistics, and one Adam step per test batch on the BN affine
    parameters minimising the prediction entropy; online predictions; then the clean set through the adapted model."""
    m = copy.deepcopy(model)
    m.eval()
    params = []
    for p in m.parameters():
        p.requires_grad_(False)
    for bn in bn_layers(m):
        bn.train()
        bn.track_running_stats = False
        bn.running_mean = None
        bn.running_var = None
        bn.weight.requires_grad_(True)
        bn.bias.requires_grad_(True)
        params += [bn.weight, bn.bias]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    x, y = ctx.data(name)
    right = 0
    for i in range(0, len(x), PEER_BATCH):
        out = m(to_input(x[i:i + PEER_BATCH]))
        right += (out.argmax(1).numpy() == y[i:i + PEER_BATCH]).sum()
        p = F.softmax(out, 1)
        loss = -(p * F.log_softmax(out, 1)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    cx, cy = ctx.data(clean_name)
    with torch.no_grad():
        cright = sum((m(to_input(cx[i:i + PEER_BATCH])).argmax(1).numpy() == cy[i:i + PEER_BATCH]).sum() for i in range(0, len(cx), PEER_BATCH))
    return round(right / len(x), 4), round(cright / len(cx), 4)


def held(ft, fc, names):
    """The convs a shallow fine-tune trained: stem + stage 1, or further when it trained more stages
    (`train.py --stages`), read from the checkpoint itself (untrained convs stay θ_clean's bit for bit)."""
    changed = [i for i, n in enumerate(names) if not (torch.equal(ft[n][0], fc[n][0]) and torch.equal(ft[n][1], fc[n][1]))]
    k = SHALLOW
    while changed and k <= changed[-1]:
        k += STAGE
    return names[:k]


def gap(patched, clean, robust):
    return None if robust is None or abs(robust - clean) < 1e-9 else round((patched - clean) / (robust - clean), 4)


def run(args):
    ctx = Ctx(args)
    t0 = time.time()
    fig = {'samples': ctx.n, 'peer_batch': PEER_BATCH}
    clean = ctx.model('clean.pt')
    pre = ctx.model('pre.pt')
    fc, fp = fold(clean), fold(pre)
    names = [n for _, _, n in clean.conv_bn_pairs()]
    patched = Folded(clean)
    fig['clean_acc'] = acc(clean, ctx, 'test-clean')
    fig['folded_clean_acc'] = acc(patched, ctx, 'test-clean')
    conds = list(ctx.families.keys())
    sig = {}
    for c in conds:
        if ctx.has(f'sig-{c}.pt'):
            sig[c] = {'model': ctx.model(f'sig-{c}.pt')}
            fs = fold(sig[c]['model'])
            sig[c]['names'] = held(fs, fc, names)
            sig[c]['delta'] = delta(fs, fc, sig[c]['names'])
    fig['conditions'] = {}
    for c in conds:
        if c not in sig:
            continue
        # A condition none of whose inputs changed keeps its whole row from --reuse.
        fams = ctx.families[c]
        files = ['clean.pt', f'sig-{c}.pt', 'test-clean']
        files += [f for f in dict.fromkeys(f'lofo-{c}@{x["lineage"]}.pt' for x in fams) if ctx.has(f)]
        files += [f'robust-{c}@{x["id"]}.pt' for x in fams if ctx.has(f'robust-{c}@{x["id"]}.pt')]
        files += [f'test-{c}@{x["id"]}-s{s}' for x in fams for s in range(1, 6)]
        kept = ctx.reused({'row': ctx.old['conditions'][c]} if c in ctx.old.get('conditions', {}) else None, files, ['row'])
        if kept is not None:
            fig['conditions'][c] = kept['row']
            print(f'  {c}: inputs unchanged, figures kept ({time.time() - t0:.0f}s)', flush=True)
            continue
        d = sig[c]['delta']
        row = {'families': {}, 'layers': len(sig[c]['names'])}
        patched.set([(1.0, d)])
        row['clean_acc_patched'] = acc(patched, ctx, 'test-clean')
        patched.set([])
        row['clean_acc_unpatched'] = acc(patched, ctx, 'test-clean')
        lofo = {}
        for fam in ctx.families[c]:
            f, lin = fam['id'], fam['lineage']
            if lin not in lofo and ctx.has(f'lofo-{c}@{lin}.pt'):
                fl = fold(ctx.model(f'lofo-{c}@{lin}.pt'))
                lofo[lin] = delta(fl, fc, held(fl, fc, names))
                patched.set([(1.0, lofo[lin])])
                lofo_clean = acc(patched, ctx, 'test-clean')
            rob = ctx.model(f'robust-{c}@{f}.pt') if ctx.has(f'robust-{c}@{f}.pt') else None
            frow = {'lineage': lin, 'strengths': {}}
            if lin in lofo:
                frow['lofo_clean_acc_patched'] = lofo_clean
            for s in range(1, 6):
                name = f'test-{c}@{f}-s{s}'
                r = {'clean': acc(clean, ctx, name)}
                if rob is not None:
                    r['robust'] = acc(rob, ctx, name)
                patched.set([(1.0, d)])
                r['patched'] = acc(patched, ctx, name)
                if lin in lofo:
                    r['lofo_alpha'] = {}
                    for a in ALPHAS:
                        patched.set([(a, lofo[lin])])
                        r['lofo_alpha'][str(a)] = acc(patched, ctx, name)
                    r['lofo'] = r['lofo_alpha']['1.0']
                patched.set([])
                old = ctx.old.get('conditions', {}).get(c, {}).get('families', {}).get(f, {}).get('strengths', {}).get(str(s))
                peers = ctx.reused(old, ['clean.pt', name], ['bn', 'bn_clean', 'tent', 'tent_clean'])
                if peers is None:
                    peers = {}
                    peers['bn'], peers['bn_clean'] = bn_adapt(clean, ctx, name)
                    peers['tent'], peers['tent_clean'] = tent(clean, ctx, name)
                r.update(peers)
                both = ctx.reused(old, [f'sig-{c}.pt', name], ['rws_bn', 'rws_bn_clean'])
                if both is None:
                    both = {}
                    both['rws_bn'], both['rws_bn_clean'] = bn_adapt(sig[c]['model'], ctx, name)
                r.update(both)
                r['gap_in_family'] = gap(r['patched'], r['clean'], r.get('robust'))
                if 'lofo' in r:
                    r['gap_lofo'] = gap(r['lofo'], r['clean'], r.get('robust'))
                frow['strengths'][s] = r
            row['families'][f] = frow
            s3 = frow['strengths'][3]
            print(f'  {c}@{f} s3: clean {s3["clean"]:.3f} robust {s3.get("robust", float("nan")):.3f} patched {s3["patched"]:.3f} '
                  f'lofo {s3.get("lofo", float("nan")):.3f} bn {s3["bn"]:.3f} tent {s3["tent"]:.3f} rws+bn {s3["rws_bn"]:.3f} ({time.time() - t0:.0f}s)', flush=True)
        fig['conditions'][c] = row
        for f in files:
            ctx.sha(f)  # what the row rests on, so that the next run can keep it (--reuse)
    # Every shipped signature on every set, with what Auto can see without labels.
    fig['candidates'] = {}
    for c in conds:
        for fam in ctx.families[c]:
            for s in range(1, 6):
                name = f'test-{c}@{fam["id"]}-s{s}'
                cand = {'clean': scores(clean, ctx, name)}
                for k, v in sig.items():
                    patched.set([(1.0, v['delta'])])
                    cand[k] = scores(patched, ctx, name)
                patched.set([])
                fig['candidates'][name] = cand
    cand = {'clean': scores(clean, ctx, 'test-clean')}
    for k, v in sig.items():
        patched.set([(1.0, v['delta'])])
        cand[k] = scores(patched, ctx, 'test-clean')
    patched.set([])
    fig['candidates']['test-clean'] = cand
    print(f'  candidates ({time.time() - t0:.0f}s)', flush=True)
    # Quantisation of the shipped signatures (folded, per output channel), strength 3, every family.
    fig['quant'] = {}
    for c, v in sig.items():
        fs = fold(v['model'])
        q = {}
        for b in (32, 8, 4):
            patched.set([(1.0, delta(fs, fc, v['names'], b))])
            q[b] = round(float(np.mean([acc(patched, ctx, f'test-{c}@{fam["id"]}-s3') for fam in ctx.families[c]])), 4)
        patched.set([])
        fig['quant'][c] = q
    # The paper's extraction from an all-layer fine-tune (projected with θ_pre, and plain), against the
    # shallow fine-tune's delta, on each condition's default family at strength 3.
    fig['extraction'] = {}
    for c in conds:
        f0 = ctx.families[c][0]['id']
        if c not in sig or not ctx.has(f'robust-{c}@{f0}.pt'):
            continue
        fr = fold(ctx.model(f'robust-{c}@{f0}.pt'))
        name = f'test-{c}@{f0}-s3'
        res = {'family': f0}
        for k in (SHALLOW, len(names)):
            ks = names[:k]
            for meth, dd in (('projected', projected(fr, fc, fp, ks)), ('plain', delta(fr, fc, ks))):
                patched.set([(1.0, dd)])
                res[f'{meth}_k{k}'] = acc(patched, ctx, name)
        for k in (1, 3, SHALLOW):
            patched.set([(1.0, {n: sig[c]['delta'][n] for n in names[:k]})])
            res[f'finetune_k{k}'] = acc(patched, ctx, name)
        patched.set([])
        fig['extraction'][c] = res
    # Composition: each pair's two single signatures summed, on that pair's images, against the pair's
    # robust model of each family (all layers fine-tuned on it) and the pair's own signature.
    fig['composition'] = {}
    for pair, (p1, p2) in (('foggy-night', ('fog', 'low-light')), ('night-rain', ('rain', 'low-light'))):
        if not {p1, p2} <= sig.keys() or pair not in ctx.families:
            continue
        comp = {}
        for fam in ctx.families[pair]:
            f = fam['id']
            name = f'test-{pair}@{f}-s3'
            r = {'clean': acc(clean, ctx, name)}
            if ctx.has(f'robust-{pair}@{f}.pt'):
                r['pair_model'] = acc(ctx.model(f'robust-{pair}@{f}.pt'), ctx, name)
            if pair in sig:
                patched.set([(1.0, sig[pair]['delta'])])
                r['pair_signature'] = acc(patched, ctx, name)
            grid = {}
            for a1 in (0.5, 0.75, 1.0):
                for a2 in (0.5, 0.75, 1.0):
                    patched.set([(a1, sig[p1]['delta']), (a2, sig[p2]['delta'])])
                    grid[f'{a1},{a2}'] = acc(patched, ctx, name)
            r['grid'] = grid
            for key, d in ((p1, sig[p1]['delta']), (p2, sig[p2]['delta'])):
                patched.set([(1.0, d)])
                r[key] = acc(patched, ctx, name)
            r['sum'] = grid['1.0,1.0']
            patched.set([])
            comp[f] = r
            print(f'  composition {pair}@{f}: {json.dumps(r)}', flush=True)
        fig['composition'][pair] = {'parts': [p1, p2], 'families': comp}
    # Transfer: digits models patched with the Fashion-MNIST signatures. `digits` is fine-tuned from the
    # same θ_pre (all layers); `digits-shared` from θ_clean with the stem and stage 1 kept (shared stem).
    for prefix, key in (('digits', 'transfer'), ('digits-shared', 'transfer_shared')):
        if not ctx.has(f'{prefix}-clean.pt'):
            continue
        dm = ctx.model(f'{prefix}-clean.pt')
        dpatched = Folded(dm)
        tr = {'clean_acc': acc(dm, ctx, 'digitstest-clean')}
        for c, v in sig.items():
            if not ctx.has(f'{prefix}-robust-{c}.pt'):
                continue
            if key == 'transfer_shared' and len(v['names']) > SHALLOW:
                continue  # it holds convs past stage 1, which the shared-stem model does not share
            name = f'digitstest-{c}-s3'
            r = {'clean': acc(dm, ctx, name), 'robust': acc(ctx.model(f'{prefix}-robust-{c}.pt'), ctx, name)}
            dpatched.set([(1.0, v['delta'])])
            r['patched'] = acc(dpatched, ctx, name)
            r['gap_recovered'] = gap(r['patched'], r['clean'], r['robust'])
            dpatched.set([])
            tr[c] = r
            print(f'  {key} {c}: {json.dumps(r)}', flush=True)
        fig[key] = tr
    for f in ['clean.pt'] + [f'sig-{c}.pt' for c in sig]:
        ctx.sha(f)
    fig['inputs'] = ctx.inputs
    fig['seconds'] = round(time.time() - t0)
    write(args, fig)


def write(args, fig):
    with open(args.out, 'w') as f:
        json.dump(fig, f, indent=1)
    print(f'wrote {args.out}', flush=True)
