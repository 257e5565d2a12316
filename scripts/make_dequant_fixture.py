#!/usr/bin/env python3
"""Make tests/fixtures/dequant.json: random blocks of every quant type Braid supports and the
values gguf-py's own dequantizer gives for them (an independent reference for
src/gguf/quant.rs). Requires `pip install gguf==0.19.0 numpy`.

    python3 scripts/make_dequant_fixture.py
"""
import json
import os

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

rng = np.random.default_rng(20261128)


def f16_bytes(n, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def blocks(t, n):
    bs, ts = GGML_QUANT_SIZES[t]
    raw = rng.integers(0, 256, (n, ts), dtype=np.uint8)
    if t == T.F32:
        return rng.standard_normal(n).astype(np.float32).view(np.uint8).reshape(n, 4)
    if t == T.F16:
        return f16_bytes(n, -100, 100)
    if t == T.BF16:
        v = rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16
        return v.astype(np.uint16).view(np.uint8).reshape(n, 2)
    if t in (T.Q4_0, T.Q5_0, T.Q8_0, T.IQ4_NL):
        raw[:, 0:2] = f16_bytes(n)
    elif t in (T.Q4_1, T.Q5_1, T.Q4_K, T.Q5_K):
        raw[:, 0:2] = f16_bytes(n)
        raw[:, 2:4] = f16_bytes(n)
    elif t == T.Q6_K:
        raw[:, 208:210] = f16_bytes(n)
    elif t == T.Q2_K:
        raw[:, 80:82] = f16_bytes(n)
        raw[:, 82:84] = f16_bytes(n)
    elif t == T.Q3_K:
        raw[:, 108:110] = f16_bytes(n)
    elif t == T.IQ4_XS:
        raw[:, 0:2] = f16_bytes(n)
    elif t == T.MXFP4:
        raw[:, 0] = rng.integers(0, 200, n, dtype=np.uint8)
        raw[0, 0] = 0  # subnormal scales
        raw[1 % n, 0] = 1
    return raw


TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K,
         T.Q6_K, T.IQ4_NL, T.MXFP4,
         # added later: appended so the entries above keep their random draws
         T.Q2_K, T.Q3_K, T.IQ4_XS]
out = {}
for t in TYPES:
    bs, ts = GGML_QUANT_SIZES[t]
    n = 64 if bs == 1 else (6 if bs == 32 else 3)
    b = blocks(t, n)
    vals = dequantize(b.reshape(-1), t).astype(np.float32).reshape(-1)
    assert vals.size == n * bs, (t, vals.size)
    out[t.name] = {"bytes": b.reshape(-1).tobytes().hex(),
                   "values": [float(v) for v in vals]}

path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "dequant.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
