#!/usr/bin/env bash
# Template fixtures from Hugging Face transformers' renderer (scripts/make_template_fixtures.py)
# in a venv of its own (target/hf-venv: transformers and jinja2 pinned, no torch); BRAID_HF_VENV
# reuses another venv that has them.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${BRAID_HF_VENV:-target/hf-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import transformers, jinja2" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "transformers==5.24.0" "jinja2==3.1.6"
fi
"$venv/bin/python" scripts/make_template_fixtures.py
