#!/usr/bin/env bash
# Build the wasm package, make the offline default model if absent, and serve the demo.
#   scripts/demo.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
port="${1:-8080}"

echo "[demo] wasm-pack build --target web"
wasm-pack build --target web --release --out-name braid

mkdir -p www/models
if [ ! -f www/models/default.gguf ]; then
  echo "[demo] making the offline default model (random weights)"
  cargo run -q --release --bin braid -- synth --preset tiny-granitehybrid --type q8_0 -o www/models/default.gguf
fi
echo
echo "  Braid demo: http://localhost:$port/www/"
echo "  (Chromium needs --enable-unsafe-webgpu where WebGPU is not enabled by default)"
echo
exec python3 -m http.server "$port" --bind 127.0.0.1
