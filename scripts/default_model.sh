#!/usr/bin/env bash
# Make the demo's offline default model (www/models/default.gguf) if it is absent or was made
# by another recipe: a Granite-4.0-H-shaped model with RANDOM weights, made by `braid synth`,
# so that the page works with no download. Usage: scripts/default_model.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
recipe="synth --preset demo-granitehybrid --type q8_0 --seed 1 --chat-template"
stamp="$recipe (preset v2: untied output)"   # change when the preset changes
mkdir -p www/models
if [ -f www/models/default.gguf ] && [ "$(cat www/models/default.recipe 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "[default model] braid $recipe  (random weights; the first run builds the native braid CLI first, a few quiet minutes on 2 cores)"
# shellcheck disable=SC2086
cargo run -q ${1:-} --bin braid -- $recipe -o www/models/default.gguf.tmp
mv www/models/default.gguf.tmp www/models/default.gguf
echo "$stamp" > www/models/default.recipe
