#!/usr/bin/env python3
"""Medians and ratios of benchmark rounds (scripts/bench_peers.sh, scripts/device_bench.sh).

Input: a JSONL file, one line per run: {"file": SPEC, "engine": NAME, "result": {...}} where
result holds prefill_tok_s and decode_tok_s (Braid's also the yardsticks: copy_gb_s, read_gb_s,
fraction_of_copy, fraction_of_read, weight_bytes_per_token, per_decoded_token.dispatches; the
JS API's camelCase keys are read too) or "error". Engines whose name starts with "braid" are
Braid; "PEERS" pairs each Braid engine with the peer it is compared with on the same machine.
Prints two markdown tables: every engine's medians, then the Braid / peer ratios.
"""
import json
import re
import statistics
import sys

PEERS = {"braid": ["llama.cpp", "llama.cpp-vulkan"], "braid-browser": ["wllama"]}


def snake(d):
    if isinstance(d, dict):
        return {re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), k): snake(v) for k, v in d.items()}
    return d


def main(path, title=""):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    files = list(dict.fromkeys(r["file"] for r in rows))
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    ok = lambda f, e: [snake(r["result"]) for r in rows if r["file"] == f and r["engine"] == e and "error" not in r["result"]]
    errors = [(r["file"], r["engine"], r["result"]["error"]) for r in rows if "error" in r["result"]]
    if title:
        print(title)
    n_rounds = max((len([r for r in rows if r["file"] == f and r["engine"] == e]) for f in files for e in engines), default=0)
    print(f"medians of up to {n_rounds} interleaved rounds\n")
    print("| file | engine | adapter | prefill tok/s | decode tok/s | prefill / decode | weights / token | copy GB/s | read GB/s | decode % of copy | decode % of read | dispatches / token |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    m = {}
    for f in files:
        for e in engines:
            rs = ok(f, e)
            if not rs:
                continue
            p, d = med([x["prefill_tok_s"] for x in rs]), med([x["decode_tok_s"] for x in rs])
            m[(f, e)] = (p, d)
            cell = lambda k, fmt: fmt.format(med([x[k] for x in rs])) if k in rs[0] else "—"
            adapter = rs[0].get("adapter") or {}
            if e.startswith("braid"):
                name = adapter.get("name") or f"{adapter.get('backend', '?')} ({adapter.get('device_type', '?')})"
            else:
                name = rs[0].get("backend", f"CPU, {rs[0].get('threads', 2)} threads")
            wpt = f"{rs[0]['weight_bytes_per_token'] / 1e6:.{0 if rs[0]['weight_bytes_per_token'] >= 1e7 else 2}f} MB" if "weight_bytes_per_token" in rs[0] else "—"
            disp = f"{rs[0]['per_decoded_token']['dispatches']:.0f}" if "per_decoded_token" in rs[0] else "—"
            pct = lambda k: f"{100 * med([x[k] for x in rs]):.0f}%" if k in rs[0] else "—"
            print(f"| {f} | {e} | {name} | {p:.2f} | {d:.2f} | {p / d:.1f}× | {wpt} | {cell('copy_gb_s', '{:.2f}')} | {cell('read_gb_s', '{:.2f}')} | {pct('fraction_of_copy')} | {pct('fraction_of_read')} | {disp} |")
    pairs = [(b, peer) for b, ps in PEERS.items() for peer in ps if b in engines and peer in engines]
    if pairs:
        print("\n| file | " + " | ".join(f"{b} / {peer} prefill | {b} / {peer} decode" for b, peer in pairs) + " |")
        print("|---|" + "---|---|" * len(pairs))
        for f in files:
            cells = []
            for b, peer in pairs:
                if (f, b) in m and (f, peer) in m:
                    cells += [f"{m[(f, b)][0] / m[(f, peer)][0]:.3f}", f"{m[(f, b)][1] / m[(f, peer)][1]:.3f}"]
                else:
                    cells += ["—", "—"]
            print(f"| {f} | " + " | ".join(cells) + " |")
    for f, e, msg in errors:
        print(f"\n{e} on {f} failed: {msg}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
