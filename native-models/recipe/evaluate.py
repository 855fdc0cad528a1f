"""Figures of the recipe, in folded weight space (the space of the ONNX model and its signatures).

`train.py evaluate --config calibrate|all --ckpt WORKDIR --out figures.json [--samples N]`

Checkpoints expected in WORKDIR (run.sh makes them): pre.pt, clean.pt, robust-<c>.pt (all layers
fine-tuned from θ_clean on <c>), shallow-<c>.pt (stem + stage 1 fine-tuned from θ_clean on <c>),
pair.pt / pair-shallow.pt (low light then fog), digits[-shared]-clean.pt and
digits[-shared]-robust-<c>.pt (transfer).
"""
import json
import os
import time

import numpy as np
import torch

from train import Folded, accuracy, delta, load_model, load_set, projected, fold, subset

CONDITIONS = ['rain', 'fog', 'low-light', 'snow', 'noise', 'motion-blur']
PAIR = 'low-light+fog'
SHALLOW = 5  # stem + the 4 convs of stage 1


class Ctx:
    def __init__(self, args):
        self.args = args
        self.dir = args.ckpt
        self.cache = {}
        # 2000 images per set: the full 5000 take ~40 min of evaluation on a busy 2-core machine.
        self.n = args.samples or 2000

    def data(self, name):
        """Test set by file stem, e.g. `test-fog-s3` or `test-clean`."""
        if name not in self.cache:
            x, y = load_set(os.path.join(self.dir, name + '.u8'), self.args)
            self.cache[name] = subset(x, y, self.n, 7)
        return self.cache[name]

    def has(self, f):
        return os.path.exists(os.path.join(self.dir, f))

    def model(self, f):
        return load_model(os.path.join(self.dir, f))


def acc(model, ctx, name):
    return round(accuracy(model, *ctx.data(name)), 4)


def calibrate(ctx, model_file='clean.pt'):
    m = ctx.model(model_file)
    out = {'clean': acc(m, ctx, 'test-clean')}
    for c in CONDITIONS + [PAIR]:
        out[c] = [acc(m, ctx, f'test-{c}-s{s}') for s in range(1, 6)]
        print(f'  {model_file} {c}: {out[c]}', flush=True)
    return out


def run(args):
    ctx = Ctx(args)
    t0 = time.time()
    fig = {'samples': ctx.n or 'all'}
    if args.config == 'calibrate':
        fig['calibrate'] = calibrate(ctx, os.path.basename(args.init or 'clean.pt'))
        write(args, fig)
        return
    clean = ctx.model('clean.pt')
    pre = ctx.model('pre.pt')
    fc, fp = fold(clean), fold(pre)
    names = [n for _, _, n in clean.conv_bn_pairs()]
    shallow_names = names[:SHALLOW]
    patched = Folded(clean)
    fig['clean_acc'] = acc(clean, ctx, 'test-clean')
    # Bit-exactness of unpatching is checked in the ONNX/TS path (rws eval); here: clean ≡ folded clean.
    fig['folded_clean_acc'] = acc(patched, ctx, 'test-clean')
    fig['conditions'] = {}
    deltas = {}
    for c in CONDITIONS:
        if not ctx.has(f'shallow-{c}.pt'):
            continue
        sh = ctx.model(f'shallow-{c}.pt')
        rob = ctx.model(f'robust-{c}.pt') if ctx.has(f'robust-{c}.pt') else None
        fs = fold(sh)
        d = {b: delta(fs, fc, shallow_names, b) for b in (32, 8, 4)}
        deltas[c] = d[32]
        row = {'severity': {}}
        for s in (3,) if args.config == 'quick' else range(1, 6):
            name = f'test-{c}-s{s}'
            r = {'clean': acc(clean, ctx, name)}
            if rob is not None:
                r['robust'] = acc(rob, ctx, name)
            for b, key in ((32, 'patched_f32'), (8, 'patched_int8'), (4, 'patched_int4')):
                if b != 32 and s != 3:
                    continue
                patched.set([(1.0, d[b])])
                r[key] = acc(patched, ctx, name)
            if 'robust' in r and r['robust'] != r['clean']:
                r['gap_recovered'] = round((r['patched_f32'] - r['clean']) / (r['robust'] - r['clean']), 4)
            row['severity'][s] = r
        patched.set([(1.0, d[32])])
        row['clean_acc_patched'] = acc(patched, ctx, 'test-clean')
        patched.set([])
        row['clean_acc_unpatched'] = acc(patched, ctx, 'test-clean')
        # α sweep at severity 3, and what the patch costs on clean images.
        row['alpha'] = {}
        for a in (0, 0.5, 1.0, 1.5):
            patched.set([(a, d[32])])
            row['alpha'][a] = {'s3': acc(patched, ctx, f'test-{c}-s3'), 'clean': acc(patched, ctx, 'test-clean')}
        # The paper's extraction from the full fine-tune: projected (with θ_pre) and plain, k sweep.
        if rob is not None:
            fr = fold(rob)
            row['k_sweep'] = {}
            for k in (5, len(names)):
                ks = names[:k]
                res = {}
                for meth, dd in (('projected', projected(fr, fc, fp, ks)), ('plain', delta(fr, fc, ks))):
                    patched.set([(1.0, dd)])
                    res[meth] = acc(patched, ctx, f'test-{c}-s3')
                row['k_sweep'][k] = res
            # k sweep of the shipped (shallow fine-tune) signature itself.
            for k in (1, 3):
                patched.set([(1.0, {n: deltas[c][n] for n in shallow_names[:k]})])
                row['k_sweep'].setdefault(k, {})['finetune'] = acc(patched, ctx, f'test-{c}-s3')
        patched.set([])
        fig['conditions'][c] = row
        print(f'  {c}: {json.dumps(row["severity"][3])} ({time.time() - t0:.0f}s)', flush=True)
    # Composition on doubly corrupted data.
    if 'fog' in deltas and 'low-light' in deltas:
        comp = {}
        for s in (3,):
            name = f'test-{PAIR}-s{s}'
            r = {'clean': acc(clean, ctx, name)}
            if ctx.has('pair.pt'):
                r['pair_model'] = acc(ctx.model('pair.pt'), ctx, name)
            if ctx.has('pair-shallow.pt'):
                dp = delta(fold(ctx.model('pair-shallow.pt')), fc, shallow_names)
                patched.set([(1.0, dp)])
                r['pair_signature'] = acc(patched, ctx, name)
            for key, mix in (('fog', [(1.0, deltas['fog'])]), ('low_light', [(1.0, deltas['low-light'])]),
                             ('sum', [(1.0, deltas['fog']), (1.0, deltas['low-light'])])):
                patched.set(mix)
                r[key] = acc(patched, ctx, name)
            if s == 3:
                grid = {}
                for af in (0.5, 0.75, 1.0):
                    for al in (0.5, 0.75, 1.0):
                        patched.set([(af, deltas['fog']), (al, deltas['low-light'])])
                        grid[f'{af},{al}'] = acc(patched, ctx, name)
                r['grid'] = grid
            patched.set([])
            comp[s] = r
            print(f'  composition s{s}: {json.dumps(r)}', flush=True)
        fig['composition'] = comp
    # Transfer: digits models patched with the Fashion-MNIST signatures. `digits` is fine-tuned from the
    # same θ_pre (all layers); `digits-shared` from θ_clean with the stem and stage 1 kept (shared stem).
    for prefix, key in (('digits', 'transfer'), ('digits-shared', 'transfer_shared')):
        if not ctx.has(f'{prefix}-clean.pt'):
            continue
        dm = ctx.model(f'{prefix}-clean.pt')
        dpatched = Folded(dm)
        tr = {'clean_acc': acc(dm, ctx, 'digitstest-clean')}
        for c in CONDITIONS:
            if c not in deltas or not ctx.has(f'{prefix}-robust-{c}.pt'):
                continue
            name = f'digitstest-{c}-s3'
            r = {'clean': acc(dm, ctx, name), 'robust': acc(ctx.model(f'{prefix}-robust-{c}.pt'), ctx, name)}
            dpatched.set([(1.0, deltas[c])])
            r['patched'] = acc(dpatched, ctx, name)
            if r['robust'] != r['clean']:
                r['gap_recovered'] = round((r['patched'] - r['clean']) / (r['robust'] - r['clean']), 4)
            dpatched.set([])
            tr[c] = r
            print(f'  {key} {c}: {json.dumps(r)}', flush=True)
        fig[key] = tr
    fig['seconds'] = round(time.time() - t0)
    write(args, fig)


def write(args, fig):
    with open(args.out, 'w') as f:
        json.dump(fig, f, indent=1)
    print(f'wrote {args.out}', flush=True)
