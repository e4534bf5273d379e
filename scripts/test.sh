#!/usr/bin/env bash
# README command 2: installs the pinned CPU stack into .venv (once) and runs the whole test suite on CPU.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k pism -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export RAY_USAGE_STATS_ENABLED=0 PYTHONHASHSEED=0

echo "[test] ruff"
ruff check .
echo "[test] pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$rc"
