#!/usr/bin/env bash
# Installs the npm package @wllama/wllama (llama.cpp compiled to wasm) into
# target/bench/wllama/ for tools/bench/wllama.html. Idempotent: does nothing when it is there.
# Usage: tools/bench/install_wllama.sh   (prints the installed version)
set -euo pipefail
cd "$(dirname "$0")/../.."
pkg=target/bench/wllama/node_modules/@wllama/wllama
if [ ! -f "$pkg/esm/index.js" ]; then
  mkdir -p target/bench/wllama
  npm i --prefix target/bench/wllama --no-audit --no-fund --loglevel=error @wllama/wllama >&2
fi
node -p "require('./$pkg/package.json').version"
