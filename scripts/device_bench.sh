#!/usr/bin/env bash
# Braid and llama.cpp side by side on a machine's real GPU (Vulkan), on the same GGUF files.
# Two steps, because the GPU machine (the `device` tool) is bare and offline:
#
#   scripts/device_bench.sh prepare     here: builds the release CLI and a llama.cpp timing
#                                       driver against node-llama-cpp's prebuilt Vulkan
#                                       libraries, and packs them with the Vulkan loader's
#                                       Debian packages into .devbench/ (~20 MB, git-ignored)
#   scripts/device_bench.sh run [ROUNDS] [PRESET:TYPE ...]
#                                       there (device `run` with carry [".devbench"]): makes
#                                       the files with `braid synth`, runs `braid bench --json`
#                                       on the GPU's Vulkan adapter and llama.cpp with every
#                                       layer offloaded (LLAMA_REF_NGL=999), interleaved
#                                       rounds, and prints the medians and Braid / llama.cpp
#                                       (tools/bench/summarize.py); the rows go to $OUT too.
#
# Default files: granite-4.0-h-350m Q4_K_M, Q8_0 and F16, 3 rounds, P 128, G 64. Never part of
# the test suite. llama.cpp's CUDA build is not carried (its library alone is 159 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
d=.devbench
mode="${1:-}"
[ $# -gt 0 ] && shift

case "$mode" in
prepare)
  export PATH="$HOME/.cargo/bin:$PATH"
  grep -qx '/.devbench/' .git/info/exclude 2>/dev/null || echo '/.devbench/' >> .git/info/exclude
  mkdir -p "$d/gl"
  cargo build -q --release --bin braid
  cp target/release/braid "$d/braid"
  # shellcheck source=scripts/llama_ref_env.sh
  . scripts/llama_ref_env.sh
  vk="$PWD/$ref/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan"
  [ -d "$vk" ] || { echo "no $vk (node-llama-cpp's Vulkan prebuilt package)" >&2; exit 1; }
  gcc -O2 -o "$d/llama_ref_vk" tools/llama_ref.c -I"$src/include" -I"$src/ggml/include" -L"$vk" \
    -l:libllama.vulkan.v0.4.0.so -l:libggml.vulkan.v0.4.0.so -l:libggml-base.so -lm -Wl,-rpath,'$ORIGIN/vk'
  # The libraries the driver and ggml's backend loader need (CPU variants for any x86-64).
  tar -C "$vk" -cJf "$d/llama-vulkan.tar.xz" libllama.vulkan.v0.4.0.so libggml.vulkan.v0.4.0.so libggml-base.so \
    libggml-vulkan.so libggml-cpu-x64.so libggml-cpu-haswell.so libggml-cpu-sapphirerapids.so libggml-cpu-zen4.so
  # The Vulkan loader (the device machine may lack it), as the device tool's notes advise.
  if ! ls "$d"/gl/libvulkan1_*.deb >/dev/null 2>&1; then
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64-lists)
    mkdir -p /tmp/amd64-lists/partial
    apt-get "${o[@]}" update -qq
    (cd "$d/gl" && apt-get "${o[@]}" download libvulkan1 >/dev/null)
  fi
  cp tools/bench/summarize.py "$d/"
  du -sh "$d"
  echo 'now: device run, command "scripts/device_bench.sh run", carry [".devbench"], timeout_s 540'
  ;;
run)
  [ -x "$d/braid" ] || { echo "run 'scripts/device_bench.sh prepare' first (and carry .devbench)" >&2; exit 1; }
  rounds="${1:-3}"
  [ $# -gt 0 ] && shift
  specs=("$@")
  [ ${#specs[@]} -gt 0 ] || specs=(granite-4.0-h-350m:q4_k_m granite-4.0-h-350m:q8_0 granite-4.0-h-350m:f16)
  P="${BENCH_PROMPT:-128}"
  G="${BENCH_GEN:-64}"
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$d"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
  mkdir -p "$d/vk" "$d/files"
  python3 -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$d/llama-vulkan.tar.xz" "$d/vk"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv,noheader 2>/dev/null || true
  out="${OUT:-$d}/device_bench.jsonl"
  : > "$out"
  for s in "${specs[@]}"; do
    f="$d/files/${s%%:*}-${s##*:}.gguf"
    [ -f "$f" ] || "$d/braid" synth --preset "${s%%:*}" --type "${s##*:}" -o "$f" >/dev/null
  done
  # A failed run is a row with "error" (the table says so) rather than the end of the script.
  row() { printf '{"file": "%s", "engine": "%s", "result": %s}\n' "$1" "$2" "$3" >> "$out"; }
  fail() { python3 -c 'import json, sys; print(json.dumps({"error": sys.argv[1][-400:]}))' "$1"; }
  for r in $(seq "$rounds"); do
    for s in "${specs[@]}"; do
      f="$d/files/${s%%:*}-${s##*:}.gguf"
      echo "round $r: $s" >&2
      # Braid as it runs by default (an F16 KV cache where the GPU has shader-f16), then with
      # its F32 cache; llama.cpp with its default F16 cache.
      if j=$("$d/braid" bench --model "$f" --prompt-tokens "$P" --gen-tokens "$G" --json 2>"$d/err"); then row "$s" braid "$j"; else row "$s" braid "$(fail "$(cat "$d/err")")"; fi
      if j=$(BRAID_F16=0 "$d/braid" bench --model "$f" --prompt-tokens "$P" --gen-tokens "$G" --json 2>"$d/err"); then row "$s" braid-f32kv "$j"; else row "$s" braid-f32kv "$(fail "$(cat "$d/err")")"; fi
      if j=$(LLAMA_REF_KV=f16 LLAMA_REF_NGL=999 "$d/llama_ref_vk" "$d/vk" "$f" bench "$P,$G" 2>"$d/err"); then
        row "$s" llama.cpp-vulkan "$(python3 -c 'import json, sys; j = json.loads(sys.argv[1]); j["backend"] = "Vulkan, all layers"; print(json.dumps(j))' "$j")"
      else
        row "$s" llama.cpp-vulkan "$(fail "$(cat "$d/err")")"
      fi
    done
  done
  python3 "$d/summarize.py" "$out" "Braid (wgpu, Vulkan) and llama.cpp (prebuilt Vulkan build) on this machine's GPU; prompt $P tokens, $G decoded."
  ;;
*)
  sed -n 2,17p "$0" >&2
  exit 2
  ;;
esac
