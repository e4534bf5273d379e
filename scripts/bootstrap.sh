#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with verl 0.9.1's tested CPU stack.
# Safe to re-run: it does nothing when setup.py and the lock file have not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.verl_difficulty_stamp"
want=$(cat setup.py requirements/lock-cpu.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "verl-difficulty needs Python >= 3.10 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

echo "[bootstrap] installing the tested stack into $VENV (first run takes a few minutes) ..."
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
quiet() { grep -v -E "is ignored: it is neither a file nor a directory" || true; }
"$VENV/bin/python" -m pip install -q --upgrade pip "setuptools<82" wheel 2>&1 | quiet
# The lock pins torch 2.11.0 + torchvision 0.26.0 from PyPI: the machine-local torch 2.13.0+cpu wheel has no
# matching torchvision, and without torchvision verl silently treats every VLM as text-only.
# editable_mode=compat: a plain path entry, so PYTHONPATH (e.g. a git worktree) can take precedence.
"$VENV/bin/python" -m pip install -q -c requirements/lock-cpu.txt --config-settings editable_mode=compat \
  -e ".[test]" 2>&1 | quiet
"$VENV/bin/python" - <<'PY'
import torch, torchvision, transformers, verl
assert torch.__version__.startswith("2.11.0"), torch.__version__
assert torchvision.__version__.startswith("0.26.0"), torchvision.__version__
print(f"[bootstrap] torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"transformers {transformers.__version__}, verl {verl.__version__}")
PY
echo "$want" > "$STAMP"
echo "[bootstrap] done in $(( $(date +%s) - start )) s"
