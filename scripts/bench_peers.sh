#!/usr/bin/env bash
# Braid and llama.cpp side by side on the same GGUF files, natively on this machine:
#   scripts/bench_peers.sh [ROUNDS] [PRESET:TYPE ...]
# Default: 3 rounds; granite-4.0-h-350m as Q4_K_M, Q8_0 and F16 (random weights, the real
# shapes, written by `braid synth` into target/bench/). In each round every file is run by
# Braid (`braid bench --json`: wgpu on the machine's adapter, lavapipe on CI machines) and
# then by llama.cpp (node-llama-cpp's prebuilt CPU libraries through tools/llama_ref.c,
# 2 threads), so both see the same machine state; the table gives medians over the rounds.
# Braid's figures come with the copy-kernel bandwidth of the same adapter measured in the
# same run, the weight bytes read per decoded token, the dispatches per token and decode's
# share of the copy bandwidth. Not covered here yet: Braid in headless Chromium and wllama.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
rounds="${1:-3}"
[ $# -gt 0 ] && shift
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(granite-4.0-h-350m:q4_k_m granite-4.0-h-350m:q8_0 granite-4.0-h-350m:f16)
P="${BENCH_PROMPT:-64}"
G="${BENCH_GEN:-16}"

cargo build -q --release --bin braid
# shellcheck source=scripts/llama_ref_env.sh
. scripts/llama_ref_env.sh
b=target/release/braid
d=target/bench
mkdir -p "$d"
out="$d/peers.jsonl"
: > "$out"
for s in "${specs[@]}"; do
  f="$d/${s%%:*}-${s##*:}.gguf"
  [ -f "$f" ] || $b synth --preset "${s%%:*}" --type "${s##*:}" -o "$f" >/dev/null
done
for r in $(seq "$rounds"); do
  for s in "${specs[@]}"; do
    f="$d/${s%%:*}-${s##*:}.gguf"
    echo "round $r: $s" >&2
    printf '{"file": "%s", "engine": "braid", "result": %s}\n' "$s" "$($b bench --model "$f" --prompt-tokens "$P" --gen-tokens "$G" --json)" >> "$out"
    printf '{"file": "%s", "engine": "llama.cpp", "result": %s}\n' "$s" "$("$ref/llama_ref" "$bins" "$f" bench "$P,$G")" >> "$out"
  done
done

python3 - "$out" "$P" "$G" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
P, G = sys.argv[2], sys.argv[3]
med = lambda xs: statistics.median(xs) if xs else float("nan")
files = list(dict.fromkeys(r["file"] for r in rows))
adapter = next((r["result"]["adapter"] for r in rows if r["engine"] == "braid"), {})
print(f"\nBraid on {adapter.get('name', '?')} ({adapter.get('backend', '?')}); llama.cpp on the CPU, 2 threads.")
print(f"Prompt {P} tokens, {G} decoded; medians of {len(rows) // (2 * len(files))} interleaved rounds.\n")
print("| file | Braid prefill tok/s | Braid decode tok/s | prefill / decode | weights per token | copy kernel | decode share of copy | dispatches per token | llama.cpp prefill | llama.cpp decode | Braid / llama.cpp prefill | Braid / llama.cpp decode |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for f in files:
    br = [r["result"] for r in rows if r["file"] == f and r["engine"] == "braid"]
    ll = [r["result"] for r in rows if r["file"] == f and r["engine"] == "llama.cpp"]
    bp, bd = med([x["prefill_tok_s"] for x in br]), med([x["decode_tok_s"] for x in br])
    lp, ld = med([x["prefill_tok_s"] for x in ll]), med([x["decode_tok_s"] for x in ll])
    copy = med([x["copy_gb_s"] for x in br])
    share = med([x["fraction_of_copy"] for x in br])
    mb = br[0]["weight_bytes_per_token"] / 1e6
    disp = br[0]["per_decoded_token"]["dispatches"]
    print(f"| {f} | {bp:.2f} | {bd:.2f} | {bp / bd:.1f}× | {mb:.0f} MB | {copy:.2f} GB/s | {100 * share:.0f}% | {disp:.0f} | {lp:.1f} | {ld:.1f} | {bp / lp:.3f} | {bd / ld:.3f} |")
PY
