"""``DifficultyDataset`` built by verl's own ``create_rl_dataset`` (``data.custom_cls``) on scored real rows."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest

from verl_difficulty.trainer.dataset import DifficultyDataset, detect_split
from verl_difficulty.trainer.hints import DEFAULT_HINT
from verl_difficulty.trainer.settings import DifficultyConfigError

CUSTOM = ("data.custom_cls.path=pkg://verl_difficulty.trainer.dataset", "data.custom_cls.name=DifficultyDataset")


def _user_text(item) -> str:
    user = [m for m in item["raw_prompt"] if m["role"] == "user"][-1]
    return " ".join(p["text"] for p in user["content"] if p["type"] == "text")


@pytest.fixture
def datasets(scored, compose, make_dataset):
    """``datasets(*overrides)`` -> (train dataset, val dataset, tiers of the train file, data config)."""
    train, tiers, val = scored

    def make(*overrides):
        cfg = compose(f"data.train_files={train}", f"data.val_files={val}", *CUSTOM, *overrides)
        return make_dataset(cfg.data), make_dataset(cfg.data, cfg.data.val_files), tiers, cfg.data

    return make


def test_train_is_filtered_and_hinted_validation_is_untouched(datasets):
    train, val, tiers, _ = datasets("++data.difficulty.hints.enable=true")
    assert isinstance(train, DifficultyDataset) and train.split == "train"
    assert isinstance(val, DifficultyDataset) and val.split == "val"
    kept_rows = [i for i, t in enumerate(tiers) if t in ("mid", "hard")]
    assert len(train) == len(kept_rows) == 58
    assert train.filter_counts == {"easy": 15, "mid": 28, "hard": 30, "unsolved": 15, "unscored": 2}
    assert train.hinted_rows == 30
    hinted = 0
    for pos, source_row in enumerate(kept_rows):
        item = train[pos]
        assert item["extra_info"]["difficulty_row"] == pos
        has_hint = _user_text(item).endswith(DEFAULT_HINT)
        assert has_hint == (tiers[source_row] == "hard"), (pos, tiers[source_row])
        hinted += has_hint
    assert hinted == 30
    assert len(val) == 12  # every validation row, whatever its tier
    for i in range(len(val)):
        item = val[i]
        assert DEFAULT_HINT not in _user_text(item) and "difficulty_row" not in item["extra_info"]


def test_hint_text_position_and_tiers(datasets):
    train, _, tiers, _ = datasets(
        "++data.difficulty.keep=all",
        "++data.difficulty.hints={enable:true,tiers:[mid,unsolved],text:'HINT: hard.',position:prepend}",
    )
    assert len(train) == 88
    texts = [_user_text(train[i]) for i in range(len(train))]
    scored_tiers = [t for t in tiers if t is not None]
    assert [t.startswith("HINT: hard.") for t in texts] == [t in ("mid", "unsolved") for t in scored_tiers]


def test_hints_off_by_default(datasets):
    train, _, _, _ = datasets()
    assert train.hinted_rows == 0
    assert not any(DEFAULT_HINT in _user_text(train[i]) for i in range(len(train)))


def test_hinted_prompts_are_measured_by_verls_length_filter(compose, make_dataset, verl_stack, real_rows, tmp_path):
    """The hint is added in ``_build_messages``, which verl's prompt-length filter calls too."""
    from omegaconf import OmegaConf
    from scored_data import build_scored
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    geo = [r for r in real_rows if r["data_source"] == "geo3k"][:6]
    path, tiers = build_scored(tmp_path / "geo.parquet", geo, failed=(), missing=())
    assert tiers == ["easy", "mid", "hard", "unsolved", "mid", "hard"]
    base = compose(f"data.train_files={path}", f"data.val_files={path}x", *CUSTOM, "++data.difficulty.keep=[hard]")

    def data_config(**changes):
        cfg = OmegaConf.to_container(base.data, resolve=True)
        for key, value in changes.items():
            target = cfg
            *parents, last = key.split(".")
            for p in parents:
                target = target.setdefault(p, {})
            target[last] = value
        return OmegaConf.create(cfg)

    _, processor = verl_stack
    plain = make_dataset(data_config())
    hinted = make_dataset(data_config(**{"difficulty.hints.enable": True}))

    def prompt_length(messages):
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        images, _, _ = plain._process_multi_modal_info(messages, plain.image_patch_size, plain.config)
        return len(build_multimodal_processor_inputs(processor, text=[text], images=images)["input_ids"][0])

    lengths = [prompt_length(plain[i]["raw_prompt"]) for i in range(len(plain))]
    hinted_lengths = [prompt_length(hinted[i]["raw_prompt"]) for i in range(len(hinted))]
    assert len(lengths) == 2 and all(h > u for h, u in zip(hinted_lengths, lengths))
    limit = max(lengths)  # every unhinted hard prompt fits; the longest does not once hinted
    expected = sum(h <= limit for h in hinted_lengths)
    assert expected < 2
    filtering = {"filter_overlong_prompts": True, "max_prompt_length": limit, "filter_overlong_prompts_workers": None}
    assert len(make_dataset(data_config(**filtering))) == 2
    assert len(make_dataset(data_config(**filtering, **{"difficulty.hints.enable": True}))) == expected


def test_split_detection(scored, compose, tmp_path):
    train, _, val = scored
    cfg = compose(f"data.train_files=[{train}]", f"data.val_files={val}")
    assert detect_split([str(train)], cfg.data) == "train"
    assert detect_split(str(val), cfg.data) == "val"
    with pytest.raises(DifficultyConfigError, match="neither data.train_files"):
        detect_split(str(tmp_path / "other.parquet"), cfg.data)
    same = compose(f"data.train_files={train}", f"data.val_files={train}")
    with pytest.raises(DifficultyConfigError, match="data.train_files and data.val_files name the same files"):
        detect_split(str(train), same.data)


def test_same_files_fail_at_construction_and_explicit_split(scored, compose, make_dataset, verl_stack):
    train, _, _ = scored
    cfg = compose(f"data.train_files={train}", f"data.val_files={train}", *CUSTOM)
    with pytest.raises(DifficultyConfigError, match="cannot tell the training split"):
        make_dataset(cfg.data)
    tokenizer, processor = verl_stack
    ds = DifficultyDataset([str(train)], tokenizer, cfg.data, processor=processor, split="val")
    assert len(ds) == 90


def test_on_batch_end_without_sampler_warns_once(datasets, caplog):
    train, val, _, _ = datasets()
    batch = {"extra_info": np.array([train[0]["extra_info"]], dtype=object), "acc": np.array([1.0])}
    with caplog.at_level(logging.WARNING):
        train.on_batch_end(batch)
        train.on_batch_end(batch)
        val.on_batch_end(batch)
    assert sum("no DifficultySampler" in r.message for r in caplog.records) == 1


def test_pickled_dataset_leaves_the_sampler_behind(datasets):
    from verl.trainer.ppo.utils import create_rl_sampler

    train, _, _, data_config = datasets(
        "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler",
        "++data.sampler.class_name=DifficultySampler",
        "data.train_batch_size=4",
    )
    sampler = create_rl_sampler(data_config, train)
    assert train._difficulty_sampler is sampler
    state = train.__getstate__()  # what dataloader workers / the length filter's processes would receive
    assert state["_difficulty_sampler"] is None and "dataframe" not in state and state["split"] == "train"
    assert train._difficulty_sampler is sampler
    pickle.dumps(state["difficulty"])
