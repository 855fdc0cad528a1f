#!/usr/bin/python3
"""Training stages of the Fashion-MNIST recipe (Debian's python3-torch, 2 CPU threads).

Each stage reads/writes checkpoints in the work folder; run.sh calls them in order. Corrupted data
comes from the TypeScript corruptions (gen-data.ts writes raw uint8 files), never from Python.

Stages:
  pre       θ_pre: short clean training from scratch
  finetune  fine-tune a checkpoint on a data file, all layers (`--part all`), stem + stage 1 only
            (`--part shallow`: deeper layers frozen, their BatchNorm statistics too; `--stages 2`
            trains stage 2 as well), or all but stem + stage 1 (`--part deep`: a model for another
            data set that shares θ_clean's stem)
  digits    write the transfer data set (sklearn digits) as uint8 files
  export    ONNX export (BatchNorm folded by torch's constant folding; input "input", output
            "logits", dynamic batch axis)
  evaluate  accuracies of many models on many test files, in folded weight space (as ONNX sees it),
            with α sweeps, compositions and int8/int4 quantized deltas; writes a JSON of figures
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get('RWS_THREADS', '2')))
MEAN, STD = 0.2860, 0.3530


# ---------------------------------------------------------------- model

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """3 stages × 2 basic blocks, 16/32/64 channels, BatchNorm: 175k parameters."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Block(16, 16, 1), Block(16, 16, 1))
        self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32, 1))
        self.layer3 = nn.Sequential(Block(32, 64, 2), Block(64, 64, 1))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def shallow_modules(self, stages=1):
        """The stem and the first `stages` stages: what a signature of that depth holds."""
        return [self.conv1, self.bn1, *[self.layer1, self.layer2, self.layer3][:stages]]

    def deeper_modules(self, stages=1):
        """Everything after the stem and the first `stages` stages."""
        return [*[self.layer1, self.layer2, self.layer3][stages:], self.fc]

    def conv_bn_pairs(self):
        """(conv, bn, name) in graph order; the first 5 are the stem and stage 1."""
        pairs = [(self.conv1, self.bn1, 'conv1')]
        for li, layer in enumerate([self.layer1, self.layer2, self.layer3], 1):
            for bi, b in enumerate(layer):
                pairs.append((b.conv1, b.bn1, f'layer{li}.{bi}.conv1'))
                pairs.append((b.conv2, b.bn2, f'layer{li}.{bi}.conv2'))
                if b.down is not None:
                    pairs.append((b.down[0], b.down[1], f'layer{li}.{bi}.down'))
        return pairs


def save(m, out):
    """Writes a checkpoint whole or not at all: run.sh skips a stage whose output exists."""
    torch.save(m.state_dict(), out + '.tmp')
    os.replace(out + '.tmp', out)


def load_model(path):
    m = ResNet()
    m.load_state_dict(torch.load(path, map_location='cpu'))
    return m


# ---------------------------------------------------------------- data

def read_idx(path):
    op = gzip.open if path.endswith('.gz') else open
    with op(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion(split, root):
    pre = 'train' if split == 'train' else 't10k'
    x = read_idx(os.path.join(root, f'{pre}-images-idx3-ubyte.gz'))
    y = read_idx(os.path.join(root, f'{pre}-labels-idx1-ubyte.gz'))
    return x, y.astype(np.int64)


def read_u8(path, n_like):
    """A raw uint8 file of N×28×28 images written by gen-data.ts."""
    a = np.fromfile(path, dtype=np.uint8)
    return a.reshape(-1, 28, 28)


def to_input(xb):
    return ((torch.from_numpy(np.ascontiguousarray(xb)).float() / 255.0 - MEAN) / STD).unsqueeze(1)


# ---------------------------------------------------------------- training

def train(model, x, y, epochs, lr, batch=128, part='all', augment=False, seed=0, wd=5e-4, log=None, bn_stats='train', stages=1):
    g = torch.Generator().manual_seed(seed)
    if part in ('shallow', 'deep'):
        shallow = set(id(p) for m in model.shallow_modules(stages if part == 'shallow' else 1) for p in m.parameters())
        params = [p for p in model.parameters() if (id(p) in shallow) == (part == 'shallow')]
        chosen = set(id(p) for p in params)
        for p in model.parameters():
            p.requires_grad_(id(p) in chosen)
    else:
        params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    n = len(x)
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15 if part == 'all' and augment else 0.05)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        if part == 'shallow':
            # Deeper layers stay exactly as they were: their BN statistics are not in the signature.
            for m in model.deeper_modules(stages):
                m.eval()
            if bn_stats == 'frozen':
                # The shallow layers' BN statistics stay θ_clean's too (clean images are normalised as before).
                for m in model.shallow_modules(stages):
                    for b in m.modules():
                        if isinstance(b, nn.BatchNorm2d):
                            b.eval()
        elif part == 'deep':
            # A shared stem: the shallow layers, BN statistics included, stay θ_clean's.
            for m in model.shallow_modules():
                m.eval()
        perm = torch.randperm(n, generator=g).numpy()
        tot, correct, lsum = 0, 0, 0.0
        for i in range(0, n, batch):
            idx = np.sort(perm[i:i + batch])
            xb = to_input(x[idx])
            yb = torch.from_numpy(y[idx])
            if augment:
                flip = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
                xb = torch.roll(F.pad(xb, (2, 2, 2, 2), value=-MEAN / STD), (dy, dx), (2, 3))[:, :, 2:30, 2:30]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            lsum += loss.item() * len(idx)
        msg = f'  epoch {ep + 1}/{epochs}: loss {lsum / tot:.4f} train acc {correct / tot:.4f} ({time.time() - t0:.0f}s)'
        print(msg, flush=True)
    for p in model.parameters():
        p.requires_grad_(True)
    return time.time() - t0


@torch.no_grad()
def accuracy(model, x, y, batch=1000):
    model.eval()
    c = 0
    for i in range(0, len(x), batch):
        c += (model(to_input(x[i:i + batch])).argmax(1) == torch.from_numpy(y[i:i + batch])).sum().item()
    return c / len(x)


def load_set(spec, args):
    """`fashion:train`, `fashion:test`, or a u8 file (labels in `<file stem>.labels` beside it, else by prefix)."""
    if spec.startswith('fashion:'):
        return fashion(spec.split(':')[1], args.fashion)
    base = os.path.basename(spec)
    x = read_u8(spec, None)
    lab = spec[:-3] + '.labels' if spec.endswith('.u8') else ''
    if not os.path.exists(lab):
        lab = os.path.join(os.path.dirname(spec), base.split('-')[0] + '.labels')
    y = np.fromfile(lab, dtype=np.uint8).astype(np.int64)
    assert len(y) == len(x), f'{spec}: {len(x)} images but {len(y)} labels in {lab}'
    return x, y


def subset(x, y, n, seed=0):
    if not n or n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x[idx], y[idx]


# ---------------------------------------------------------------- folded weight space

def fold(model):
    """BatchNorm folded into each conv, as torch's ONNX export does: {name: (W, b)}."""
    out = {}
    for conv, bn, name in model.conv_bn_pairs():
        s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w = conv.weight.detach() * s[:, None, None, None]
        b = bn.bias.detach() - bn.running_mean * s
        out[name] = (w.clone(), b.clone())
    return out


class Folded(nn.Module):
    """A ResNet whose convs carry folded weights: the network ONNX runs, patchable per tensor."""

    def __init__(self, model):
        super().__init__()
        import copy
        self.m = copy.deepcopy(model).eval()
        self.pairs = self.m.conv_bn_pairs()
        self.names = [n for _, _, n in self.pairs]
        f = fold(self.m)
        for conv, bn, name in self.pairs:
            conv.bias = nn.Parameter(torch.zeros(conv.out_channels))
            # Identity BN: scale 1, shift 0 in eval mode.
            bn.running_mean.zero_(); bn.running_var.fill_(1 - bn.eps); bn.weight.data.fill_(1); bn.bias.data.zero_()
        self.base = f
        self.set({})

    def set(self, delta_mix):
        """Weights = folded base + Σ α·Δ; delta_mix: list of (α, {name: (dW, db)})."""
        with torch.no_grad():
            for conv, _, name in self.pairs:
                w, b = self.base[name]
                w, b = w.clone(), b.clone()
                for a, d in (delta_mix or []):
                    if name in d:
                        w += a * d[name][0]
                        b += a * d[name][1]
                conv.weight.copy_(w)
                conv.bias.copy_(b)

    def forward(self, x):
        return self.m(x)


def quantize(t, bits):
    """Per-output-channel symmetric quantization (axis 0), then dequantized."""
    if bits >= 32:
        return t
    qmax = 127 if bits == 8 else 7
    flat = t.reshape(t.shape[0], -1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / qmax
    q = torch.clamp(torch.round(flat / scale[:, None]), -qmax, qmax)
    return (q * scale[:, None]).reshape(t.shape)


def delta(a, b, names, bits=32):
    """Folded-space delta a − b over the named convs, optionally quantized like the signature files."""
    return {n: (quantize(a[n][0] - b[n][0], bits), quantize((a[n][1] - b[n][1])[:, None], bits)[:, 0]) for n in names}


def projected(robust, clean, pre, names):
    """The paper's RWS per tensor: Δ − (⟨Δ,τ⟩/‖τ‖²)·τ with τ = clean − pre, Δ = robust − pre (weight and bias as one tensor each)."""
    out = {}
    for n in names:
        parts = []
        for i in range(2):
            d = robust[n][i] - pre[n][i]
            tau = clean[n][i] - pre[n][i]
            coef = (d * tau).sum() / (tau * tau).sum().clamp_min(1e-20)
            parts.append(d - coef * tau)
        out[n] = tuple(parts)
    return out


# ---------------------------------------------------------------- stages

def stage_pre(args):
    torch.manual_seed(args.seed)
    x, y = subset(*load_set('fashion:train', args), args.samples, args.seed)
    m = ResNet()
    print(f'θ_pre: {sum(p.numel() for p in m.parameters())} parameters, {len(x)} images, {args.epochs} epochs, lr {args.lr}', flush=True)
    secs = train(m, x, y, args.epochs, args.lr, augment=True, seed=args.seed)
    save(m, args.out)
    xt, yt = load_set('fashion:test', args)
    acc = accuracy(m, xt, yt)
    print(f'θ_pre test accuracy {acc:.4f} ({secs:.0f}s)', flush=True)
    record(args, {'stage': 'pre', 'out': os.path.basename(args.out), 'acc': acc, 'seconds': secs, 'images': len(x), 'epochs': args.epochs})


def stage_finetune(args):
    torch.manual_seed(args.seed)
    xs, ys = [], []
    for spec in args.data:
        x, y = load_set(spec, args)
        xs.append(x); ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    x, y = subset(x, y, args.samples, args.seed)
    if args.clean_share > 0:
        # Clean images in the mix keep the patched model right where nothing is wrong.
        cx, cy = load_set(args.clean, args)
        n_clean = int(round(len(x) * args.clean_share / (1 - args.clean_share)))
        cx, cy = subset(cx, cy, n_clean, args.seed + 1)
        x, y = np.concatenate([x, cx]), np.concatenate([y, cy])
    m = load_model(args.init)
    if args.new_head:
        m.fc = nn.Linear(64, args.new_head)
    print(f'{os.path.basename(args.out)}: fine-tune ({args.part}{f", stem + {args.stages} stages" if args.part == "shallow" else ""}) from {os.path.basename(args.init)} on {",".join(os.path.basename(d) for d in args.data)}'
          f'{f" + {args.clean_share:.0%} clean" if args.clean_share else ""}: {len(x)} images, {args.epochs} epochs, lr {args.lr}', flush=True)
    secs = train(m, x, y, args.epochs, args.lr, part=args.part, augment=args.augment, seed=args.seed, bn_stats=args.bn_stats, stages=args.stages)
    save(m, args.out)
    res = {'stage': 'finetune', 'out': os.path.basename(args.out), 'part': args.part, 'seconds': secs, 'images': len(x), 'epochs': args.epochs, 'clean_share': args.clean_share}
    if args.part == 'shallow':
        res['stages'] = args.stages
    if args.test:
        xt, yt = load_set(args.test, args)
        res['acc'] = accuracy(m, xt, yt)
        res['test'] = os.path.basename(args.test)
        print(f'  test accuracy on {os.path.basename(args.test)}: {res["acc"]:.4f} ({secs:.0f}s)', flush=True)
    record(args, res)


def stage_export(args):
    m = load_model(args.ckpt).eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(m, dummy, args.out, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=13,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    print(f'exported {args.out}', flush=True)


def stage_digits(args):
    """The transfer data set: sklearn's UCI digits (8×8, 0..16) upscaled to 20×20 and centred in 28×28 like MNIST."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(20, 20), mode='bilinear', align_corners=False)
    x = F.pad(x, (4, 4, 4, 4))
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].numpy()
    y = d.target.astype(np.uint8)
    perm = np.random.default_rng(0).permutation(len(x))
    n_train = 1200
    for name, idx in (('digitstrain', np.sort(perm[:n_train])), ('digitstest', np.sort(perm[n_train:]))):
        x[idx].tofile(os.path.join(args.out, f'{name}-clean.u8'))
        y[idx].tofile(os.path.join(args.out, f'{name}.labels'))
    # The test split also as IDX files, for `rws eval` on the transfer pack.
    os.makedirs(os.path.join(args.out, 'digits-idx'), exist_ok=True)
    idx = np.sort(perm[n_train:])
    with open(os.path.join(args.out, 'digits-idx', 't10k-images-idx3-ubyte'), 'wb') as f:
        f.write(bytes([0, 0, 8, 3]) + b''.join(int(d).to_bytes(4, 'big') for d in (len(idx), 28, 28)) + x[idx].tobytes())
    with open(os.path.join(args.out, 'digits-idx', 't10k-labels-idx1-ubyte'), 'wb') as f:
        f.write(bytes([0, 0, 8, 1]) + len(idx).to_bytes(4, 'big') + y[idx].tobytes())
    print(f'digits: {n_train} train, {len(x) - n_train} test images in {args.out}', flush=True)


def record(args, obj):
    if not args.record:
        return
    with open(args.record, 'a') as f:
        f.write(json.dumps(obj) + '\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('stage', choices=['pre', 'finetune', 'export', 'evaluate', 'digits'])
    ap.add_argument('--fashion', default=os.environ.get('RWS_FASHION_MNIST', '/usr/share/datasets/fashion-mnist'))
    ap.add_argument('--out')
    ap.add_argument('--init')
    ap.add_argument('--ckpt')
    ap.add_argument('--reuse', help='evaluate: an earlier figures.json whose figures on unchanged inputs are kept')
    ap.add_argument('--data', action='append', default=[])
    ap.add_argument('--test')
    ap.add_argument('--part', default='all', choices=['all', 'shallow', 'deep'])
    ap.add_argument('--stages', type=int, default=1, choices=[1, 2, 3], help='--part shallow: how many stages after the stem it trains')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--lr', type=float, default=0.05)
    ap.add_argument('--samples', type=int, default=0)
    ap.add_argument('--clean', default='fashion:train', help='clean images for --clean-share')
    ap.add_argument('--clean-share', type=float, default=0.0, help='share of clean images in the fine-tune')
    ap.add_argument('--bn-stats', default='train', choices=['train', 'frozen'], help='shallow fine-tunes: let the trained layers\' BatchNorm statistics follow the data, or keep θ_clean\'s')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--augment', action='store_true')
    ap.add_argument('--new-head', type=int, default=0)
    ap.add_argument('--record')
    ap.add_argument('--config')
    args = ap.parse_args()
    if args.stage == 'pre':
        stage_pre(args)
    elif args.stage == 'finetune':
        stage_finetune(args)
    elif args.stage == 'export':
        stage_export(args)
    elif args.stage == 'digits':
        stage_digits(args)
    else:
        import evaluate
        evaluate.run(args)


if __name__ == '__main__':
    main()
