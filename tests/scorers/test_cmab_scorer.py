"""The CMAB scorer end to end: transformers engine + tiny model on real bundled rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from verl_difficulty.difficulty import MetricRecord
from verl_difficulty.engines import GenerationRequest, SamplingSettings, request_seed
from verl_difficulty.report.stats import parse_heatmap
from verl_difficulty.scorers import ScorerConfigError, build_scorer
from verl_difficulty.scorers import cmab_attention as ca
from verl_difficulty.scorers.base import row_images, row_messages
from verl_difficulty.scorers.cmab import CMABScorer, probe_messages
from verl_difficulty.tiers import TierConfig

FAST = {"max_new_tokens": 24, "gate_max_new_tokens": 8, "gate_k": 3}

pytest_plugins = ["cmab_testdata"]  # fixtures: real rows, tiny models, the engine


def scorer(engine, tiers=None, **settings) -> CMABScorer:
    return build_scorer("cmab", engine, {**FAST, **settings}, tiers=tiers)


def test_end_to_end_records_are_well_formed(tiny_engine, mathv_rows, geo3k_rows):
    rows = mathv_rows[:3] + geo3k_rows[:2]
    s = scorer(tiny_engine, gate="none", heatmaps=True, per_token=True)
    records = s.score_rows(rows)
    assert len(records) == len(rows)
    model, processor = tiny_engine.model, tiny_engine.processor
    for row, rec in zip(rows, records):
        assert rec.error is None, rec.error
        assert isinstance(rec, MetricRecord)
        assert rec.tier == TierConfig().cmab.tier(rec.score)
        assert math.isfinite(rec.score) and rec.score > 0
        d = rec.details
        assert d["gate"] == "none" and d["gate_correct"] is None and d["mode"] == "code"
        assert d["layer"] == ca.default_code_layer(4) == 3
        assert d["measured_tokens"] == d["generated_tokens"] - 1 >= 1
        assert rec.attempts == 1
        assert len(d["per_token"]) == d["measured_tokens"] and d["per_token"][0]["t"] == 1
        # the heat map: the report's parser accepts it; its grid is the image's merged-patch grid
        values, image = parse_heatmap(d["heatmap"])
        inputs = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=row_images(row)[:1])
        t, h, w = inputs["image_grid_thw"][0].tolist()
        assert image == 0 and values.shape == (h // 2, w // 2) and d["image_tokens"] == h * w // 4
        assert (values >= 0).all() and values.sum() > 0
        json.dumps(rec.to_arrow_dict())  # serialisable as the parquet column stores it
        assert rec.provenance["metric"] == "cmab" and rec.provenance["settings"]["heatmaps"] is True
        # the recorded ρ̄ is the generate(output_attentions=True) reference on the same probe response
        messages = probe_messages(row_messages(row), s.settings)
        inputs = ca.build_probe_inputs(model, processor, messages, row_images(row), d["probe_response"])
        ref = ca.generate_reference_balance(model, inputs, mode="code")
        assert rec.score == pytest.approx(ref.rho, rel=1e-4, abs=1e-4)


def test_paper_mode_and_two_images(tiny_engine, two_image_row):
    s = scorer(tiny_engine, gate="none", mode="paper", heatmaps=True, image_layout="as_in_row")
    (rec,) = s.score_rows([two_image_row])
    d = rec.details
    assert rec.error is None, rec.error
    assert d["layers"] == [1, 2] and len(d["per_layer_rho"]) == 2
    assert d["measured_tokens"] == d["generated_tokens"] and d["images"] == 2
    assert [m["image"] for m in d["heatmaps"]] == [0, 1] and d["heatmap"] == d["heatmaps"][0]
    for m in d["heatmaps"]:
        values, _ = parse_heatmap(m)
        assert values.size == m["grid"][0] * m["grid"][1]
    assert sum(m["grid"][0] * m["grid"][1] for m in d["heatmaps"]) == d["image_tokens"]


def test_gate_pass_at_k(tiny_engine, mathv_rows):
    """The pass@k gate generates k answers to the row's own prompt and judges them with the verifier."""
    s = scorer(tiny_engine)  # gate: pass@k, k = 3
    st = s.settings
    # a row whose answer the model does give: the final line of one of its own (seeded) gate completions
    row = dict(mathv_rows[4], extra_info=dict(mathv_rows[4]["extra_info"], task="ocr"))
    sid = row["extra_info"]["index"]
    request = GenerationRequest(
        sample_id=sid,
        messages=row_messages(row),
        images=row_images(row),
        sampling=SamplingSettings(temperature=st.gate_temperature, top_p=st.gate_top_p, max_new_tokens=8),
        n=3,
        seed=request_seed(st.seed, "cmab-gate", sid),
    )
    (completions,) = tiny_engine.generate([request])
    lines = [c.strip().splitlines()[-1].strip() for c in completions if c.strip()]
    assert lines, completions
    solved = dict(row, reward_model={"style": "rule", "ground_truth": lines[-1]})
    unsolved = dict(row, reward_model={"style": "rule", "ground_truth": "no model writes this 987654"})
    unsolved["extra_info"] = dict(row["extra_info"], index=sid + "-b")
    no_truth = dict(mathv_rows[5], reward_model={"style": "rule", "ground_truth": ""})
    recs = s.score_rows([solved, unsolved, no_truth])
    a, b, c = recs
    assert a.details["gate"] == "passed" and a.correct == a.details["gate_correct"] >= 1
    assert a.details["gate_k"] == 3 and a.attempts == 3 + 1 and a.score is not None and a.tier != "unsolved"
    # the first correct gate answer is kept: the SFT "chain" target (verl-difficulty sft-data --target chain)
    assert a.details["solved_response"] in completions and lines[-1] in a.details["solved_response"]
    assert b.tier == "unsolved" and b.score is None and b.correct == 0 and b.attempts == 3
    assert b.details == {"mode": "code", "gate": "failed", "gate_correct": 0, "gate_k": 3}
    assert c.tier is None and "ground_truth" in c.error


def test_custom_gate_and_none(tiny_engine, mathv_rows):
    even = [r for r in mathv_rows[6:] if r["extra_info"]["index"][-1] in "02468"]
    odd = [r for r in mathv_rows[6:] if r["extra_info"]["index"][-1] not in "02468"]
    rows = [even[0], odd[0], even[1], odd[1]]
    s = scorer(tiny_engine, gate="cmab_testdata:gate_by_index")
    recs = s.score_rows(rows)
    for row, rec in zip(rows, recs):
        even = row["extra_info"]["index"][-1] in "02468"
        assert rec.details["gate"] == ("passed" if even else "failed")
        assert rec.details["gate_details"] == {"rule": "even index"}
        assert (rec.score is not None) == even and (rec.tier == "unsolved") == (not even)
        assert rec.attempts == (4 if even else 3)
    assert {r.details["gate"] for r in recs} == {"passed", "failed"}
    # gate: none gives every row a ρ̄
    assert all(r.score is not None for r in scorer(tiny_engine, gate="none").score_rows(rows))


def test_tiers_follow_rho(tiny_engine, mathv_rows):
    row = mathv_rows[11]
    (rec,) = scorer(tiny_engine, gate="none").score_rows([row])
    rho = rec.score
    bands = {
        "easy": dict(easy_low=rho * 1.5, mid_low=rho * 2, mid_high=rho * 3, easy_high=rho * 4),
        "mid": dict(easy_low=rho * 0.5, mid_low=rho * 1.5, mid_high=rho * 2, easy_high=rho * 3),
        "hard": dict(easy_low=rho * 0.25, mid_low=rho * 0.5, mid_high=rho * 2, easy_high=rho * 3),
    }
    for tier, cfg in bands.items():
        (r,) = scorer(tiny_engine, tiers=TierConfig.from_dict({"cmab": cfg}), gate="none").score_rows([row])
        assert r.score == pytest.approx(rho) and r.tier == tier
        assert r.provenance["tiers"] == TierConfig.from_dict({"cmab": cfg}).to_dict()["cmab"]


def test_results_do_not_depend_on_the_batch(tiny_engine, mathv_rows, geo3k_rows):
    rows = [mathv_rows[12], geo3k_rows[4], mathv_rows[13]]
    s = scorer(tiny_engine, gate="none", heatmaps=True)
    together = s.score_rows(rows)
    reversed_ = s.score_rows(rows[::-1])[::-1]
    alone = [s.score_rows([r])[0] for r in rows]
    for a, b, c in zip(together, reversed_, alone):
        assert a.to_arrow_dict() == b.to_arrow_dict() == c.to_arrow_dict()


def test_bad_rows_keep_their_place(tiny_engine, mathv_rows):
    good = mathv_rows[14]
    no_image = dict(good, images=[], prompt=[{"role": "user", "content": "What is 2 + 2?"}])
    no_image["extra_info"] = dict(good["extra_info"], index="x/no-image")
    broken = dict(good, images=[{"bytes": b"not an image", "path": "broken.png"}])
    broken["extra_info"] = dict(good["extra_info"], index="x/broken")
    no_role = dict(good, prompt=[{"content": "<image>What is shown?"}])
    no_role["extra_info"] = dict(good["extra_info"], index="x/no-role")
    recs = scorer(tiny_engine, gate="none").score_rows([no_image, good, broken, no_role])
    assert [r.tier is None for r in recs] == [True, False, True, True]
    assert "no image" in recs[0].error and recs[0].error.startswith("RowError")
    assert "ImageLoadError" in recs[2].error and "images[0]" in recs[2].error
    assert recs[3].error.startswith("KeyError") and "role" in recs[3].error
    assert recs[1].score is not None


def test_separate_attention_model(tiny_engine, tiny_model_dir, mathv_rows):
    """attention_model loads its own copy; with the engine's image settings it gives the engine model's ρ̄."""
    from cmab_testdata import SMALL_IMAGES

    row = mathv_rows[15]
    (shared,) = scorer(tiny_engine, gate="none").score_rows([row])
    own = scorer(
        tiny_engine, gate="none", attention_model=str(tiny_model_dir), processor_kwargs=SMALL_IMAGES, device="cpu"
    )
    (rec,) = own.score_rows([row])
    assert own.attention_backend()[0] is not tiny_engine.model
    assert rec.score == pytest.approx(shared.score, rel=1e-6)
    assert rec.provenance["attention_model"] == str(tiny_model_dir)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"layerz": 3}, r"cmab: unknown setting\(s\) \['layerz'\]"),
        ({"mode": "both"}, "cmab.mode"),
        ({"layer": -1}, "cmab.layer"),
        ({"layers": [1, 2]}, "cmab.layers: only for mode: paper"),
        ({"mode": "paper", "layer": 3}, "cmab.layer: only for mode: code"),
        ({"mode": "paper", "layers": "1,2"}, "cmab.layers"),
        ({"gate": "pass@8"}, "cmab.gate: write `gate: pass@k` and set `gate_k`"),
        ({"gate": "mcts"}, "cmab.gate"),
        ({"gate": "no_such_module:fn"}, "cmab.gate: cannot import"),
        ({"gate_k": 0}, "cmab.gate_k"),
        ({"top_p": 0}, "cmab.top_p"),
        ({"temperature": "hot"}, "cmab.temperature"),
        ({"image_layout": "before"}, "cmab.image_layout"),
        ({"heatmaps": "yes"}, "cmab.heatmaps"),
        ({"stop": [""]}, "cmab.stop"),
        ({"verify": {"iou": 0.5}}, r"cmab.verify: unknown setting\(s\) \['iou'\]"),
        ({"dtype": "fp8"}, "cmab.dtype"),
        ({"processor_kwargs": 3}, "cmab.processor_kwargs"),
    ],
)
def test_settings_validation_names_the_field(settings, match):
    with pytest.raises(ScorerConfigError, match=match):
        build_scorer("cmab", None, settings)


def test_layer_beyond_the_model_fails_at_once(tiny_engine, mathv_rows):
    with pytest.raises(ScorerConfigError, match=r"cmab.layer: \[9\] outside the model's decoder layers 0..3"):
        scorer(tiny_engine, gate="none", layer=9).score_rows(mathv_rows[:1])
    with pytest.raises(ScorerConfigError, match=r"cmab.layers: \[4\] outside"):
        scorer(tiny_engine, gate="none", mode="paper", layers=[1, 4]).score_rows(mathv_rows[:1])


def test_estimate_provenance_and_missing_attention_model():
    s = build_scorer("cmab", None, {"gate_k": 4, "seed": 7})
    assert s.estimate(10)["generations_max"] == 50 and s.estimate(10)["attention_forward_passes_max"] == 10
    assert build_scorer("cmab", None, {"gate": "none"}).estimate(10)["generations_max"] == 10
    prov = s.provenance()
    assert prov["seed"] == 7 and prov["settings"]["gate_k"] == 4 and prov["tiers"]["easy_high"] == 1.9
    with pytest.raises(ScorerConfigError, match="cmab.attention_model"):
        s.attention_backend()


def test_probe_messages_layouts(mathv_rows, two_image_row):
    s = build_scorer("cmab", None, {}).settings
    msgs = probe_messages(row_messages(mathv_rows[0]), s)
    assert [m["role"] for m in msgs] == ["user"]  # the row's system prompt is dropped (released code: none)
    content = msgs[0]["content"]
    assert content.startswith(s.probe_prompt) and content.endswith("<image>") and content.count("<image>") == 1
    kept = probe_messages(
        row_messages(two_image_row), build_scorer("cmab", None, {"image_layout": "as_in_row"}).settings
    )
    assert kept[0]["content"].startswith(s.probe_prompt + "Figure 1: <image>\nFigure 2: <image>")
    bare = probe_messages(row_messages(two_image_row), build_scorer("cmab", None, {"probe_prompt": None}).settings)
    assert bare[0]["content"].endswith("Answer 1 or 2.<image><image>")
    assert np.array_equal([m["role"] for m in bare], ["user"])


def test_score_cli_with_heatmaps(tiny_model_dir, mathv_rows, tmp_path):
    """`verl-difficulty score --metric cmab --heatmaps` on real rows; the report's loader finds the heat maps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.cli import main
    from verl_difficulty.difficulty import get_record
    from verl_difficulty.report import load_run, stats

    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(mathv_rows[20:23]), data)
    out = tmp_path / "run"
    argv = ["score", "--metric", "cmab", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]
    argv += ["--heatmaps", "--shard-size", "2", "--no-progress", "--set", "cmab.gate=none"]
    argv += ["--set", "cmab.max_new_tokens=12", "--set", "engine.device=cpu", "--set", "engine.cpu_threads=1"]
    argv += ["--set", "engine.processor_kwargs={max_pixels: 50176, min_pixels: 3136}"]
    assert main(argv) == 0
    recs = [get_record(r, "cmab") for r in pq.read_table(out / "scored.parquet").to_pylist()]
    assert all(r.error is None and r.score > 0 and "heatmap" in r.details for r in recs)
    assert all(r.provenance["settings"]["heatmaps"] is True for r in recs)
    maps, n_rows, problems = stats.find_heatmaps(load_run(out), limit=10)
    assert n_rows == 3 and len(maps) == 3 and not problems
