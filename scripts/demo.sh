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
echo
echo "  Braid demo: http://localhost:$port/www/"
echo "  (Chromium needs --enable-unsafe-webgpu where WebGPU is not enabled by default)"
echo
exec python3 -m http.server "$port" --bind 127.0.0.1
