#!/usr/bin/env bash
# Regenerate the llama.cpp golden fixtures in tests/fixtures/golden/:
# synthetic models from `braid synth` (tiny, small and odd shapes of every architecture, F32,
# Q8_0 and Q4_K_M, and Q2_K / Q3_K / IQ4_XS on shapes whose rows are multiples of 256,
# plus the exact-F32 twin of each quantized file), and llama.cpp's teacher-forced logits at
# every position, as one batch and token by token. Needs network access to npm once
# (node-llama-cpp@3.21.1 ships prebuilt llama.cpp libraries and the matching source).
# GOLDEN_ONLY=REGEX regenerates only the files whose "preset-type" it matches (e.g.
# GOLDEN_ONLY=gemma3, or GOLDEN_ONLY='-(q8_0|q4_k_m)' for the quantized files) and
# keeps every other fixture. GOLDEN_KV=f16 runs llama.cpp with an F16 KV cache (its default
# cache type; Braid's on GPUs with shader-f16, or with BRAID_F16=1) and writes each set into
# <set>-f16kv/ instead, for the files whose model has attention (the rest keep no KV).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/llama_ref_env.sh
source scripts/llama_ref_env.sh
cargo build -q --release --bin braid
kv=${GOLDEN_KV:-f32}
sfx=""
[ "$kv" = f16 ] && sfx=-f16kv
export LLAMA_REF_KV=$kv
# The F16 pass covers only models whose cache holds something.
needs_kv() {
  [ "$kv" = f32 ] || target/release/braid plan "$1" --json | python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["kv_bytes_per_token"] == 0)'
}
out=tests/fixtures/golden$sfx
models=target/golden-models
mkdir -p "$out" "$models"
only=${GOLDEN_ONLY:-}
keep() { [ -z "$only" ] || [[ "$1" =~ $only ]]; }
[ -n "$only" ] || rm -f "$out"/*.json
tokens="1,17,200,5,99,256,3,42,7,150,250,0"
# The model files are not stored: tests rebuild them with `braid synth` (same preset, type and
# seed) and check their FNV-1a hash against the fixture before comparing.
for spec in tiny-llama:f32 tiny-mamba2:f32 tiny-granitehybrid:f32 tiny-falcon-h1:f32 \
            tiny-llama:q8_0 tiny-mamba2:q8_0 tiny-granitehybrid:q8_0 tiny-falcon-h1:q8_0 \
            small-llama:q4_k_m small-mamba2:q4_k_m small-granitehybrid:q4_k_m small-falcon-h1:q4_k_m \
            odd-llama:f32 odd-mamba2:f32 odd-granitehybrid:f32 odd-falcon-h1:f32 \
            odd-llama:q8_0 odd-mamba2:q8_0 odd-granitehybrid:q8_0 odd-falcon-h1:q8_0 \
            tiny-lfm2:f32 tiny-lfm2:q8_0 small-lfm2:q4_k_m odd-lfm2:f32 odd-lfm2:q8_0 \
            tiny-nemotron-h:f32 tiny-nemotron-h:q8_0 small-nemotron-h:q4_k_m odd-nemotron-h:f32 odd-nemotron-h:q8_0 \
            tiny-granitehybrid-moe:f32 tiny-granitehybrid-moe:q8_0 small-granitehybrid-moe:q4_k_m \
            odd-granitehybrid-moe:f32 odd-granitehybrid-moe:q8_0 \
            tiny-lfm2moe:f32 tiny-lfm2moe:q8_0 small-lfm2moe:q4_k_m odd-lfm2moe:f32 odd-lfm2moe:q8_0 \
            tiny-nemotron-h-moe:f32 tiny-nemotron-h-moe:q8_0 small-nemotron-h-moe:q4_k_m \
            odd-nemotron-h-moe:f32 odd-nemotron-h-moe:q8_0 \
            tiny-qwen35:f32 tiny-qwen35:q8_0 small-qwen35:q4_k_m odd-qwen35:f32 odd-qwen35:q8_0 \
            tiny-qwen35moe:f32 tiny-qwen35moe:q8_0 small-qwen35moe:q4_k_m odd-qwen35moe:f32 odd-qwen35moe:q8_0 \
            tiny-qwen3next:f32 tiny-qwen3next:q8_0 small-qwen3next:q4_k_m odd-qwen3next:f32 odd-qwen3next:q8_0 \
            tiny-jamba:f32 tiny-jamba:q8_0 small-jamba:q4_k_m odd-jamba:f32 odd-jamba:q8_0 \
            tiny-llama3:f32 tiny-llama3:q8_0 tiny-qwen2:f32 tiny-qwen2:q8_0 odd-qwen2:f32 odd-qwen2:q8_0 \
            tiny-qwen3:f32 tiny-qwen3:q8_0 odd-qwen3:f32 odd-qwen3:q8_0 \
            tiny-gemma3:f32 tiny-gemma3:q8_0 small-gemma3:q4_k_m odd-gemma3:f32 odd-gemma3:q8_0 \
            small-llama:q2_k small-llama:q3_k small-qwen3:iq4_xs; do
  preset=${spec%%:*}; ty=${spec##*:}
  keep "$preset-$ty" || continue
  f="$models/$preset-$ty.gguf"
  target/release/braid synth --preset "$preset" --type "$ty" --seed 7 -o "$f" 2>/dev/null
  if [ "$ty" != f32 ]; then
    # The exact-F32 twin: the same dequantized weights, stored as F32.
    target/release/braid dequantize "$f" -o "$models/$preset-$ty.twin.gguf"
  fi
done
for f in "$models"/*.gguf; do
  keep "$(basename "$f")" || continue
  needs_kv "$f" || continue
  for mode in batch seq; do
    "$ref/llama_ref" "$bins" "$f" "$tokens" "$mode" > "${f%.gguf}.$mode.json"
  done
  python3 - "$f" "$tokens" "$out" <<'PY'
import json, os, sys
f, toks, out = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3]
data = open(f, "rb").read()
h = 0xcbf29ce484222325
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
res = {"file": os.path.basename(f), "fnv1a64": f"{h:016x}", "tokens": toks}
for mode in ("batch", "seq"):
    p = f[:-5] + f".{mode}.json"
    d = json.load(open(p))
    res["n_vocab"] = d["n_vocab"]
    res[mode] = [[round(x, 6) for x in row] for row in d["logits"]]
    os.remove(p)
json.dump(res, open(os.path.join(out, os.path.basename(f)[:-5] + ".json"), "w"), separators=(",", ":"))
print("golden:", res["file"])
PY
done

# Sessions: one script of operations (appends, a fork, batched steps of several sequences,
# save / restore) run through llama.cpp's sequence API (llama_memory_seq_cp,
# llama_state_seq_get/set_data) on the F32 file of each architecture, for
# tests/sessions_llama_cpp.rs to compare `braid run` against.
sout=tests/fixtures/sessions$sfx
mkdir -p "$sout"
[ -n "$only" ] || rm -f "$sout"/*.json
script="$models/session-script.txt"
cat > "$script" <<'EOS'
append A 1,17,200,5,99,256,3,42,7,150,250,0,18,19,33,64,65
fork B A
append A 7,150,250
append B 9,8,7,6,5
step A,B 11,12
save A A
restore C A
step C,A 13,13
append D 1,17,200
step D,B,C 4,14,24
append B 100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117
EOS
for preset in tiny-llama tiny-mamba2 tiny-granitehybrid tiny-falcon-h1 tiny-lfm2 tiny-nemotron-h \
              tiny-granitehybrid-moe tiny-lfm2moe tiny-nemotron-h-moe tiny-qwen35 tiny-qwen35moe tiny-qwen3next tiny-jamba \
              tiny-gemma3; do
  keep "$preset" || continue
  f="$models/$preset-f32.gguf"
  needs_kv "$f" || continue
  "$ref/llama_ref" "$bins" "$f" script "$script" > "$models/$preset.session.jsonl"
  python3 - "$f" "$script" "$models/$preset.session.jsonl" "$sout/$preset.json" <<'PY'
import json, os, sys
f, script, results, out = sys.argv[1:5]
data = open(f, "rb").read()
h = 0xcbf29ce484222325
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
res = [json.loads(l) for l in open(results)]
for r in res:
    if "logits" in r:
        r["logits"] = [[round(x, 6) for x in row] for row in r["logits"]]
ops = [l.split() for l in open(script) if l.strip()]
json.dump({"file": os.path.basename(f), "fnv1a64": f"{h:016x}", "script": ops, "results": res}, open(out, "w"), separators=(",", ":"))
print("session golden:", os.path.basename(out))
PY
done

# last_golden OUT_DIR N PRESET…: llama.cpp's logits of the last 8 positions of an N-token prompt
# (batch, and token by token) on each preset's F32 file, in OUT_DIR/<file>.json.
last_golden() {
  local out=$1$sfx n=$2; shift 2
  mkdir -p "$out"
  [ -n "$only" ] || rm -f "$out"/*.json
  local toks
  toks=$(python3 -c "print(','.join(str((i * 37 + 11) % 251) for i in range($n)))")
  for preset in "$@"; do
    keep "$preset" || continue
    local f="$models/$preset-f32.gguf"
    needs_kv "$f" || continue
    for mode in batch seq; do
      "$ref/llama_ref" "$bins" "$f" "$toks" "$mode" > "$models/$preset.last$n.$mode.json"
    done
    python3 - "$f" "$toks" "$out" "$models/$preset.last$n" <<'PY'
import json, os, sys
f, toks, out, stem = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3], sys.argv[4]
data = open(f, "rb").read()
h = 0xcbf29ce484222325
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
res = {"file": os.path.basename(f), "fnv1a64": f"{h:016x}", "tokens": toks, "last": 8}
for mode in ("batch", "seq"):
    d = json.load(open(f"{stem}.{mode}.json"))
    res["n_vocab"] = d["n_vocab"]
    res[mode] = [[round(x, 6) for x in row] for row in d["logits"][-8:]]
json.dump(res, open(os.path.join(out, os.path.basename(f)[:-5] + ".json"), "w"), separators=(",", ":"))
print(f"last-8 golden ({len(toks)} tokens):", res["file"], "->", out)
PY
  done
}

# Long prompts (200 tokens: three full 64-token chunks and a partial one) for the chunked
# prefill paths, on the architectures that have one (and Gemma 3's rings).
last_golden tests/fixtures/golden-long 200 tiny-qwen35 odd-qwen3next tiny-qwen35moe tiny-mamba2 tiny-granitehybrid tiny-gemma3 odd-gemma3

# RoPE far out: 4,500 tokens (positions past 4,096) on the architectures whose RoPE has its own
# twist (Llama 3's rope_freqs, NEOX with q/k norms, Gemma 3's two bases with sliding windows,
# linear scaling).
last_golden tests/fixtures/golden-rope 4500 tiny-llama3 tiny-qwen3 tiny-gemma3 odd-gemma3

# F16 KV caches against F32 ones (tests/long_prefill.rs runs both on the same files): the same
# 200-token prompts with K and V stored as F16, on every family with attention.
if [ "$kv" = f32 ]; then
  kv=f16 sfx="" LLAMA_REF_KV=f16
  last_golden tests/fixtures/golden-kv16 200 tiny-llama odd-llama tiny-llama3 tiny-qwen2 odd-qwen2 tiny-qwen3 odd-qwen3 \
    tiny-gemma3 odd-gemma3 tiny-granitehybrid tiny-falcon-h1 tiny-lfm2 tiny-nemotron-h tiny-qwen35 tiny-jamba tiny-granitehybrid-moe
fi

# The converted files (tests/fixtures/converted, made by scripts/make_converted.sh) with an F16
# cache: llama.cpp's logits on each file with attention and on its exact-F32 twin, the same
# tokens as its F32 fixture, in converted-f16kv/ (tests/converted.rs uses them for F16 caches).
if [ "$kv" = f16 ]; then
  cout=tests/fixtures/converted-f16kv
  mkdir -p "$cout" target/converted-f16kv
  [ -n "$only" ] || rm -f "$cout"/*.json
  for f in tests/fixtures/converted/*.gguf; do
    stem=$(basename "$f" .gguf)
    keep "$stem" || continue
    needs_kv "$f" || continue
    toks=$(python3 -c "import json, sys; print(','.join(map(str, json.load(open(sys.argv[1]))['tokens'])))" "${f%.gguf}.json")
    targets=("$f")
    if [[ "$stem" != *-f32 ]]; then
      target/release/braid dequantize "$f" -o "target/converted-f16kv/$stem.twin.gguf" >/dev/null
      targets+=("target/converted-f16kv/$stem.twin.gguf")
    fi
    for g in "${targets[@]}"; do
      for mode in batch seq; do
        "$ref/llama_ref" "$bins" "$g" "$toks" "$mode" > "target/converted-f16kv/$(basename "$g" .gguf).$mode.json"
      done
    done
    python3 - "$f" "$toks" "$cout" <<'PY'
import json, os, sys
f, toks, out = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3]
stem = os.path.basename(f)[:-5]
h = 0xcbf29ce484222325
for b in open(f, "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
res = {"file": os.path.basename(f), "fnv1a64": f"{h:016x}", "tokens": toks, "kv": "f16"}
for key, s in (("", stem), ("twin_", stem + ".twin")):
    for mode in ("batch", "seq"):
        p = os.path.join("target/converted-f16kv", f"{s}.{mode}.json")
        if os.path.exists(p):
            res[key + mode] = [[round(x, 6) for x in row] for row in json.load(open(p))["logits"]]
            os.remove(p)
json.dump(res, open(os.path.join(out, stem + ".json"), "w"), separators=(",", ":"))
print("converted, F16 cache:", res["file"])
PY
  done
fi
