#!/usr/bin/env bash
# README command 1: installs the pinned CPU stack into .venv (once) and runs the main job on embedded defaults:
# bundled + synthetic data, the tiny model that sees (trained once, cached in .cache/), PISM + CMAB + pass-rate on
# local Ray, tier files and the HTML report under outputs/demo/. Extra arguments go to `verl-difficulty demo`,
# e.g. `bash scripts/demo.sh --no-ray --out /tmp/demo`. Safe to re-run: finished work is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export RAY_USAGE_STATS_ENABLED=0
exec verl-difficulty demo "$@"
