#!/usr/bin/env bash
# The public JS API (js/index.js) end to end in headless Chromium on WebGPU: builds the wasm
# package with wasm-bindgen, serves the repo, opens tests/e2e/api.html with Playwright
# (playwright-core, installed by scripts/setup.sh) and checks its result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q --target wasm32-unknown-unknown --lib
wasm-bindgen --target web --out-dir pkg --out-name braid target/wasm32-unknown-unknown/debug/braid.wasm
cargo run -q --bin braid -- synth --preset tiny-granitehybrid --type q8_0 --seed 7 --chat-template -o tests/e2e/model.gguf 2>/dev/null
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f tests/e2e/model.gguf' EXIT
sleep 1
result=$(timeout 300 node tests/e2e/run.mjs "http://127.0.0.1:$port/tests/e2e/api.html")
echo "$result"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
want = {"done": True, "arch": "granitehybrid", "roundtrip": "the hybrid model", "nlogits": 300,
        "generated": 5, "length": r.get("promptTokens", -9) + 5, "forkLength": r.get("promptTokens", -9) + 5,
        "afterRewind": 3, "restored": 3,
        "memoryKeys": "checkpoints,kv,kvUsed,recurrent", "abortReason": "abort", "afterAbort": 5,
        "err404": "GGUF_INVALID", "errBadFile": "GGUF_INVALID", "errBlob": "STATE_MISMATCH",
        "errBadArg": "BAD_ARGUMENT", "errDisposed": "SESSION_DISPOSED", "chatFinish": "length",
        "chatTokens": 4, "streamChunks": 4, "streamFinish": "length", "chatSameAsStream": True,
        "errChatArgs": "BAD_ARGUMENT", "errLost": "DEVICE_LOST", "afterLost": 3}
bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
if bad:
    print("js api e2e: FAILED", bad)
    sys.exit(1)
print(f"js api e2e: {len(want)} passed, 0 failed")
PY
result=$(timeout 300 node tests/e2e/run.mjs "http://127.0.0.1:$port/tests/e2e/worker.html")
echo "$result"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
want = {"done": True, "progress": True, "arch": "granitehybrid", "roundtrip": "the hybrid model",
        "sameAsMainThread": True, "length": 20, "forkLength": 20, "recomputed": 2, "restoredLength": 20,
        "logits": 300, "abortReason": "abort", "abortConsistent": True, "errBadFile": "GGUF_INVALID",
        "errDisposed": "SESSION_DISPOSED"}
bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
if bad:
    print("worker proxy e2e: FAILED", bad)
    sys.exit(1)
print(f"worker proxy e2e: {len(want)} passed, 0 failed")
PY
result=$(timeout 300 node tests/e2e/run.mjs "http://127.0.0.1:$port/tests/e2e/cache.html")
echo "$result"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
want = {"done": True, "interrupted": "ABORTED", "partial": True, "resumeFetches": 1, "sameLogits": True,
        "secondLoadFetches": 0, "listed": True, "repairFetches": 1, "repairedSame": True, "deleted": True, "empty": True}
bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
if bad:
    print("weight cache e2e: FAILED", bad)
    sys.exit(1)
print(f"weight cache e2e: {len(want)} passed, 0 failed")
PY
