#!/usr/bin/env bash
# Installs what Braid's build, tests and demo need on a Debian machine. Idempotent: each step
# checks first and does nothing when its tool is already there.
#   scripts/setup.sh          test prerequisites (incl. llama.cpp's tokenizer test vectors)
#   scripts/setup.sh --demo   also wasm-pack and the npm dev packages (wasm-opt)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need_apt=()
for p in mesa-vulkan-drivers chromium chromium-driver python3-venv curl ca-certificates pkg-config build-essential git; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
# Node/npm: the reference vocabularies come from npm (and the demo builds with npm's binaryen).
for p in nodejs npm; do dpkg -s "$p" >/dev/null 2>&1 || command -v "${p/nodejs/node}" >/dev/null || need_apt+=("$p"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || { say "installing Rust (rustup)"; curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; }
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "cargo install wasm-bindgen-cli $want (a few minutes, once)"
  cargo install -q wasm-bindgen-cli --version "$want"
fi

# The reference readers for fixture checks (PyPI gguf), in a private venv.
if [ ! -x target/venv/bin/python ] || ! target/venv/bin/python -c "import gguf, numpy" 2>/dev/null; then
  say "python venv with gguf==0.19.0 numpy"
  mkdir -p target
  python3 -m venv target/venv
  target/venv/bin/pip install -q gguf==0.19.0 numpy
fi

# llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf + .inp/.out) and, for
# scripts/make_goldens.sh, its prebuilt libraries: node-llama-cpp ships both.
ref=target/llama-ref
if [ ! -f "$ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf.out" ]; then
  say "fetching llama.cpp test vocabularies (node-llama-cpp@3.21.1 from npm)"
  mkdir -p "$ref"
  (cd "$ref" && { [ -f package.json ] || npm init -y >/dev/null; } && npm i -E node-llama-cpp@3.21.1 --ignore-scripts --no-audit --no-fund --loglevel=error)
  rm -rf "$ref/llama.cpp"
  git clone -q "$ref/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$ref/llama.cpp"
fi

# Playwright (the library only; it drives the system Chromium) for the JS API end-to-end test.
if [ ! -d target/e2e/node_modules/playwright-core ]; then
  say "npm install playwright-core (drives /usr/bin/chromium)"
  mkdir -p target/e2e
  (cd target/e2e && { [ -f package.json ] || npm init -y >/dev/null; } && npm i -E playwright-core@1.65.0 --no-audit --no-fund --loglevel=error)
fi

if [ "${1:-}" = "--demo" ]; then
  if ! command -v wasm-pack >/dev/null; then
    say "cargo install wasm-pack (a few minutes, once)"
    cargo install -q wasm-pack
  fi
  # wasm-opt from npm's binaryen; Debian's binaryen 108 breaks the wasm (see TOOLCHAIN).
  if [ ! -x node_modules/.bin/wasm-opt ]; then
    say "npm install (binaryen for wasm-opt)"
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
say "ready"
