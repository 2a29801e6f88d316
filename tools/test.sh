#!/usr/bin/env bash
# The whole test suite on a fresh machine: install the dev environment, check that the exported modules and the
# README are in sync with the notebooks, run every notebook (nbdev_test) and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh --dev
# the real-browser tests (tests/test_browser.py, tests/test_docs.py) drive Debian's Chromium
if ! command -v chromium >/dev/null && [ -z "${SPANFLUENCE_CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || echo "WARNING: could not install chromium; the browser tests will be skipped"
  else echo "WARNING: chromium is missing and this is not root; the browser tests will be skipped"; fi
fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore::DeprecationWarning
start=$(date +%s)
echo "== nbdev_export leaves no diff"
tmp=$(mktemp -d); cp -r spanfluence "$tmp/before"
nbdev_export
if ! diff -r -x __pycache__ "$tmp/before" spanfluence; then
  echo "FAIL: the modules in spanfluence/ are not what the notebooks export (run nbdev_export and commit)"; exit 1
fi
rm -rf "$tmp"
echo "== README.md is current with nbs/index.ipynb"
python tools/make_readme.py --check
echo "== nbdev_test (every notebook; flags slow/cuda skipped)"
nbdev_test --n_workers "${NBDEV_WORKERS:-2}" --timing ${NBDEV_FLAGS:+--flags "$NBDEV_FLAGS"}
echo "== pytest"
python -m pytest -q tests
echo "== test suite took $(( $(date +%s) - start ))s"
