"""Runs an ONNX graph in PyTorch, op by op, so gradients flow through it: the training backend.

Started by main/engine/train/torch-graph.ts (never by hand); it speaks JSON lines on stdin/stdout
and exchanges tensors as safetensors files. The TypeScript side reads the ONNX model and hands
over a plan (nodes in topological order, attributes decoded) and every initializer; this file
knows only how each ONNX op maps onto torch. Weights named `trainable` become parameters, all
others stay constants, so autograd computes gradients for those tensors and nothing else.
BatchNormalization always uses its running statistics (inference semantics, as onnxruntime runs it).

Needs only Debian's python3-torch (no onnx package): /usr/bin/python3 by default, or $RWS_PYTHON.
"""
import json
import math
import signal
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {
    "F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
# ONNX TensorProto data types, for Cast and ConstantOfShape.
ONNX_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
               9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        raw = bytearray(data[base + start:base + end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


class Unsupported(Exception):
    pass


class Diverged(Exception):
    pass


def ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def conv_padding(attrs, x, kernel, strides, dilations, value=0.0):
    """ONNX pads (begin..., end...) or auto_pad as torch's symmetric padding, padding x first when lopsided."""
    rank = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(rank):
            size = x.shape[2 + i]
            out = math.ceil(size / strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size)
            small, big = total // 2, total - total // 2
            pads_b.append(small if auto == "SAME_UPPER" else big)
            pads_e.append(big if auto == "SAME_UPPER" else small)
    else:
        pads = attrs.get("pads", [0] * (2 * rank))
        pads_b, pads_e = pads[:rank], pads[rank:]
    if pads_b == pads_e:
        return x, pads_b
    flat = []
    for i in reversed(range(rank)):
        flat += [pads_b[i], pads_e[i]]
    return F.pad(x, flat, value=value), [0] * rank


def op_conv(n, x, w, b=None):
    a = n["attrs"]
    rank = w.dim() - 2
    kernel = a.get("kernel_shape", list(w.shape[2:]))
    strides = a.get("strides", [1] * rank)
    dilations = a.get("dilations", [1] * rank)
    x, padding = conv_padding(a, x, kernel, strides, dilations)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    return conv(x, w, b, strides, padding, dilations, a.get("group", 1))


def op_conv_transpose(n, x, w, b=None):
    a = n["attrs"]
    rank = w.dim() - 2
    pads = a.get("pads", [0] * (2 * rank))
    if pads[:rank] != pads[rank:] or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("ConvTranspose with lopsided or automatic padding")
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]
    return conv(x, w, b, a.get("strides", [1] * rank), pads[:rank], a.get("output_padding", [0] * rank), a.get("group", 1), a.get("dilations", [1] * rank))


def op_pool(kind):
    def run(n, x):
        a = n["attrs"]
        kernel = a["kernel_shape"]
        rank = len(kernel)
        strides = a.get("strides", [1] * rank)
        dilations = a.get("dilations", [1] * rank)
        x, padding = conv_padding(a, x, kernel, strides, dilations, value=-math.inf if kind == "max" else 0.0)
        ceil = bool(a.get("ceil_mode", 0))
        if kind == "max":
            return {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[rank](x, kernel, strides, padding, dilations, ceil)
        return {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[rank](x, kernel, strides, padding, ceil, bool(a.get("count_include_pad", 0)))
    return run


def op_batch_norm(n, x, scale, bias, mean, var):
    if n["attrs"].get("training_mode", 0):
        raise Unsupported("BatchNormalization in training mode")
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, n["attrs"].get("epsilon", 1e-5))


def op_layer_norm(n, x, scale, bias=None):
    axis = n["attrs"].get("axis", -1)
    axis = axis if axis >= 0 else x.dim() + axis
    return F.layer_norm(x, tuple(x.shape[axis:]), scale, bias, n["attrs"].get("epsilon", 1e-5))


def op_gemm(n, a, b, c=None):
    at = n["attrs"]
    if at.get("transA", 0):
        a = a.t()
    if at.get("transB", 0):
        b = b.t()
    y = at.get("alpha", 1.0) * (a @ b)
    return y if c is None else y + at.get("beta", 1.0) * c


def op_div(n, a, b):
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


def op_clip(n, x, lo=None, hi=None):
    a = n["attrs"]
    lo = lo if lo is not None else a.get("min")
    hi = hi if hi is not None else a.get("max")
    return torch.clamp(x, lo, hi)


def axes_of(n, axes_input, default=None):
    if axes_input is not None:
        return ints(axes_input)
    return n["attrs"].get("axes", default)


def op_unsqueeze(n, x, axes=None):
    axes = axes_of(n, axes)
    rank = x.dim() + len(axes)
    for ax in sorted(a if a >= 0 else a + rank for a in axes):
        x = x.unsqueeze(ax)
    return x


def op_squeeze(n, x, axes=None):
    axes = axes_of(n, axes)
    if axes is None:
        return x.squeeze()
    for ax in sorted((a if a >= 0 else a + x.dim() for a in axes), reverse=True):
        x = x.squeeze(ax)
    return x


def op_reshape(n, x, shape):
    shape = ints(shape)
    if not n["attrs"].get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def op_flatten(n, x):
    axis = n["attrs"].get("axis", 1)
    axis = axis if axis >= 0 else axis + x.dim()
    lead = 1
    for d in x.shape[:axis]:
        lead *= d
    return x.reshape(lead, -1)


def op_transpose(n, x):
    return x.permute(n["attrs"].get("perm", list(reversed(range(x.dim())))))


def op_concat(n, *xs):
    return torch.cat(list(xs), n["attrs"]["axis"])


def op_split(n, x, split=None):
    a = n["attrs"]
    axis = a.get("axis", 0)
    sizes = ints(split) if split is not None else a.get("split")
    if sizes is None:
        parts = a.get("num_outputs", len(n["outputs"]))
        size = -(-x.shape[axis] // parts)
        sizes = [min(size, x.shape[axis] - i * size) for i in range(parts)]
    return list(torch.split(x, sizes, axis))


def op_slice(n, x, starts, ends, axes=None, steps=None):
    starts, ends = ints(starts), ints(ends)
    axes = ints(axes) if axes is not None else list(range(len(starts)))
    steps = ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax = ax if ax >= 0 else ax + x.dim()
        size = x.shape[ax]
        if st < 0:
            raise Unsupported("Slice with a negative step")
        s = max(0, min(size, s + size if s < 0 else s))
        e = max(0, min(size, e + size if e < 0 else e))
        index[ax] = slice(s, e, st)
    return x[tuple(index)]


def op_gather(n, data, indices):
    axis = n["attrs"].get("axis", 0)
    axis = axis if axis >= 0 else axis + data.dim()
    idx = torch.where(indices < 0, indices + data.shape[axis], indices).long()
    out = torch.index_select(data, axis, idx.reshape(-1))
    return out.reshape(tuple(data.shape[:axis]) + tuple(idx.shape) + tuple(data.shape[axis + 1:]))


def op_shape(n, x):
    dims = list(x.shape)
    a = n["attrs"]
    return torch.tensor(dims[a.get("start", 0):a.get("end", len(dims))], dtype=torch.int64)


def op_expand(n, x, shape):
    return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(ints(shape))))


def op_constant(n):
    a = n["attrs"]
    if "value" in a:
        return a["value"]
    if "value_float" in a:
        return torch.tensor(a["value_float"], dtype=torch.float32)
    if "value_floats" in a:
        return torch.tensor(a["value_floats"], dtype=torch.float32)
    if "value_int" in a:
        return torch.tensor(a["value_int"], dtype=torch.int64)
    if "value_ints" in a:
        return torch.tensor(a["value_ints"], dtype=torch.int64)
    raise Unsupported("Constant without a value")


def op_constant_of_shape(n, shape):
    value = n["attrs"].get("value")
    fill = value.reshape(-1)[0] if value is not None else torch.tensor(0.0)
    return torch.full(ints(shape), fill.item(), dtype=fill.dtype)


def op_reduce(fn):
    def run(n, x, axes=None):
        axes = axes_of(n, axes)
        keep = bool(n["attrs"].get("keepdims", 1))
        if not axes:
            if n["attrs"].get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return fn(x, axes, keep)
    return run


def op_softmax(fn):
    def run(n, x):
        return fn(x, n["attrs"].get("axis", -1))
    return run


def op_pad(n, x, pads=None, value=None, axes=None):
    """ONNX pads (begin per axis, then end per axis; negative crops) as torch's, which run from the last axis back."""
    a = n["attrs"]
    mode = a.get("mode", "constant")
    pads = ints(pads) if pads is not None else a.get("pads", [])
    rank = x.dim()
    axes = [ax + rank if ax < 0 else ax for ax in (ints(axes) if axes is not None else range(rank))]
    begin, end = [0] * rank, [0] * rank
    for i, ax in enumerate(axes):
        begin[ax], end[ax] = pads[i], pads[i + len(axes)]
    padded = [d for d in range(rank) if begin[d] or end[d]]
    if not padded:
        return x
    if mode == "constant":
        fill = value.reshape(-1)[0].item() if value is not None and value.numel() else a.get("value", 0.0)
        flat = [p for d in reversed(range(padded[0], rank)) for p in (begin[d], end[d])]
        return F.pad(x, flat, "constant", fill)
    how = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if how is None or padded[0] < 2 or not 3 <= rank <= 5 or min(begin + end) < 0:
        raise Unsupported("Pad in %s mode over these axes" % mode)
    return F.pad(x, [p for d in reversed(range(2, rank)) for p in (begin[d], end[d])], how)


def op_group_norm(n, x, scale, bias):
    """GroupNormalization: opset 18 takes a scale and bias per group, opset 21 per channel (their size says which)."""
    a = n["attrs"]
    groups = a["num_groups"]
    y = F.group_norm(x, groups, eps=a.get("epsilon", 1e-5))
    if scale.numel() == groups and x.shape[1] != groups:
        scale, bias = (t.repeat_interleave(x.shape[1] // groups) for t in (scale, bias))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return y * scale.reshape(shape) + bias.reshape(shape)


def op_lp_norm(n, x):
    """x over its norm; a zero vector stays zero, as onnxruntime leaves it (not 0/0)."""
    a = n["attrs"]
    norm = x.norm(p=a.get("p", 2), dim=a.get("axis", -1), keepdim=True)
    return x / torch.where(norm == 0, torch.ones_like(norm), norm)


def op_depth_to_space(n, x):
    b = n["attrs"]["blocksize"]
    N, C, H, W = x.shape
    if n["attrs"].get("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, b)
    return x.reshape(N, b, b, C // (b * b), H, W).permute(0, 3, 4, 1, 5, 2).reshape(N, C // (b * b), H * b, W * b)


def op_space_to_depth(n, x):
    b = n["attrs"]["blocksize"]
    N, C, H, W = x.shape
    return x.reshape(N, C, H // b, b, W // b, b).permute(0, 3, 5, 1, 2, 4).reshape(N, C * b * b, H // b, W // b)


def reduce_prod(x, axes, keep):
    for ax in sorted((a if a >= 0 else a + x.dim() for a in axes), reverse=True):
        x = torch.prod(x, ax, keepdim=keep)
    return x


class Gelu(torch.autograd.Function):
    """F.gelu, its gradient computed from contiguous tensors: Debian's torch 1.13 gives the exact GELU's
    backward garbage (wrong by up to 1e9, changing from run to run) when the incoming gradient is laid
    out otherwise, as it is when a Transpose follows the GELU (tests: torch-graph.test.ts)."""

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return F.gelu(x, approximate=approximate)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return torch.ops.aten.gelu_backward(grad.contiguous(), x.contiguous(), approximate=ctx.approximate), None


def op_variadic(fn):
    def run(n, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return run


OPS = {
    "Conv": op_conv,
    "ConvTranspose": op_conv_transpose,
    "BatchNormalization": op_batch_norm,
    "LayerNormalization": op_layer_norm,
    "InstanceNormalization": lambda n, x, s, b: F.instance_norm(x, weight=s, bias=b, eps=n["attrs"].get("epsilon", 1e-5)),
    "Gemm": op_gemm,
    "MatMul": lambda n, a, b: torch.matmul(a, b),
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Div": op_div,
    "Pow": lambda n, a, b: torch.pow(a, b),
    "Sqrt": lambda n, x: torch.sqrt(x),
    "Exp": lambda n, x: torch.exp(x),
    "Log": lambda n, x: torch.log(x),
    "Neg": lambda n, x: -x,
    "Abs": lambda n, x: torch.abs(x),
    "Reciprocal": lambda n, x: 1.0 / x,
    "Erf": lambda n, x: torch.erf(x),
    "Floor": lambda n, x: torch.floor(x),
    "Ceil": lambda n, x: torch.ceil(x),
    "Relu": lambda n, x: F.relu(x),
    "LeakyRelu": lambda n, x: F.leaky_relu(x, n["attrs"].get("alpha", 0.01)),
    "Elu": lambda n, x: F.elu(x, n["attrs"].get("alpha", 1.0)),
    "Selu": lambda n, x: F.selu(x),
    "Sigmoid": lambda n, x: torch.sigmoid(x),
    "Tanh": lambda n, x: torch.tanh(x),
    "Softplus": lambda n, x: F.softplus(x),
    "Gelu": lambda n, x: Gelu.apply(x, "tanh" if n["attrs"].get("approximate", "none") == "tanh" else "none"),
    "HardSigmoid": lambda n, x: torch.clamp(n["attrs"].get("alpha", 0.2) * x + n["attrs"].get("beta", 0.5), 0, 1),
    "HardSwish": lambda n, x: F.hardswish(x),
    "PRelu": lambda n, x, slope: torch.where(x >= 0, x, x * slope),
    "Clip": op_clip,
    "Softmax": op_softmax(torch.softmax),
    "LogSoftmax": op_softmax(torch.log_softmax),
    "GlobalAveragePool": lambda n, x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True),
    "GlobalMaxPool": lambda n, x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True),
    "MaxPool": op_pool("max"),
    "AveragePool": op_pool("avg"),
    "Flatten": op_flatten,
    "Reshape": op_reshape,
    "Transpose": op_transpose,
    "Concat": op_concat,
    "Split": op_split,
    "Slice": op_slice,
    "Gather": op_gather,
    "Shape": op_shape,
    "Size": lambda n, x: torch.tensor(x.numel(), dtype=torch.int64),
    "Unsqueeze": op_unsqueeze,
    "Squeeze": op_squeeze,
    "Expand": op_expand,
    "Tile": lambda n, x, reps: x.repeat(ints(reps)),
    "Constant": op_constant,
    "ConstantOfShape": op_constant_of_shape,
    "Range": lambda n, start, limit, delta: torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype),
    "Cast": lambda n, x: x.to(ONNX_DTYPES[n["attrs"]["to"]]),
    "Identity": lambda n, x: x,
    "Dropout": lambda n, x, *rest: (x, torch.ones_like(x, dtype=torch.bool)),
    "Where": lambda n, c, a, b: torch.where(c, a, b),
    "Equal": lambda n, a, b: a == b,
    "Greater": lambda n, a, b: a > b,
    "Less": lambda n, a, b: a < b,
    "Not": lambda n, x: torch.logical_not(x),
    "And": lambda n, a, b: torch.logical_and(a, b),
    "Or": lambda n, a, b: torch.logical_or(a, b),
    "Max": op_variadic(torch.maximum),
    "Min": op_variadic(torch.minimum),
    "Sum": op_variadic(lambda a, b: a + b),
    "ReduceMean": op_reduce(lambda x, axes, keep: x.mean(dim=axes, keepdim=keep)),
    "ReduceSum": op_reduce(lambda x, axes, keep: x.sum(dim=axes, keepdim=keep)),
    "ReduceMax": op_reduce(lambda x, axes, keep: x.amax(dim=axes, keepdim=keep)),
    "ReduceMin": op_reduce(lambda x, axes, keep: x.amin(dim=axes, keepdim=keep)),
    "ReduceProd": op_reduce(reduce_prod),
    "ReduceL1": op_reduce(lambda x, axes, keep: x.abs().sum(dim=axes, keepdim=keep)),
    # torch's norm has a zero gradient at a zero slice (a ReLU's output, say), where sqrt(sum(x²)) has 0/0.
    "ReduceL2": op_reduce(lambda x, axes, keep: torch.linalg.vector_norm(x, 2, dim=axes, keepdim=keep)),
    "ReduceSumSquare": op_reduce(lambda x, axes, keep: x.pow(2).sum(dim=axes, keepdim=keep)),
    "ReduceLogSumExp": op_reduce(lambda x, axes, keep: torch.logsumexp(x, dim=axes, keepdim=keep)),
    "Pad": op_pad,
    "GroupNormalization": op_group_norm,
    "LpNormalization": op_lp_norm,
    "DepthToSpace": op_depth_to_space,
    "SpaceToDepth": op_space_to_depth,
    "Einsum": lambda n, *xs: torch.einsum(n["attrs"]["equation"], *xs),
    "Mish": lambda n, x: F.mish(x),
    "Celu": lambda n, x: F.celu(x, n["attrs"].get("alpha", 1.0)),
    "Softsign": lambda n, x: F.softsign(x),
    "ThresholdedRelu": lambda n, x: torch.where(x > n["attrs"].get("alpha", 1.0), x, torch.zeros_like(x)),
    "Sign": lambda n, x: torch.sign(x),
    "Sin": lambda n, x: torch.sin(x),
    "Cos": lambda n, x: torch.cos(x),
}


# BatchNorm as torch trains it: running statistics move by a tenth of each batch's.
BN_MOMENTUM = 0.1
BN_EPS = 1e-5


def fuse_elementwise(nodes, outputs, weights):
    """LayerNorm and GELU as torch exports them below opset 17 (LayerNorm as ReduceMean, Sub, Pow,
    ReduceMean, Add, Sqrt, Div, Mul and Add; GELU as Div, Erf, Add, Mul and Mul), each run as one
    F.layer_norm or F.gelu: the same function, with one pass over memory instead of nine or five.
    A chain is fused only when its intermediate values are used by nothing else. Gives the nodes to
    run and how many of each were fused."""
    producer = {o: n for n in nodes for o in n["outputs"] if o}
    uses = {}
    for n in nodes:
        for i in n["inputs"]:
            if i:
                uses.setdefault(i, []).append(n)
    for o in outputs:
        uses.setdefault(o, []).append(None)

    def only(value, op):
        u = uses.get(value, [])
        return u[0] if len(u) == 1 and u[0] is not None and u[0]["op"] == op else None

    def const(name):
        n = producer.get(name)
        if name in weights:
            return weights[name]
        if n is not None and n["op"] == "Constant" and isinstance(n["attrs"].get("value"), torch.Tensor):
            return n["attrs"]["value"]
        return None

    def scalar(name, want=None):
        t = const(name)
        if t is None or t.numel() != 1 or not t.is_floating_point():
            return None
        v = float(t.reshape(-1)[0])
        return v if want is None or abs(v - want) <= 1e-6 * max(1.0, abs(want)) else None

    def vector(name):
        t = const(name)
        if t is None and producer.get(name) is not None and producer[name]["op"] == "Identity":
            t = const(producer[name]["inputs"][0])
        return name if t is not None and t.dim() == 1 else None

    def other(node, value):
        ins = node["inputs"]
        return ins[1] if ins[0] == value else ins[0] if len(ins) == 2 and ins[1] == value else None

    def last_axis(node):
        axes = node["attrs"].get("axes")
        return len(node["inputs"]) == 1 and axes is not None and list(axes) == [-1] and node["attrs"].get("keepdims", 1) == 1

    drop = set()
    fused = {}
    replace = {}
    for r1 in nodes:
        if r1["op"] != "ReduceMean" or not last_axis(r1):
            continue
        x = r1["inputs"][0]
        sub = only(r1["outputs"][0], "Sub")
        if sub is None or sub["inputs"] != [x, r1["outputs"][0]]:
            continue
        d = sub["outputs"][0]
        readers = uses.get(d, [])
        pw = next((n for n in readers if n is not None and n["op"] == "Pow"), None)
        dv = next((n for n in readers if n is not None and n["op"] == "Div"), None)
        if len(readers) != 2 or pw is None or dv is None or pw["inputs"][0] != d or scalar(pw["inputs"][1], 2.0) is None:
            continue
        r2 = only(pw["outputs"][0], "ReduceMean")
        add = r2 and last_axis(r2) and only(r2["outputs"][0], "Add")
        eps = add and scalar(other(add, r2["outputs"][0]) or "")
        sq = add and eps is not None and only(add["outputs"][0], "Sqrt")
        if not sq or only(sq["outputs"][0], "Div") is not dv or dv["inputs"] != [d, sq["outputs"][0]]:
            continue
        chain = [r1, sub, pw, r2, add, sq, dv]
        end, scale, shift = dv, None, None
        mul = only(dv["outputs"][0], "Mul")
        if mul is not None and vector(other(mul, dv["outputs"][0]) or ""):
            scale, end = other(mul, dv["outputs"][0]), mul
            chain.append(mul)
            badd = only(mul["outputs"][0], "Add")
            if badd is not None and vector(other(badd, mul["outputs"][0]) or ""):
                shift, end = other(badd, mul["outputs"][0]), badd
                chain.append(badd)
        if scale is None:
            continue
        drop.update(id(n) for n in chain if n is not end)
        replace[id(end)] = {"op": "LayerNormalization", "name": end["name"], "domain": "", "inputs": [x, scale, shift or ""],
                            "outputs": list(end["outputs"]), "attrs": {"axis": -1, "epsilon": eps}}
        fused["LayerNormalization"] = fused.get("LayerNormalization", 0) + 1
    for d1 in nodes:
        if d1["op"] != "Div" or id(d1) in drop or scalar(d1["inputs"][1], math.sqrt(2.0)) is None:
            continue
        x = d1["inputs"][0]
        erf = only(d1["outputs"][0], "Erf")
        add = erf and only(erf["outputs"][0], "Add")
        if not add or scalar(other(add, erf["outputs"][0]) or "", 1.0) is None:
            continue
        m1 = only(add["outputs"][0], "Mul")
        if m1 is None or other(m1, add["outputs"][0]) != x:
            continue
        m2 = only(m1["outputs"][0], "Mul")
        if m2 is None or scalar(other(m2, m1["outputs"][0]) or "", 0.5) is None:
            continue
        drop.update(id(n) for n in (d1, erf, add, m1))
        replace[id(m2)] = {"op": "Gelu", "name": m2["name"], "domain": "", "inputs": [x], "outputs": list(m2["outputs"]), "attrs": {}}
        fused["Gelu"] = fused.get("Gelu", 0) + 1
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop], fused


class Graph:
    """The plan as a torch computation. With `adapt`, BatchNorm statistics of the trained layers
    follow the training batches (as torch trains a network in train mode): a BatchNormalization
    after a trained layer normalises by each batch's statistics and moves its running ones, and a
    trained Conv whose BatchNorm the export folded into it gets one back (virtual: it starts as the
    identity on the clean images it is calibrated on), folded again into the conv's weight and bias
    whenever the weights are read."""

    def __init__(self, plan, weights, trainable, adapt=False):
        self.nodes = plan["nodes"]
        self.inputs = plan["inputs"]
        self.outputs = plan["outputs"]
        missing = sorted({n["op"] for n in self.nodes if n["op"] not in OPS or n.get("domain") not in (None, "", "ai.onnx")})
        if missing:
            raise Unsupported("ops the training backend does not convert: %s" % ", ".join(missing))
        for n in self.nodes:
            for key, value in list(n["attrs"].items()):
                if isinstance(value, dict) and "tensor" in value:
                    n["attrs"][key] = weights.pop(value["tensor"])
        self.nodes, self.fused = fuse_elementwise(self.nodes, self.outputs, weights)
        unknown = [t for t in trainable if t not in weights]
        if unknown:
            raise Unsupported("no weight named %s" % ", ".join(unknown))
        # BatchNorm's running statistics are measured, not learned: no gradient reaches them.
        stats = {n["inputs"][i] for n in self.nodes if n["op"] == "BatchNormalization" for i in (3, 4) if len(n["inputs"]) > i}
        self.statistics = [t for t in trainable if t in stats]
        self.trainable = [t for t in trainable if t not in stats]
        self.values = {}
        for name, t in weights.items():
            if name in self.trainable:
                self.values[name] = torch.nn.Parameter(t.clone())
            else:
                self.values[name] = t
        self.training = False
        self.calibrating = False
        self.adapted = set()
        self.virtual = {}
        if adapt:
            readers = {}
            for n in self.nodes:
                for i in n["inputs"]:
                    readers.setdefault(i, []).append(n)
            asked = set(trainable)
            for n in self.nodes:
                ins = n["inputs"]
                if n["op"] == "BatchNormalization" and len(ins) > 4 and (ins[3] in asked or ins[1] in asked):
                    self.adapted.add(n["name"])
                elif (n["op"] == "Conv" and len(ins) > 2 and ins[1] in self.trainable and ins[2] in self.trainable
                      and not any(r["op"] == "BatchNormalization" for r in readers.get(n["outputs"][0], []))):
                    c = weights[ins[1]].shape[0]
                    self.virtual[n["name"]] = {
                        "weight": ins[1], "bias": ins[2], "ready": False,
                        "gamma": torch.nn.Parameter(torch.ones(c)), "beta": torch.nn.Parameter(torch.zeros(c)),
                        "mean": torch.zeros(c), "var": torch.ones(c),
                        "sum": torch.zeros(c, dtype=torch.float64), "sq": torch.zeros(c, dtype=torch.float64), "count": 0,
                    }
        # Everything the optimizer moves: the trainable weights, then each virtual BatchNorm's scale and shift.
        self.param_names = list(self.trainable)
        self.params = [self.values[n] for n in self.trainable]
        for name, v in self.virtual.items():
            self.param_names += ["vbn:%s:gamma" % name, "vbn:%s:beta" % name]
            self.params += [v["gamma"], v["beta"]]

    def parameters(self):
        return self.params

    def buffers(self):
        """Running statistics that adapt: what a saved state holds besides the parameters."""
        out = {}
        for n in self.nodes:
            if n["name"] in self.adapted:
                out[n["inputs"][3]] = self.values[n["inputs"][3]]
                out[n["inputs"][4]] = self.values[n["inputs"][4]]
        for name, v in self.virtual.items():
            out["vbn:%s:mean" % name] = v["mean"]
            out["vbn:%s:var" % name] = v["var"]
        return out

    def virtual_bn(self, v, z):
        if self.calibrating:
            d = z.detach().double().transpose(0, 1).reshape(z.shape[1], -1)
            v["sum"] += d.sum(1)
            v["sq"] += (d * d).sum(1)
            v["count"] += d.shape[1]
            return z
        if not v["ready"]:
            return z
        return F.batch_norm(z, v["mean"], v["var"], v["gamma"], v["beta"], self.training, BN_MOMENTUM, BN_EPS)

    def calibrated(self):
        """Each virtual BatchNorm starts as the identity on the clean images seen while calibrating."""
        with torch.no_grad():
            for v in self.virtual.values():
                if not v["count"]:
                    continue
                mean = v["sum"] / v["count"]
                var = (v["sq"] / v["count"] - mean * mean).clamp_min(0)
                v["mean"].copy_(mean.float())
                v["var"].copy_(var.float())
                v["gamma"].copy_(torch.sqrt(var + BN_EPS).float())
                v["beta"].copy_(mean.float())
                v["ready"] = True

    def effective(self, names):
        """Current values as the ONNX graph holds them: each virtual BatchNorm folded into its conv."""
        out = {n: self.values[n] for n in names}
        with torch.no_grad():
            for v in self.virtual.values():
                if not v["ready"] or (v["weight"] not in out and v["bias"] not in out):
                    continue
                s = v["gamma"] / torch.sqrt(v["var"] + BN_EPS)
                w = self.values[v["weight"]]
                if v["weight"] in out:
                    out[v["weight"]] = w * s.reshape([-1] + [1] * (w.dim() - 1))
                if v["bias"] in out:
                    out[v["bias"]] = (self.values[v["bias"]] - v["mean"]) * s + v["beta"]
        return out

    def run(self, feeds):
        env = dict(self.values)
        env.update(feeds)
        for n in self.nodes:
            args = [env[i] if i else None for i in n["inputs"]]
            while args and args[-1] is None:
                args.pop()
            try:
                if self.training and n["name"] in self.adapted:
                    x, scale, bias, mean, var = args[:5]
                    out = F.batch_norm(x, mean, var, scale, bias, True, BN_MOMENTUM, n["attrs"].get("epsilon", 1e-5))
                else:
                    out = OPS[n["op"]](n, *args)
                if n["name"] in self.virtual:
                    out = self.virtual_bn(self.virtual[n["name"]], out)
            except Unsupported:
                raise
            except Exception as e:
                raise RuntimeError("node %s (%s): %s" % (n["name"], n["op"], e)) from e
            outs = out if isinstance(out, (list, tuple)) else [out]
            for name, value in zip(n["outputs"], outs):
                if name:
                    env[name] = value
        return [env[o] for o in self.outputs]


def target_of(req):
    """Class indices, or one distribution per position of the output's last axis (an image's classes, or a detector's per-box classes)."""
    if "labels" in req:
        return torch.tensor(req["labels"], dtype=torch.int64)
    return read_safetensors(req["targets"])["targets"]


def loss_of(scores, target, probabilities=False):
    """Cross-entropy of the output against the target; `probabilities`: the model already ends in a softmax."""
    logp = torch.log(scores.clamp_min(1e-12)) if probabilities else torch.log_softmax(scores, -1)
    if target.dtype == torch.int64:
        return F.nll_loss(logp, target)
    return -(target.reshape(scores.shape) * logp).sum(-1).mean()


def hits_of(logits, target):
    """How many positions' top class is the target's (its label, or its most probable class)."""
    want = target if target.dtype == torch.int64 else target.reshape(logits.shape).argmax(-1)
    return int((logits.argmax(-1) == want).sum())


class Session:
    def __init__(self):
        self.graph = None
        self.optimizer = None
        self.start = {}
        self.decay = 0.0

    def handle(self, req):
        op = req["op"]
        if op == "load":
            torch.set_num_threads(req.get("threads") or torch.get_num_threads())
            plan = json.load(open(req["plan"]))
            self.graph = Graph(plan, read_safetensors(req["weights"]), req.get("trainable", []), bool(req.get("adapt")))
            params = self.graph.parameters()
            momentum = req.get("momentum") or 0.0
            self.optimizer = torch.optim.SGD(params, lr=req.get("lr") or 0.01, momentum=momentum, nesterov=bool(req.get("nesterov")) and momentum > 0) if params else None
            # Weight decay pulls towards the starting weights, not towards zero: a signature is a small move from them.
            self.decay = req.get("weightDecay") or 0.0
            self.start = {n: p.detach().clone() for n, p in zip(self.graph.param_names, params)} if self.decay else {}
            g = self.graph
            return {"trainable": g.trainable, "statistics": g.statistics, "adapted": sorted(g.adapted), "virtual": sorted(g.virtual), "fused": g.fused, "threads": torch.get_num_threads(), "torch": torch.__version__}
        if op == "blas":
            return {"slowdown": round(blas_slowdown(), 2)}
        g = self.graph
        if g is None:
            raise RuntimeError("no graph loaded")
        if op == "forward":
            x = read_safetensors(req["input"])
            batch = next(iter(x.values())).shape[0]
            chunk = req.get("chunk") or batch
            with torch.no_grad():
                parts = [g.run({k: v[at:at + chunk] for k, v in x.items()}) for at in range(0, batch, chunk)]
            outs = [torch.cat([p[i] for p in parts]) if len(parts) > 1 else parts[0][i] for i in range(len(parts[0]))]
            write_safetensors(req["out"], {"out%d" % i: o for i, o in enumerate(outs)})
            return {"outputs": len(outs)}
        if op == "step":
            x = read_safetensors(req["input"])
            for group in self.optimizer.param_groups:
                if req.get("lr") is not None:
                    group["lr"] = req["lr"]
                if req.get("momentum") is not None:
                    group["momentum"] = req["momentum"]
            t0 = time.perf_counter()
            self.optimizer.zero_grad(set_to_none=True)
            target = target_of(req)
            feeds = {k: v for k, v in x.items()}
            first = next(iter(feeds.values()))
            batch = first.shape[0]
            # A model exported with a fixed batch runs in chunks of it, its gradients summed.
            chunk = req.get("chunk") or batch
            loss_sum, hits = 0.0, 0
            g.training = True
            try:
                for at in range(0, batch, chunk):
                    part = {k: v[at:at + chunk] for k, v in feeds.items()}
                    logits = g.run(part)[req.get("output", 0)]
                    t = target[at:at + chunk]
                    loss = loss_of(logits, t, bool(req.get("probabilities")))
                    if not math.isfinite(float(loss)):
                        raise Diverged("the loss is not finite (%s): the learning rate is too high for this model (lower --lr)" % float(loss))
                    (loss * (t.shape[0] / batch)).backward()
                    loss_sum += float(loss) * t.shape[0] / batch
                    hits += hits_of(logits.detach(), t)
            finally:
                g.training = False
            if self.decay:
                for name, p in zip(g.param_names, g.parameters()):
                    if p.grad is not None:
                        p.grad.add_(p.detach() - self.start[name], alpha=self.decay)
            grads = {name: float(p.grad.norm()) if p.grad is not None else None for name, p in zip(g.param_names, g.parameters())}
            if not all(v is None or math.isfinite(v) for v in grads.values()):
                raise Diverged("a gradient is not finite: the learning rate is too high for this model (lower --lr)")
            if req.get("gradients"):
                write_safetensors(req["gradients"], {name: p.grad for name, p in zip(g.trainable, g.parameters()) if p.grad is not None})
            if req.get("update", True):
                self.optimizer.step()
            return {"loss": loss_sum, "hits": hits, "gradNorms": grads, "seconds": time.perf_counter() - t0}
        if op == "calibrate":
            x = read_safetensors(req["input"])
            g.calibrating = True
            try:
                with torch.no_grad():
                    g.run(x)
            finally:
                g.calibrating = False
            if req.get("done"):
                g.calibrated()
            return {"virtual": len(g.virtual)}
        if op == "save":
            # The parameters, the optimizer's momentum and the adapting statistics: all a stopped run needs to go on.
            out = {n: p for n, p in zip(g.param_names, g.parameters())}
            for n, p in zip(g.param_names, g.parameters()):
                buf = self.optimizer.state.get(p, {}).get("momentum_buffer") if self.optimizer else None
                if buf is not None:
                    out["momentum:" + n] = buf
            out.update(g.buffers())
            write_safetensors(req["out"], out)
            return {"tensors": len(out)}
        if op == "restore":
            saved = read_safetensors(req["file"])
            with torch.no_grad():
                for n, p in zip(g.param_names, g.parameters()):
                    if n not in saved:
                        raise RuntimeError("%s: no tensor %s" % (req["file"], n))
                    p.copy_(saved[n].reshape(p.shape))
                    if "momentum:" + n in saved:
                        self.optimizer.state[p]["momentum_buffer"] = saved["momentum:" + n].reshape(p.shape).clone()
                for n, t in g.buffers().items():
                    if n not in saved:
                        raise RuntimeError("%s: no tensor %s" % (req["file"], n))
                    t.copy_(saved[n].reshape(t.shape))
                for v in g.virtual.values():
                    v["ready"] = True
            return {"tensors": len(saved)}
        if op == "weights":
            names = req.get("names") or list(g.values.keys())
            write_safetensors(req["out"], g.effective(names))
            return {"tensors": len(names)}
        raise RuntimeError("unknown request %r" % op)


def blas_slowdown():
    """How many times slower torch's matrix product runs than the same product as a 1x1 convolution.
    Convolutions run on oneDNN; matrix products (MatMul, Gemm: attention, Linear layers) on the BLAS
    the system provides, which on Debian is the slow reference one unless OpenBLAS is installed."""
    a = torch.randn(256, 256)
    b = torch.randn(256, 256)
    x = a.t().reshape(1, 256, 16, 16)
    w = b.t().reshape(256, 256, 1, 1)
    def best(f):
        for _ in range(3):
            f()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)
    with torch.no_grad():
        return best(lambda: a @ b) / max(best(lambda: F.conv2d(x, w)), 1e-6)


def main():
    # Ctrl-C in a terminal reaches the whole process group: the TypeScript side decides when to
    # stop (after the step in hand, saving its state) and closes stdin, which ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    session = Session()
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            reply = {"id": req.get("id"), "ok": True, "value": session.handle(req)}
        except Unsupported as e:
            reply = {"id": req.get("id"), "ok": False, "code": "train-unsupported", "error": str(e)}
        except Diverged as e:
            reply = {"id": req.get("id"), "ok": False, "code": "train-diverged", "error": str(e)}
        except Exception as e:
            reply = {"id": req.get("id"), "ok": False, "code": "train-backend", "error": "%s: %s" % (type(e).__name__, e)}
        try:
            text = json.dumps(reply, allow_nan=False)
        except ValueError as e:
            text = json.dumps({"id": req.get("id"), "ok": False, "code": "train-backend", "error": "a reply held a value JSON cannot carry (%s)" % e})
        print(text, flush=True)


if __name__ == "__main__":
    main()
