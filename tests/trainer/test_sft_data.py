# ruff: noqa: F811  (pytest fixtures imported from recipe_data are test arguments)
"""The SFT data converter on real rows, read back by verl 0.9.1's own ``MultiTurnSFTDataset``."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from recipe_data import recipe_rows_parquet, recipe_scored_parquet  # noqa: F401  (fixtures)

from verl_difficulty.trainer.sft_data import SFTDataError, convert_to_sft, main


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_answer_targets_for_a_tier(tmp_path, recipe_scored_parquet):
    """PISM mid rows -> user turn (placeholders kept) + the bare answer; system prompt dropped; images intact."""
    out = tmp_path / "sft.parquet"
    report = convert_to_sft(recipe_scored_parquet, out, metric="pism", keep=["mid"])
    src = _rows(recipe_scored_parquet)
    mid = [r for i, r in enumerate(src) if i % 4 == 1]
    got = _rows(out)
    assert report.written == len(got) == len(mid) > 0 and not report.skipped
    for row, sft in zip(mid, got):
        msgs = sft["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        user = next(m for m in row["prompt"] if m["role"] == "user")
        assert msgs[0]["content"] == user["content"] and msgs[0]["content"].count("<image>") == len(row["images"])
        assert msgs[1]["content"] == row["reward_model"]["ground_truth"]
        assert [i["bytes"] for i in sft["images"]] == [i["bytes"] for i in row["images"]]
        assert all(i["max_pixels"] == 1254400 for i in sft["images"])
        assert json.loads(sft["extra_info"])["index"] == row["extra_info"]["index"]


def test_tagged_answers_and_kept_system_prompt(tmp_path, recipe_rows_parquet):
    """Unscored rows work too (no tier filter); options change the target format and the system turn."""
    out = tmp_path / "sft.parquet"
    convert_to_sft(recipe_rows_parquet, out, answer_format="tagged", system_prompt="keep", max_pixels=None, limit=3)
    got = _rows(out)
    assert len(got) == 3
    for sft in got:
        assert sft["messages"][0]["role"] == "system" and "<think>" in sft["messages"][0]["content"]
        assert sft["messages"][-1]["content"].startswith("<answer>")
        assert "max_pixels" not in sft["images"][0]


def test_chain_targets_are_verified(tmp_path, recipe_scored_parquet):
    """CMAB: the solved chain is the target; chains whose answer is wrong are skipped and listed, never used."""
    out = tmp_path / "sft.parquet"
    report = convert_to_sft(recipe_scored_parquet, out, metric="cmab", keep=["mid", "hard"])  # target defaults to chain
    got = _rows(out)
    n = len(_rows(recipe_scored_parquet))
    assert report.selected == n and report.written == len(got) == (n + 1) // 2
    assert len(report.skipped) == n // 2 and report.reasons() == {"chain does not verify": n // 2}
    skipped = [json.loads(line) for line in (tmp_path / "sft.parquet.skipped.jsonl").read_text().splitlines()]
    assert sorted(s["row"] for s in skipped) == list(range(1, n, 2))
    for sft in got:
        assert sft["messages"][0]["role"] == "system"  # chains were sampled with the system prompt
        assert sft["messages"][-1]["content"].startswith("<think>")


def test_chain_targets_without_chains_fail_clearly(tmp_path, recipe_scored_parquet):
    with pytest.raises(SFTDataError, match="no SFT example written.*no solved chain.*pism"):
        convert_to_sft(recipe_scored_parquet, tmp_path / "sft.parquet", metric="pism", keep=["hard"], target="chain")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "pism", "keep": ["medium"]}, "keep: unknown"),
        ({"keep": ["mid"]}, "needs metric"),
        ({"target": "essay"}, "target: expected"),
        ({"metric": "pism", "max_pixels": 10}, "max_pixels"),
    ],
)
def test_bad_settings(tmp_path, recipe_scored_parquet, kwargs, message):
    with pytest.raises(SFTDataError, match=message):
        convert_to_sft(recipe_scored_parquet, tmp_path / "o.parquet", **kwargs)


def test_unscored_input_with_keep_and_missing_file(tmp_path, recipe_rows_parquet):
    with pytest.raises(SFTDataError, match="no 'difficulty' column"):
        convert_to_sft(recipe_rows_parquet, tmp_path / "o.parquet", metric="pism", keep=["mid"])
    with pytest.raises(SFTDataError, match="not found"):
        convert_to_sft(tmp_path / "missing.parquet", tmp_path / "o.parquet")


def test_cli(tmp_path, recipe_scored_parquet, capsys):
    out = tmp_path / "cli.parquet"
    assert main([str(recipe_scored_parquet), "--metric", "pism", "--keep", "mid,hard", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["written"] == len(_rows(out)) > 0
    assert main([str(recipe_scored_parquet), "--metric", "pism", "--keep", "bogus", "--out", str(out)]) == 2
    assert "keep: unknown" in capsys.readouterr().err


def test_verl_sft_dataset_reads_it(tmp_path, recipe_scored_parquet, tiny_model_dir):
    """verl's MultiTurnSFTDataset tokenizes the converted rows with the (tiny) Qwen2.5-VL processor: images become
    pixel values whose count matches the image tokens, and only the assistant answer is trained on."""
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    out = tmp_path / "sft.parquet"
    convert_to_sft(recipe_scored_parquet, out, metric="pism", keep=["mid", "hard"], limit=2)
    tokenizer = hf_tokenizer(str(tiny_model_dir))
    processor = hf_processor(str(tiny_model_dir))
    cfg = OmegaConf.create({"max_length": 4096, "truncation": "error", "pad_mode": "no_padding"})
    ds = MultiTurnSFTDataset(parquet_files=str(out), tokenizer=tokenizer, config=cfg, processor=processor)
    assert len(ds) == 2
    rows = _rows(out)
    for i in range(len(ds)):
        item = ds[i]
        ids, loss_mask = item["input_ids"], item["loss_mask"]
        mm = item["multi_modal_inputs"]
        image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        merge = processor.image_processor.merge_size**2
        assert int((ids == image_pad).sum()) == int(mm["image_grid_thw"].prod(-1).sum()) // merge
        assert mm["image_grid_thw"].prod(-1).sum() * 28 * 28 / 4 <= 1254400 * 1.01  # capped by max_pixels
        trained = tokenizer.decode(ids[loss_mask.bool()])
        assert rows[i]["messages"][-1]["content"] in trained
        assert "<image>" not in trained and "<|image_pad|>" not in trained
