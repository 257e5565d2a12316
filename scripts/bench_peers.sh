#!/usr/bin/env bash
# Braid and its peers side by side on the same GGUF files, on this machine:
#   scripts/bench_peers.sh [ROUNDS] [PRESET:TYPE ...]
# Default: 3 rounds; granite-4.0-h-350m as Q4_K_M, Q8_0 and F16 (random weights, the real
# shapes, written by `braid synth` into target/bench/). In each round every file is run by
#   braid          `braid bench --json`: wgpu natively on the machine's adapter (lavapipe on CI
#                  machines);
#   llama.cpp      node-llama-cpp's prebuilt CPU libraries through tools/llama_ref.c, 2 threads;
#   braid-browser  headless Chromium (WebGPU: SwiftShader without a GPU) through the public JS
#                  API in a Web Worker: www/bench.html, the release wasm build;
#   wllama         @wllama/wllama (llama.cpp in wasm, 2 threads, crossOriginIsolated) in the same
#                  Chromium: tools/bench/wllama.html;
# one after another, so all see the same machine state; tools/bench/summarize.py prints the
# medians and the Braid / peer ratios (native vs llama.cpp, browser vs wllama). Braid's figures
# come with the copy and read bandwidth of the same adapter measured in the same run, the weight
# bytes read per decoded token, the dispatches per token and decode's share of the yardsticks.
# BENCH_BROWSER=0 skips the two browser engines (they need scripts/setup.sh's Chromium and
# Playwright; ~2 min per file and round on SwiftShader). BENCH_PROMPT / BENCH_GEN: P (64), G (16).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
rounds="${1:-3}"
[ $# -gt 0 ] && shift
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(granite-4.0-h-350m:q4_k_m granite-4.0-h-350m:q8_0 granite-4.0-h-350m:f16)
P="${BENCH_PROMPT:-64}"
G="${BENCH_GEN:-16}"

browser="${BENCH_BROWSER:-1}"
cargo build -q --release --bin braid
if [ "$browser" = 1 ]; then
  cargo build -q --release --target wasm32-unknown-unknown --lib
  wasm-bindgen --target web --out-dir pkg --out-name braid target/wasm32-unknown-unknown/release/braid.wasm
  wllama_version=$(tools/bench/install_wllama.sh)
  echo "wllama $wllama_version" >&2
  port=$((20000 + RANDOM % 20000))
  python3 tools/bench/serve.py "$port" &
  server=$!
  trap 'kill $server 2>/dev/null' EXIT
  sleep 1
fi
# One page run: its JSON, or {"error": ...} (the table then says which engine failed).
page() {
  local j
  if j=$(timeout 1200 node tools/bench/page.mjs "http://127.0.0.1:$port/$1" 1100 2>"$d/page.err"); then echo "$j"
  else python3 -c 'import json, sys; print(json.dumps({"error": (sys.argv[1] or sys.argv[2])[-400:]}))' "$j" "$(tail -5 "$d/page.err")"; fi
}
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
    if [ "$browser" = 1 ]; then
      printf '{"file": "%s", "engine": "braid-browser", "result": %s}\n' "$s" "$(page "www/bench.html?model=/$f&p=$P&g=$G&rounds=1&auto=1")" >> "$out"
      printf '{"file": "%s", "engine": "wllama", "result": %s}\n' "$s" "$(page "tools/bench/wllama.html?model=/$f&p=$P&g=$G&threads=2&rounds=1")" >> "$out"
    fi
  done
done

python3 tools/bench/summarize.py "$out" "Prompt $P tokens, $G decoded; llama.cpp and wllama on the CPU, 2 threads."
