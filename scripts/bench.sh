#!/usr/bin/env bash
# Reproduce the README's "Measured" tables: synthetic models of the real shapes (random
# weights), loads, native inference benchmarks, session operations, and the browser's
# 256 MiB streaming loads. Natively this runs on wgpu's adapter (lavapipe on the CI machines).
#   scripts/bench.sh            (writes target/bench/*.gguf; ~15 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q --release --bin braid
b=target/release/braid
d=target/bench
mkdir -p "$d"
make() { [ -f "$d/$1.gguf" ] || $b synth --preset "$2" --type "$3" -o "$d/$1.gguf"; }
make granite granite-4.0-h-350m q4_k_m
make falcon falcon-h1-0.5b q4_k_m
make mamba2-q8 mamba2-370m q8_0
make mamba2-f32 mamba2-370m f32
make llama1b-q8 llama-1b q8_0
make small-mamba2 small-mamba2 q8_0
make qwen35 qwen3.5-0.8b q4_k_m

echo "== load (parse + upload), second run of each"
for f in granite mamba2-q8 llama1b-q8; do
  $b load "$d/$f.gguf" >/dev/null
  echo "$f: $($b load "$d/$f.gguf")"
done

echo "== inference"
echo "granite: $($b bench --model "$d/granite.gguf" --prompt-tokens 128 --gen-tokens 32 --sessions 1,4,16,64 --json)"
echo "mamba2-q8: $($b bench --model "$d/mamba2-q8.gguf" --prompt-tokens 16 --gen-tokens 6 --json)"
echo "mamba2-f32: $($b bench --model "$d/mamba2-f32.gguf" --prompt-tokens 4 --gen-tokens 6 --json)"
for p in 20 2000; do
  echo "small-mamba2 after $p tokens: $($b bench --model "$d/small-mamba2.gguf" --prompt-tokens $p --gen-tokens 300 --json)"
done

echo "== Qwen3.5-0.8B shape (Q4_K_M): DeltaNet prefill chunked vs token by token, decode; llama.cpp on the same file"
bins=target/llama-ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
for p in 512 2000; do
  for m in chunked sequential; do
    echo "qwen35 $m, $p tokens: $(BRAID_SCAN=$m $b bench --model "$d/qwen35.gguf" --prompt-tokens $p --gen-tokens 8 --json)"
  done
  if [ -x target/llama-ref/llama_ref ]; then
    echo "llama.cpp (CPU, 2 threads), $p tokens: $(target/llama-ref/llama_ref "$bins" "$d/qwen35.gguf" bench $p,8)"
  fi
done

echo "== sessions: 512 tokens (two turns), memory, fork, rewind 100 tokens to the last turn"
python3 - "$d/sessions.json" <<'PY'
import json, sys
toks = lambda n, s: [(i * 7919 + s * 104729 + 13) % 300 for i in range(n)]
ops = [{"op": "new", "id": "a"}, {"op": "append", "id": "a", "tokens": toks(412, 1)},
       {"op": "append", "id": "a", "tokens": toks(100, 2)}, {"op": "memory", "id": "a"},
       {"op": "fork", "from": "a", "id": "b"}, {"op": "rewind", "id": "b", "to": 412}]
json.dump(ops, open(sys.argv[1], "w"))
PY
for f in granite falcon; do
  echo "$f:"
  $b run --model "$d/$f.gguf" --script "$d/sessions.json" | python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line); o.pop("logits", None); print("  ", json.dumps(o))'
done

echo "== browser: 256 MiB streaming loads (headless Chromium, SwiftShader)"
cargo test --target wasm32-unknown-unknown --test web load_256 -- --nocapture 2>&1 | grep BRAID-BENCH
