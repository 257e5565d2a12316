#!/usr/bin/env python3
"""Compare `braid inspect --json` with the PyPI `gguf` package's reader on GGUF files.

    python3 scripts/check_inspect.py target/release/braid FILE.gguf [...]

Exits 1 on the first difference. Arrays longer than 64 elements are compared by element
type and length (braid summarises them as {"type", "len"}).
"""
import json
import math
import subprocess
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType


def field_value(f):
    t = f.types[0]
    if t == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8", errors="replace")
    if t == GGUFValueType.ARRAY:
        et = f.types[1] if len(f.types) > 1 else None
        n = len(f.data)
        if n > 64:
            return {"type": et.name if et is not None else "UINT8", "len": n}
        if et == GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8", errors="replace") for i in f.data]
        if et == GGUFValueType.ARRAY:
            return None  # nested arrays: not compared
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-30)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def check(braid, path):
    out = subprocess.run([braid, "inspect", "--json", path], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    r = GGUFReader(path)
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
    assert set(got["metadata"]) == set(fields), (set(got["metadata"]) ^ set(fields))
    for k, f in fields.items():
        want = field_value(f)
        if want is None:
            continue
        assert same(got["metadata"][k], want), (k, got["metadata"][k], want)
    assert len(got["tensors"]) == len(r.tensors)
    for g, t in zip(got["tensors"], r.tensors):
        assert g["name"] == t.name, (g["name"], t.name)
        assert g["type"] == t.tensor_type.name, (g, t.tensor_type.name)
        assert g["shape"] == [int(x) for x in t.shape], (g, t.shape)
        assert g["data_offset"] == t.data_offset, (g, t.data_offset)
        assert g["bytes"] == t.n_bytes, (g, t.n_bytes)
    print(f"ok {path}: {len(fields)} metadata, {len(r.tensors)} tensors agree with gguf-py")


if __name__ == "__main__":
    for p in sys.argv[2:]:
        check(sys.argv[1], p)
