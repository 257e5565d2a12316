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
# A valid file of an architecture Braid does not run (llama.cpp's rwkv7 name on llama tensors).
cargo run -q --bin braid -- synth --preset tiny-llama --type q8_0 --architecture rwkv7 -o tests/e2e/unsupported.gguf 2>/dev/null
# The files of tests/fixtures/golden/{tiny-lfm2,tiny-nemotron-h}-q8_0*.json (same preset, type, seed).
cargo run -q --bin braid -- synth --preset tiny-lfm2 --type q8_0 --seed 7 -o tests/e2e/lfm2.gguf 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-nemotron-h --type q8_0 --seed 7 -o tests/e2e/nemotron-h.gguf 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-granitehybrid-moe --type q8_0 --seed 7 -o tests/e2e/granite-moe.gguf 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-lfm2moe --type q8_0 --seed 7 -o tests/e2e/lfm2moe.gguf 2>/dev/null
cargo run -q --bin braid -- synth --preset tiny-nemotron-h-moe --type q8_0 --seed 7 -o tests/e2e/nemotron-h-moe.gguf 2>/dev/null
# The file of tests/fixtures/golden-long/tiny-qwen35-f32.json (200-token prompt).
cargo run -q --bin braid -- synth --preset tiny-qwen35 --type f32 --seed 7 -o tests/e2e/qwen35-f32.gguf 2>/dev/null
for a in qwen35 qwen35moe qwen3next jamba gemma3; do
  cargo run -q --bin braid -- synth --preset "tiny-$a" --type q8_0 --seed 7 -o "tests/e2e/$a.gguf" 2>/dev/null
done
# Tool-call parsing (plain Node): each real template's own tool-call rendering parses back.
node tests/e2e/tools.mjs
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f tests/e2e/model.gguf tests/e2e/unsupported.gguf tests/e2e/lfm2.gguf tests/e2e/nemotron-h.gguf tests/e2e/granite-moe.gguf tests/e2e/lfm2moe.gguf tests/e2e/nemotron-h-moe.gguf tests/e2e/qwen35.gguf tests/e2e/qwen35moe.gguf tests/e2e/qwen3next.gguf tests/e2e/jamba.gguf tests/e2e/qwen35-f32.gguf' EXIT
sleep 1
page() { timeout 300 node tests/e2e/run.mjs "http://127.0.0.1:$port/tests/e2e/$1"; }
check() { echo "$2"; python3 tests/e2e/check.py "$1" "$2" "$3"; }

check "js api e2e" "$(page api.html)" '{"done": true, "llamaCppMatch": true, "gpuArgmaxSame": true, "logitsAfterGreedy": 300, "arch": "granitehybrid", "roundtrip": "the hybrid model",
  "nlogits": 300, "generated": 5, "lengthOk": true, "forkLengthOk": true, "afterRewind": 3, "restored": 3,
  "memoryKeys": "checkpoints,kv,kvUsed,recurrent,window", "abortReason": "abort", "afterAbort": 5, "stopAcrossTokens": true, "defaultPolicy": true, "contextAllOrNothing": true, "detokenizeSpecial": "[\"<|im_start|>user\",\"user\"]",
  "err404": "GGUF_INVALID", "errBadFile": "GGUF_INVALID", "errBlob": "STATE_MISMATCH", "errBadArg": "BAD_ARGUMENT", "benchReport": true, "errBench": "BAD_ARGUMENT",
  "errDisposed": "SESSION_DISPOSED", "chatFinish": "length", "chatTokens": 4, "streamChunks": 4,
  "streamFinish": "length", "chatSameAsStream": true, "chatCachedFirst": 0, "chatCachedSystem": true, "streamUsage": true, "errChatArgs": "BAD_ARGUMENT", "errLost": "DEVICE_LOST",
  "afterLost": 3, "errArch": "UNSUPPORTED_ARCH", "errNoGpu": "NO_WEBGPU",
  "supported": "llama,qwen2,qwen3,mamba2,granitehybrid,falcon-h1,lfm2,lfm2moe,nemotron_h,nemotron_h_moe,qwen35,qwen35moe,qwen3next,jamba,gemma3",
  "qwen35Match": true, "qwen35Layers": "delta_net,delta_net,delta_net,attention", "qwen35Sessions": true,
  "qwen35moeMatch": true, "qwen35moeSessions": true, "qwen35moeExperts": "6/2/1",
  "qwen3nextMatch": true, "qwen3nextLayers": "delta_net,delta_net,delta_net,attention", "qwen3nextSessions": true, "qwen3nextExperts": "6/2/1",
  "longPrefillMatch": true, "prefixAppend": "130/70", "prefixMatch": true, "prefixReport": true, "prefixOff": true, "errPrefixBudget": "BAD_ARGUMENT", "gemma3Match": true, "gemma3Layers": "attention,attention,attention,attention", "gemma3Sessions": true, "jambaMatch": true, "jambaLayers": "mamba1,mamba1,attention,mamba1", "jambaSessions": true, "jambaExperts": "4/2/0",
  "granitehybridMatch": true, "granitehybridLayers": "mamba2,attention,mamba2,attention", "granitehybridSessions": true,
  "granitehybridExperts": "8/2/1", "lfm2moeMatch": true, "lfm2moeSessions": true, "lfm2moeExperts": "6/2/0",
  "nemotron_h_moeMatch": true, "nemotron_h_moeSessions": true, "nemotron_h_moeExperts": "8/2/1",
  "lfm2Match": true, "lfm2Layers": "short_conv,attention,short_conv,attention", "lfm2Sessions": true,
  "nemotron_hMatch": true, "nemotron_hLayers": "mamba2,-,mamba2,attention,-,mamba2", "nemotron_hSessions": true}'
check "worker proxy e2e" "$(page worker.html)" '{"done": true, "progress": true, "arch": "granitehybrid",
  "roundtrip": "the hybrid model", "sameAsMainThread": true, "length": 20, "forkLength": 20, "recomputed": 2,
  "restoredLength": 20, "logits": 300, "abortReason": "abort", "abortConsistent": true, "preAborted": true,
  "errBadFile": "GGUF_INVALID", "errDisposed": "SESSION_DISPOSED", "proxyAllOrNothing": true, "benchWorker": true}'
# The bench page (www/bench.html) in its scripted mode: two rounds through the worker proxy.
check "bench page e2e" "$(page "../../www/bench.html?model=/tests/e2e/model.gguf&p=4&g=2&rounds=2&auto=1")" '{"engine": "braid-browser",
  "architecture": "granitehybrid", "rounds": 2, "prefillTokens": 4, "decodeTokens": 2}'
check "weight cache e2e" "$(page cache.html)" '{"done": true, "interrupted": "ABORTED", "partial": true,
  "resumeFetches": 1, "sameLogits": true, "secondLoadFetches": 0, "listed": true, "repairFetches": 1,
  "repairedSame": true, "deleted": true, "empty": true, "streamFetches": 1, "streamSame": true, "streamStored": true,
  "streamSecondFetches": 0, "streamArch": "UNSUPPORTED_ARCH"}'
