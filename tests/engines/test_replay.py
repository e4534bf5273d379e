"""The replay engine: pass-rate from verl's own rollout / validation dumps and from plain JSONL logs."""

from __future__ import annotations

import copy
import json

import pytest

from verl_difficulty.engines import EngineError, build_engine
from verl_difficulty.scorers import build_scorer
from verl_difficulty.scorers.base import ground_truth, row_images


def _verl_inputs(processor, rows):
    """The ``input`` field exactly as verl dumps it: prompt token ids decoded with special tokens skipped."""
    from verl_difficulty.engines import to_chat_parts

    out = []
    for row in rows:
        text = processor.apply_chat_template(to_chat_parts(row["prompt"]), tokenize=False, add_generation_prompt=True)
        images = row_images(row)
        ids = processor(text=[text], images=images or None, return_tensors="pt")["input_ids"][0]
        out.append(processor.tokenizer.decode(ids, skip_special_tokens=True))
    return out


@pytest.fixture(scope="module")
def dump_rows(bundled_rows):
    # MATH-V rows and OCR rows that all ask the very same question (only the answer tells them apart); OCR rows
    # 1 and 2 even share their answer ("HOTEL"): only their images differ, which a dump does not keep
    return copy.deepcopy(bundled_rows["mathv"][:3] + bundled_rows["mmocr_words"][:3])


@pytest.fixture(scope="module")
def verl_dump(tmp_path_factory, tiny_model_dir, dump_rows):
    """A rollout dump written by verl 0.9.1's own ``PPOTrainer._write_generations`` (steps 3 and 7)."""
    from transformers import AutoProcessor
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    processor = AutoProcessor.from_pretrained(tiny_model_dir, max_pixels=64 * 28 * 28)
    inputs = _verl_inputs(processor, dump_rows)
    folder = tmp_path_factory.mktemp("rollout_data_dir")
    correct_at = {3: [4, 3, 2, 1, 0, 4], 7: [0, 0, 0, 0, 0, 0]}  # correct answers of 4 per row, per step
    for step, counts in correct_at.items():
        ins, outs, gts, uids = [], [], [], []
        for r, (row, text) in enumerate(zip(dump_rows, inputs)):
            gt = ground_truth(row)
            for j in range(4):
                ins.append(text)
                outs.append(f"<think>step {step}</think><answer>{gt if j < counts[r] else 'no idea'}</answer>")
                gts.append(gt)
                uids.append(f"uuid-{step}-{r}_{j}_0")
        PPOTrainer._write_generations(
            ins, outs, gts, [0.0] * len(ins), {"uid": uids, "acc": [0.0] * len(ins)}, str(folder), step
        )
    return folder, inputs


def test_verl_dump_gives_the_logged_pass_rate(verl_dump, dump_rows):
    folder, inputs = verl_dump
    assert sorted(p.name for p in folder.iterdir()) == ["3.jsonl", "7.jsonl"]
    first = json.loads((folder / "3.jsonl").read_text().splitlines()[0])
    assert {"input", "output", "gts", "score", "step", "uid"} <= set(first)
    assert "<image>" not in inputs[0] and "<|image_pad|>" not in inputs[0]
    engine = build_engine("replay", str(folder))
    assert engine.describe()["format"] == "verl" and engine.describe()["lines"] == 48
    assert ground_truth(dump_rows[4]) == ground_truth(dump_rows[5])
    records = build_scorer("passrate", engine, {"n": 4}).score_rows(dump_rows)
    assert [r.score for r in records[:4]] == [1.0, 0.75, 0.5, 0.25]  # the earliest step (3) by default
    assert [r.tier for r in records[:4]] == ["easy", "mid", "mid", "hard"]
    assert all(r.details["rollouts"] == 4 for r in records[:4])
    # the two "HOTEL" crops: never pooled, a failed record that says why
    for rec in records[4:]:
        assert rec.tier is None and "cannot be told apart" in rec.error and "id_key" in rec.error
    last = build_scorer("passrate", build_engine("replay", str(folder), steps="last"), {"n": 4}).score_rows(dump_rows)
    assert [r.score for r in last[:4]] == [0.0] * 4
    both = build_engine("replay", str(folder), steps="all")
    scores = [r.score for r in build_scorer("passrate", both, {"n": 8}).score_rows(dump_rows[:4])]
    assert scores == [0.5, 0.375, 0.25, 0.125]
    # a single step file works too
    one = build_engine("replay", str(folder / "7.jsonl"))
    assert [r.score for r in build_scorer("passrate", one, {"n": 4}).score_rows(dump_rows[:2])] == [0.0, 0.0]


def test_fewer_missing_and_ambiguous_samples(verl_dump, dump_rows, bundled_rows):
    folder, _ = verl_dump
    unseen = copy.deepcopy(bundled_rows["mathv"][10])
    rows = [dump_rows[0], unseen, dump_rows[1]]
    records = build_scorer("passrate", build_engine("replay", str(folder)), {"n": 8}).score_rows(rows)
    assert all(r.tier is None for r in records)
    assert "4 logged completion(s)" in records[0].error and "allow_fewer" in records[0].error
    assert "no logged completion for sample mathv/" in records[1].error
    relaxed = build_engine("replay", str(folder), allow_fewer=True)
    records = build_scorer("passrate", relaxed, {"n": 8}).score_rows(rows)
    assert records[0].score == 1.0 and records[0].details["rollouts"] == 4 and records[0].attempts == 4
    assert records[1].error and records[2].score == 0.75
    # a longer logged prompt that also contains the row's text (same answer) is not taken: the closest one is
    doubled = folder.parent / "doubled"
    doubled.mkdir()
    lines = (folder / "3.jsonl").read_text().splitlines()
    extra = [json.loads(line) for line in lines[:4]]  # row 0's four rollouts
    for e in extra:
        e["output"] = "<answer>no idea</answer>"
    (doubled / "3.jsonl").write_text("\n".join(lines) + "\n")
    (doubled / "4.jsonl").write_text("".join(json.dumps({**e, "input": "Note. " + e["input"]}) + "\n" for e in extra))
    recs = build_scorer("passrate", build_engine("replay", str(doubled), steps="all"), {"n": 4}).score_rows(rows[:1])
    assert recs[0].score == 1.0  # the longer prompt ("Note. ...") matches less closely and is not taken


def test_plain_jsonl_with_custom_keys(tmp_path, dump_rows):
    log = tmp_path / "log.jsonl"
    lines = []
    for r, row in enumerate(dump_rows):
        gt = ground_truth(row)
        lines.append(
            {"idx": row["extra_info"]["index"], "text": [f"<answer>{gt}</answer>"] * r + ["<answer>?</answer>"]}
        )
        lines.append({"idx": row["extra_info"]["index"], "text": f"<answer>{gt}</answer>"})
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    engine = build_engine("replay", str(log), id_key="idx", response_key="text", steps="all")
    assert engine.describe()["format"] == "jsonl"
    records = build_scorer("passrate", engine, {"n": 2}).score_rows(dump_rows)
    # first two logged answers per sample: row 0 -> [?, gt], row 1 -> [gt, ?], rows >= 2 -> [gt, gt]
    assert [r.score for r in records] == [0.5, 0.5, 1.0, 1.0, 1.0, 1.0]


def test_errors_name_the_file_line_and_setting(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        build_engine("replay", str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sample_id": "a", "response": "x"}\n{oops\n')
    with pytest.raises(EngineError, match=r"bad\.jsonl line 2"):
        build_engine("replay", str(bad))
    no_resp = tmp_path / "noresp.jsonl"
    no_resp.write_text('{"sample_id": "a", "answer": "x"}\n')
    with pytest.raises(EngineError, match="response_key"):
        build_engine("replay", str(no_resp))
    with pytest.raises(EngineError, match="engine.steps"):
        build_engine("replay", str(bad), steps="middle")
    with pytest.raises(EngineError, match="engine.format"):
        build_engine("replay", str(bad), format="csv")
