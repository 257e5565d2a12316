#!/usr/bin/env bash
# Regenerate tests/fixtures/converted/: GGUF files made exactly as users get them: tiny
# random-weight Hugging Face checkpoints with the real configs' features (tools/converted/build.py,
# transformers from PyPI), converted by llama.cpp's own convert_hf_to_gguf.py (from the llama.cpp
# source node-llama-cpp carries), plus llama.cpp's logits on them (batch and token by token) and
# its token ids for tests/fixtures/converted/sample.txt.
#
# Idempotent: installs a Python venv with pinned transformers + torch into target/converted/venv
# (or uses CONVERT_VENV), llama.cpp + llama_ref into target/llama-ref (as scripts/make_goldens.sh).
# CONVERTED_ONLY=REGEX regenerates only the names it matches and keeps the other fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/converted
out=tests/fixtures/converted
mkdir -p "$work/hf" "$work/gguf" "$work/logs" "$out"

# llama.cpp (libraries, source, llama_ref)
# shellcheck source=scripts/llama_ref_env.sh
source scripts/llama_ref_env.sh

# Python: transformers + torch (CPU use) + the converter's requirements, pinned.
venv=${CONVERT_VENV:-$work/venv}
py="$venv/bin/python"
if ! "$py" -c "import transformers, torch, sentencepiece, safetensors, gguf" 2>/dev/null; then
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q transformers==5.24.0 torch==2.15.0 tokenizers==0.23.3 safetensors==0.8.0 \
    sentencepiece==0.2.3 protobuf==7.36.2 numpy==2.4.6 jinja2
  "$py" -m pip install -q -e "$src/gguf-py"
fi
export PYTHONDONTWRITEBYTECODE=1 LLAMA_CPP="$src"

cargo build -q --release --bin braid
only=${CONVERTED_ONLY:-}
keep() { [ -z "$only" ] || [[ "$1" =~ $only ]]; }
[ -n "$only" ] || rm -f "$out"/*.gguf "$out"/*.json
tokens="1,17,200,5,99,256,3,42,7,150,250,0"
# Q8_0 as well for these (the converter's Q8_0 keeps 1-D tensors and rows not a multiple of 32 in F32).
q8="granite-4.0-h-350m falcon-h1-1.5b llama-3.2-1b"

"$py" tools/converted/build.py list | while read -r name pre; do
  keep "$name" || continue
  rm -rf "$work/hf/$name"
  "$py" tools/converted/build.py "$work/hf" "$name" > "$work/logs/build-$name.log" 2>&1 \
    || { tail -5 "$work/logs/build-$name.log"; exit 1; }
  extra=()
  # Our Qwen3.5 checkpoints have no multi-token-prediction layers (real ones do; Braid skips them).
  [[ "$name" == qwen3.5-* || "$name" == qwen3-next-* ]] && extra=(--no-mtp)
  # With transformers 5 a dense Nemotron-H converts as nemotron_h_moe (see convert.py): read
  # its config.json as transformers 4 leaves it.
  raw=""
  [[ "$name" == nemotron-h-* ]] && raw=1
  types=f32
  [[ " $q8 " == *" $name "* ]] && types="f32 q8_0"
  for ty in $types; do
    f="$out/$name-$ty.gguf"
    RAW_CONFIG=$raw PRE=$pre "$py" tools/converted/convert.py "$work/hf/$name" --outfile "$f" --outtype "$ty" "${extra[@]}" \
      > "$work/logs/convert-$name-$ty.log" 2>&1 || { tail -5 "$work/logs/convert-$name-$ty.log"; exit 1; }
    targets=("$f")
    if [ "$ty" != f32 ]; then
      # The exact-F32 twin (the same dequantized weights as F32): tests rebuild it, not stored.
      target/release/braid dequantize "$f" -o "$work/gguf/$name-$ty.twin.gguf" >/dev/null
      targets+=("$work/gguf/$name-$ty.twin.gguf")
    fi
    for g in "${targets[@]}"; do
      for mode in batch seq; do
        "$ref/llama_ref" "$bins" "$g" "$tokens" "$mode" > "$work/gguf/$(basename "$g" .gguf).$mode.json"
      done
    done
    "$ref/llama_ref" "$bins" "$f" tokenize "$out/sample.txt" > "$work/gguf/$name-$ty.tok.json"
    "$py" - "$f" "$tokens" "$work/gguf" "$name" "$pre" <<'PY'
import json, os, sys
f, toks, tmp, name, pre = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3], sys.argv[4], sys.argv[5]
stem = os.path.basename(f)[:-5]
def fnv(p):
    h = 0xcbf29ce484222325
    for b in open(p, "rb").read():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
res = {"file": os.path.basename(f), "fnv1a64": fnv(f), "hf_config": f"target/converted/hf/{name}/config.json",
       "pre": pre, "tokens": toks}
for key, s in (("", stem), ("twin_", stem + ".twin")):
    for mode in ("batch", "seq"):
        p = os.path.join(tmp, f"{s}.{mode}.json")
        if os.path.exists(p):
            d = json.load(open(p))
            res["n_vocab"] = d["n_vocab"]
            res[key + mode] = [[round(x, 6) for x in row] for row in d["logits"]]
            os.remove(p)
tw = os.path.join(tmp, stem + ".twin.gguf")
if os.path.exists(tw):
    res["twin_fnv1a64"] = fnv(tw)
res["sample_ids"] = json.load(open(os.path.join(tmp, stem + ".tok.json")))["ids"]
json.dump(res, open(f[:-5] + ".json", "w"), separators=(",", ":"))
print("converted:", res["file"], os.path.getsize(f), "bytes")
PY
  done
  cp "$work/hf/$name/config.json" "$work/logs/config-$name.json"
done
du -ch "$out"/*.gguf | tail -1
