#!/usr/bin/env bash
# `npm pack` gives an installable tarball: a minimal Vite app (tests/vite-consumer) installs
# it, builds, and generates text in headless Chromium (Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q --release --target wasm32-unknown-unknown --lib
wasm-bindgen --target web --out-dir pkg --out-name braid target/wasm32-unknown-unknown/release/braid.wasm
work=target/vite-consumer
rm -rf "$work" && mkdir -p "$work"
tgz=$(npm pack --silent --pack-destination "$work" | tail -n 1)
cp tests/vite-consumer/index.html tests/vite-consumer/main.js tests/vite-consumer/package.json "$work/"
cd "$work"
npm i --no-audit --no-fund --loglevel=error
npm i --no-audit --no-fund --loglevel=error "./$tgz"
npx vite build --logLevel error
cd ../..
cargo run -q --bin braid -- synth --preset tiny-granitehybrid --type q8_0 -o "$work/dist/model.gguf" 2>/dev/null
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/dist" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
result=$(timeout 300 node tests/e2e/run.mjs "http://127.0.0.1:$port/index.html")
echo "$result"
python3 tests/e2e/check.py "npm consumer e2e" "$result" '{"done": true, "generated": 3, "arch": "granitehybrid"}'
