# Sourced by the fixture scripts (make_goldens.sh, make_converted.sh, …): llama.cpp as
# node-llama-cpp@3.21.1 ships it — prebuilt libraries and the matching source — under
# target/llama-ref, and the reference driver tools/llama_ref.c built against them (rebuilt when
# its source is newer). Sets ref, bins, src. Needs network access to npm once.
ref=target/llama-ref
mkdir -p "$ref"
if [ ! -d "$ref/node_modules/node-llama-cpp" ]; then
  (cd "$ref" && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1 --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
bins="$PWD/$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
if [ ! -d "$ref/llama.cpp" ]; then
  git clone -q "$ref/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$ref/llama.cpp"
fi
src="$ref/llama.cpp"
if [ ! -x "$ref/llama_ref" ] || [ tools/llama_ref.c -nt "$ref/llama_ref" ]; then
  gcc -O2 -o "$ref/llama_ref" tools/llama_ref.c -I"$src/include" -I"$src/ggml/include" -L"$bins" \
    -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -lm -Wl,-rpath,"$bins"
fi
