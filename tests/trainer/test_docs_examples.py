"""The Python examples of docs/training.md run as written (fresh process, CPU) and print what they claim."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_training_doc_examples_run():
    text = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert "DifficultyDataset 20 DifficultySampler 20" in lines
    tiers = next(line for line in lines if line.startswith("['"))
    assert sorted(ast.literal_eval(tiers)) == ["hard", "hard", "hard", "mid"]
    assert any(line.endswith("verify your final answer before you give it.") for line in lines)
    assert lines[-1] == "4.0 4.0"
