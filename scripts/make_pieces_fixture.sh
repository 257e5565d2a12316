#!/usr/bin/env bash
# llama.cpp's token_to_piece (without and with `special`) for real vocabularies, for
# tests/tokenizer.rs: every token that is not a plain normal token (control, user-defined,
# unknown, unused, byte) and every 97th normal one, in tests/fixtures/pieces/<vocab>.json as
# [id, attr, hex, hex_special]. Vocabularies: llama.cpp's test vocab files
# (target/llama-ref/llama.cpp/models, fetched by scripts/setup.sh) and the real Gemma 3
# (scripts/real_gemma.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/llama_ref_env.sh
source scripts/llama_ref_env.sh
ref=$ref/llama_ref
out=tests/fixtures/pieces
mkdir -p "$out" target/pieces
models=target/llama-ref/llama.cpp/models
for v in llama-spm llama-bpe gpt-2 qwen2 command-r deepseek-coder falcon gemma3-270m; do
  if [ "$v" = gemma3-270m ]; then f=$(scripts/real_gemma.sh); else f="$models/ggml-vocab-$v.gguf"; fi
  "$ref" "$bins" "$f" pieces > "target/pieces/$v.json"
  python3 - "$v" "target/pieces/$v.json" "$out/$v.json" <<'PY'
import json, sys
name, src, dst = sys.argv[1:4]
d = json.load(open(src))
NORMAL = 1 << 2
rows = []
normal = 0
for i, (attr, plain, special) in enumerate(d["tokens"]):
    if attr == NORMAL:
        normal += 1
        if normal % 97:
            continue
    rows.append([i, attr, plain, special])
json.dump({"vocab": name, "n": d["n"], "tokens": rows}, open(dst, "w"), separators=(",", ":"))
print(f"{name}: {len(rows)} of {d['n']} tokens")
PY
done

# Long inputs without spaces (a run of one letter, a base64 blob, minified code): llama.cpp's
# ids, BOS added, for tests/tokenizer.rs (Braid must give the same ids in close to linear
# time; `cargo bench` / `braid tokenize` time it).
python3 - <<'PY' > target/pieces/long.txt
import base64, random
r = random.Random(7)
blob = base64.b64encode(bytes(r.randrange(256) for _ in range(15000))).decode()
code = "".join(r.choice(["var a=1;", "function(b){return b*2}", "if(x<y){x++}", "[1,2,3].map(f);", "\"str\\u00e9\""]) for _ in range(1500))
print("a" * 16000 + "\x00" + blob + "\x00" + code, end="")
PY
python3 - "$ref" "$bins" "$models" <<'PY'
import json, subprocess, sys
ref, bins, models = sys.argv[1:4]
texts = open("target/pieces/long.txt").read().split("\x00")
out = []
for v in ["llama-bpe", "qwen2", "llama-spm"]:
    for i, t in enumerate(texts):
        open("target/pieces/one.txt", "w").write(t)
        ids = json.loads(subprocess.check_output([ref, bins, f"{models}/ggml-vocab-{v}.gguf", "tokenize", "target/pieces/one.txt"], stderr=subprocess.DEVNULL))["ids"]
        out.append({"vocab": v, "text": t, "ids": ids})
json.dump(out, open("tests/fixtures/pieces-long.json", "w"), separators=(",", ":"))
print("long inputs:", [(o["vocab"], len(o["text"]), len(o["ids"])) for o in out])
PY
