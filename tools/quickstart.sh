#!/usr/bin/env bash
# The main job on a fresh machine: install, then explain three SST-2 dev predictions with TracIn over the
# fine-tuned all-MiniLM-L6-v2 (fine-tuned once, then cached). Extra arguments go to `spanfluence explain`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
spanfluence explain --data sst2 --method tracin --test 0 1 2 --top 5 "$@"
