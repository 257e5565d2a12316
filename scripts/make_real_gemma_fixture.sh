#!/usr/bin/env bash
# llama.cpp's numbers for the real Gemma 3 270M file (scripts/real_gemma.sh) that
# tests/real_gemma.rs compares Braid with, in tests/fixtures/real/gemma-3-270m.json:
# - the token ids of tests/fixtures/text/paragraphs.txt (llama_tokenize, BOS added);
# - the 64 largest logits at each of the first 48 positions of that text, computed by
#   llama.cpp on the exact-F32 twin of the file (`braid dequantize`: the same weights, so the
#   only differences left are the kernels');
# - llama-perplexity's PPL of the text's first 2 chunks of 128 tokens, on the twin and on the
#   Q4_K_M file itself.
# Sets up llama.cpp (scripts/llama_ref_env.sh); needs ~1.2 GB of disk for the twin.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
f=$(scripts/real_gemma.sh)
twin=target/real/gemma-3-270m.twin.gguf
mkdir -p target/real tests/fixtures/real
cargo build -q --release --bin braid
[ -f "$twin" ] || target/release/braid dequantize "$f" -o "$twin"
# shellcheck source=scripts/llama_ref_env.sh
source scripts/llama_ref_env.sh
ref=$ref/llama_ref
text=tests/fixtures/text/paragraphs.txt
"$ref" "$bins" "$f" tokenize "$text" > target/real/ids.json
ids=$(python3 -c "import json; print(','.join(map(str, json.load(open('target/real/ids.json'))['ids'][:48])))")
LLAMA_REF_TOPK=64 "$ref" "$bins" "$twin" "$ids" batch > target/real/top.json
"$ref" "$bins" "$twin" ppl "$text" 128 2 > target/real/ppl_twin.json
"$ref" "$bins" "$f" ppl "$text" 128 2 > target/real/ppl_q.json
python3 - "$f" <<'PY'
import json, os, sys
ids = json.load(open("target/real/ids.json"))["ids"]
top = json.load(open("target/real/top.json"))
out = {
    "file": os.path.basename(sys.argv[1]),
    "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    "text": "paragraphs.txt",
    "ids": ids,
    "positions": 48,
    "top": top["top"],
    "ppl_ctx": 128,
    "ppl_chunks": 2,
    "ppl_twin": json.load(open("target/real/ppl_twin.json")),
    "ppl_q4_k_m": json.load(open("target/real/ppl_q.json")),
}
json.dump(out, open("tests/fixtures/real/gemma-3-270m.json", "w"), separators=(",", ":"))
print("wrote tests/fixtures/real/gemma-3-270m.json:", len(ids), "ids, ppl (twin)", out["ppl_twin"]["ppl"])
PY
