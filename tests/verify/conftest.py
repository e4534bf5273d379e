"""Fixtures for the verifier tests: the real sample data under ``../shared/data``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def _find_shared_data() -> Path | None:
    env = os.environ.get("VERL_DIFFICULTY_SHARED_DATA")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data"
        if (candidate / "mathv_testmini").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (found from this file upwards, or ``$VERL_DIFFICULTY_SHARED_DATA``)."""
    path = _find_shared_data()
    if path is None or not path.is_dir():
        pytest.fail("the real sample data (../shared/data) is missing; set VERL_DIFFICULTY_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def mathv_rows(shared_data) -> list[dict]:
    """MATH-Vision testmini rows (``id, question, options, answer, ...``)."""
    with open(shared_data / "mathv_testmini" / "testmini.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def geo3k_problems(shared_data) -> list[dict]:
    """Geometry3K ``data.json`` of every example folder."""
    root = shared_data / "geo3k_examples"
    return [json.loads((d / "data.json").read_text()) for d in sorted(root.iterdir()) if (d / "data.json").exists()]


@pytest.fixture(scope="session")
def ocr_words(shared_data) -> list[str]:
    """Transcriptions of the MMOCR word crops."""
    labels = json.loads((shared_data / "ocr_mmocr" / "rec_words" / "labels.json").read_text())
    return [inst["text"] for item in labels["data_list"] for inst in item["instances"]]


@pytest.fixture(scope="session")
def icdar_words(shared_data) -> dict[tuple[str, str], list[list[float]]]:
    """ICDAR 2015 toy ground truth: ``(image, transcript) -> axis-aligned boxes``, illegible words dropped."""
    out: dict[tuple[str, str], list[list[float]]] = {}
    for path in sorted((shared_data / "ocr_mmocr" / "icdar2015_toy" / "gt").glob("gt_img_*.txt")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            parts = line.strip().split(",")
            if len(parts) < 9:
                continue
            coords = [float(v) for v in parts[:8]]
            text = ",".join(parts[8:])
            if text == "###":
                continue
            xs, ys = coords[0::2], coords[1::2]
            out.setdefault((path.stem, text), []).append([min(xs), min(ys), max(xs), max(ys)])
    return out


def _byte_level_tokenizer(out: Path) -> Path:
    """Last-resort tokenizer (byte-level BPE trained here) for when the tiny VLM fixture is not available."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = ["<think>reasoning</think><answer>42</answer> [[1, 2, 3, 4]] \\boxed{\\frac{1}{2}}"]
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tokenizer_dir(request, tmp_path_factory) -> Path:
    """A folder loadable with ``AutoTokenizer.from_pretrained``: the suite's tiny VLM when available."""
    try:
        return Path(request.getfixturevalue("tiny_model_dir"))
    except pytest.FixtureLookupError:
        return _byte_level_tokenizer(tmp_path_factory.mktemp("tokenizer"))
