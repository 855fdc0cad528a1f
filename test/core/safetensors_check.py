#!/usr/bin/env python3
"""A strict safetensors reader that checks a file the way Hugging Face's `safetensors` package does.

The package itself (a Rust extension) cannot be installed on our build machines, so this mirrors
its `SafeTensors::read_metadata` + `Metadata::validate` (safetensors/src/tensor.rs) step by step.
Usage: safetensors_check.py FILE  ->  prints JSON {metadata, tensors: {name: {dtype, shape, sha256}}}
(names sorted, as `safe_open(...).keys()` sorts them), or `ERROR <Kind>: <detail>` and exits 1.
"""
import hashlib
import json
import struct
import sys

MAX_HEADER_SIZE = 100_000_000
DTYPE_SIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "F64": 8, "I64": 8, "U64": 8,
}


class SafeTensorError(Exception):
    pass


class Obj(dict):
    """A JSON object that remembers which keys it saw more than once (the last value wins, as in a
    serde HashMap; a struct field seen twice is serde's `duplicate field` error, checked below)."""

    def __init__(self, pairs):
        super().__init__(pairs)
        seen = set()
        self.repeated = set()
        for k, _ in pairs:
            if k in seen:
                self.repeated.add(k)
            seen.add(k)


def is_usize(v):
    # serde's usize takes JSON integers only: not bools, not floats, not negatives.
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64


def read(buffer):
    if len(buffer) < 8:
        raise SafeTensorError("HeaderTooSmall")
    (n,) = struct.unpack("<Q", buffer[:8])
    if n > MAX_HEADER_SIZE:
        raise SafeTensorError("HeaderTooLarge")
    stop = n + 8
    if stop > len(buffer):
        raise SafeTensorError("InvalidHeaderLength")
    try:
        text = buffer[8:stop].decode("utf-8")
    except UnicodeDecodeError:
        raise SafeTensorError("InvalidHeader")
    if not text.startswith("{"):
        raise SafeTensorError("InvalidHeaderStart")

    def no_constants(s):
        # serde_json has no NaN/Infinity; Python's json would take them.
        raise SafeTensorError("InvalidHeaderDeserialization: " + s)

    try:
        header = json.loads(text, parse_constant=no_constants, object_pairs_hook=Obj)
    except json.JSONDecodeError as e:
        raise SafeTensorError("InvalidHeaderDeserialization: " + str(e))
    if not isinstance(header, dict):
        raise SafeTensorError("InvalidHeaderDeserialization: not an object")

    if "__metadata__" in header.repeated:
        raise SafeTensorError("InvalidHeaderDeserialization: duplicate field __metadata__")
    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise SafeTensorError("InvalidHeaderDeserialization: __metadata__ must map strings to strings")
    infos = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise SafeTensorError("InvalidHeaderDeserialization: " + name)
        if info.repeated & {"dtype", "shape", "data_offsets"}:
            raise SafeTensorError("InvalidHeaderDeserialization: duplicate field in " + name)
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_SIZE:
            raise SafeTensorError("InvalidHeaderDeserialization: dtype of " + name)
        if not isinstance(shape, list) or not all(is_usize(d) for d in shape):
            raise SafeTensorError("InvalidHeaderDeserialization: shape of " + name)
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_usize(o) for o in offsets):
            raise SafeTensorError("InvalidHeaderDeserialization: data_offsets of " + name)
        infos.append((tuple(offsets), name, dtype, shape))
    infos.sort(key=lambda t: t[0])

    start = 0
    for (s, e), name, dtype, shape in infos:
        if s != start or e < s:
            raise SafeTensorError("InvalidOffset(" + name + ")")
        start = e
        count = 1
        for d in shape:
            count *= d
        if count * DTYPE_SIZE[dtype] >= 2**64:
            raise SafeTensorError("ValidationOverflow")
        if e - s != count * DTYPE_SIZE[dtype]:
            raise SafeTensorError("TensorInvalidInfo(" + name + ")")
    if start + 8 + n != len(buffer):
        raise SafeTensorError("MetadataIncompleteBuffer")

    data = buffer[8 + n:]
    tensors = {}
    for (s, e), name, dtype, shape in sorted(infos, key=lambda t: t[1]):
        tensors[name] = {"dtype": dtype, "shape": shape, "sha256": hashlib.sha256(data[s:e]).hexdigest()}
    return {"metadata": metadata or {}, "tensors": tensors}


def main():
    with open(sys.argv[1], "rb") as f:
        buffer = f.read()
    try:
        out = read(buffer)
    except SafeTensorError as e:
        print("ERROR " + str(e))
        sys.exit(1)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
