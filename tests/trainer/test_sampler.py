"""``DifficultySampler`` on verl's real ``RLHFDataset`` over scored real rows, inside torchdata's StatefulDataLoader."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from omegaconf import open_dict

from verl_difficulty.tiers import TIERS
from verl_difficulty.trainer.rows import DifficultyDataError
from verl_difficulty.trainer.sampler import DifficultySampler
from verl_difficulty.trainer.settings import DifficultyConfigError

SAMPLER = [
    "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler",
    "++data.sampler.class_name=DifficultySampler",
]


@pytest.fixture
def setup(scored, compose, make_dataset):
    """``setup(*overrides)`` -> (verl data config, RLHFDataset over the scored file, tier per dataset row)."""
    train, tiers, val = scored

    def make(*overrides):
        cfg = compose(f"data.train_files={train}", f"data.val_files={val}", "data.train_batch_size=4", *overrides)
        dataset = make_dataset(cfg.data)
        assert len(dataset) == len(tiers)  # plain RLHFDataset: every row, in file order
        return cfg.data, dataset, tiers

    return make


def _sampler(data_config, dataset):
    from verl.trainer.ppo.utils import create_rl_sampler  # verl's function, wrapped by the plug-in

    return create_rl_sampler(data_config, dataset)


def _draw(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def test_tiers_are_read_from_the_dataset(setup):
    data_config, dataset, tiers = setup(*SAMPLER, "++data.difficulty.keep=all", "++data.difficulty.unscored=drop")
    sampler = _sampler(data_config, dataset)
    assert isinstance(sampler, DifficultySampler)
    codes = sampler.tier_of_rows(np.arange(len(tiers)))
    assert [TIERS[c] if c >= 0 else None for c in codes] == tiers
    assert sampler.metric == "pism"  # auto-detected: the only metric in the file


def test_default_keeps_mid_and_hard_each_once_per_epoch(setup):
    data_config, dataset, tiers = setup(*SAMPLER)
    sampler = _sampler(data_config, dataset)
    kept = [i for i, t in enumerate(tiers) if t in ("mid", "hard")]
    assert len(sampler) == len(kept) // 4 * 4
    epoch1 = list(sampler)
    epoch2 = list(sampler)
    assert len(epoch1) == len(epoch2) == len(sampler)
    assert set(epoch1) <= set(kept) and len(set(epoch1)) == len(epoch1)  # no row twice in an epoch
    assert epoch1 != epoch2  # a new shuffle each epoch
    # 58 kept rows, 56 draws per epoch: over two epochs every row comes once or twice (tier queues are passes)
    assert set(Counter(epoch1 + epoch2).values()) <= {1, 2} and set(epoch1 + epoch2) == set(kept)
    n_mid = sum(tiers[i] == "mid" for i in epoch1)
    assert abs(n_mid - 56 * 28 / 58) < 1  # the tier split of the epoch is exact within one sample


def test_uniform_weights_give_a_permutation_when_batches_divide(scored, compose, make_dataset, tmp_path, real_rows):
    from scored_data import build_scored

    path, tiers = build_scored(tmp_path / "even.parquet", real_rows[:48], failed=(), missing=())
    cfg = compose(
        f"data.train_files={path}",
        f"data.val_files={path}",
        "data.train_batch_size=4",
        *SAMPLER,
        "++data.difficulty.keep=[easy,mid,hard,unsolved]",
    )
    sampler = _sampler(cfg.data, make_dataset(cfg.data))
    assert sorted(sampler) == list(range(48))  # exactly the RandomSampler contract


def test_determinism_and_seed(setup):
    data_config, dataset, _ = setup(*SAMPLER, "++data.difficulty.seed=3")
    a = list(_sampler(data_config, dataset))
    b = list(_sampler(data_config, dataset))
    assert a == b
    data_config.difficulty.seed = 4
    assert list(_sampler(data_config, dataset)) != a
    data_config.difficulty.seed = None
    data_config.seed = 3  # data.seed is the fallback
    assert list(_sampler(data_config, dataset)) == a


@pytest.mark.parametrize("mode", ["row", "tier"])
def test_weights_give_exact_batch_mix(setup, mode):
    data_config, dataset, tiers = setup(
        *SAMPLER,
        "data.train_batch_size=6",
        "++data.difficulty.keep=[easy,mid,hard]",
        "++data.difficulty.weights={easy:0.0,mid:1.0,hard:2.0}",
        f"++data.difficulty.weight_mode={mode}",
    )
    sampler = _sampler(data_config, dataset)
    drawn = _draw(sampler, 60)
    counts = Counter(tiers[i] for i in drawn)
    assert "easy" not in counts
    n_mid, n_hard = tiers.count("mid"), tiers.count("hard")
    share_hard = 2 * n_hard / (2 * n_hard + n_mid) if mode == "row" else 2 / 3
    for b in range(10):  # every batch of 6 follows the mix within one sample
        batch = Counter(tiers[i] for i in drawn[6 * b : 6 * b + 6])
        assert abs(batch["hard"] - 6 * share_hard) < 1 + 1e-9
    assert abs(counts["hard"] - 60 * share_hard) < 1 + 1e-9


def test_shuffle_false_keeps_dataset_order(setup):
    data_config, dataset, tiers = setup(*SAMPLER, "data.shuffle=False", "++data.difficulty.keep=[hard]")
    drawn = list(_sampler(data_config, dataset))
    hard = [i for i, t in enumerate(tiers) if t == "hard"]
    assert drawn == hard[: len(drawn)]


def test_curriculum_stages_by_steps_and_epochs(setup):
    data_config, dataset, tiers = setup(
        *SAMPLER,
        "++data.difficulty.keep=all",
        "++data.difficulty.curriculum=[{steps:2,keep:[easy]},{epochs:0.1,weights:{mid:1.0}},{keep:[hard,unsolved]}]",
    )
    sampler = _sampler(data_config, dataset)
    assert len(sampler) == 88  # all 88 scored rows
    drawn = _draw(sampler, 4 * 7)
    stage_len = round(0.1 * 88 / 4)  # 2 batches
    assert {tiers[i] for i in drawn[:8]} == {"easy"}
    assert {tiers[i] for i in drawn[8 : 8 + 4 * stage_len]} == {"mid"}
    assert {tiers[i] for i in drawn[8 + 4 * stage_len :]} <= {"hard", "unsolved"}
    assert sampler.state_metrics()["difficulty/stage"] == 2.0


def test_unscored_rows(setup):
    data_config, dataset, tiers = setup(*SAMPLER, "++data.difficulty.keep=all", "++data.difficulty.unscored=drop")
    assert 7 not in set(_sampler(data_config, dataset)) and 13 not in set(_sampler(data_config, dataset))
    data_config.difficulty.unscored = "hard"
    sampler = _sampler(data_config, dataset)
    assert TIERS[sampler.tier_of_rows([7, 13])[0]] == "hard"
    data_config.difficulty.unscored = "error"
    with pytest.raises(DifficultyDataError, match=r"2 of 90 rows have no pism tier \(first at row 7\)"):
        _sampler(data_config, dataset)


def test_never_scored_file_says_how_to_score(unscored_parquet, compose, make_dataset):
    cfg = compose(f"data.train_files={unscored_parquet}", f"data.val_files={unscored_parquet}", *SAMPLER)
    with pytest.raises(DifficultyDataError, match="no 'difficulty' column.*verl-difficulty score"):
        _sampler(cfg.data, make_dataset(cfg.data))


def test_metric_choice(scored, compose, make_dataset, tmp_path, real_rows):
    from scored_data import build_scored

    both, _ = build_scored(tmp_path / "both.parquet", real_rows, metrics=("pism", "passrate"))
    cfg = compose(f"data.train_files={both}", f"data.val_files={both}", "data.train_batch_size=4", *SAMPLER)
    dataset = make_dataset(cfg.data)
    with pytest.raises(DifficultyConfigError, match=r"data.difficulty.metric: not set .* pism \(88 rows\), passrate"):
        _sampler(cfg.data, dataset)
    with open_dict(cfg.data):
        cfg.data.difficulty = {"metric": "passrate", "keep": ["easy"]}
    sampler = _sampler(cfg.data, dataset)
    assert sampler.metric == "passrate" and sampler.state_metrics()["difficulty/pool/easy"] == 15
    train, _, _ = scored
    cfg = compose(f"data.train_files={train}", f"data.val_files={train}", *SAMPLER, "++data.difficulty.metric=cmab")
    with pytest.raises(DifficultyDataError, match="no row has a cmab tier.*score it with --metric cmab"):
        _sampler(cfg.data, make_dataset(cfg.data))


def test_batch_larger_than_kept_rows(setup):
    data_config, dataset, _ = setup(*SAMPLER, "data.train_batch_size=64")
    with pytest.raises(DifficultyConfigError, match=r"data.train_batch_size=64 is larger than the 58 rows kept"):
        _sampler(data_config, dataset)


def test_without_class_path_verl_default_is_unchanged(setup):
    from torchdata.stateful_dataloader.sampler import RandomSampler

    data_config, dataset, _ = setup()
    assert isinstance(_sampler(data_config, dataset), RandomSampler)


def test_online_retiering_stops_drawing_mastered_rows(setup):
    data_config, dataset, tiers = setup(*SAMPLER, "++data.difficulty.online=true")
    sampler = _sampler(data_config, dataset)
    first = _draw(sampler, 8)
    rows = np.repeat(first, 4)  # 4 rollouts per prompt
    mastered = [r for r in first if tiers[r] == "hard"]
    acc = np.array([1.0 if r in mastered else 0.5 for r in rows])  # hard rows solved 4/4, mid rows 2/4
    metrics = sampler.observe(rows, acc)
    assert metrics["difficulty/batch_acc/hard"] == 1.0 and metrics["difficulty/batch_acc/mid"] == 0.5
    assert metrics["difficulty/retiered"] == len(mastered)  # hard -> easy (acc 1.0 > 0.87); mid stays mid
    assert all(TIERS[c] == "easy" for c in sampler.tier_of_rows(mastered))
    rest = _draw(sampler, len(sampler) - 8)
    assert not set(rest) & set(mastered)  # easy is not kept: never drawn again
    assert metrics["difficulty/pool/hard"] == tiers.count("hard") - len(mastered)


def test_curriculum_advances_on_accuracy(setup):
    data_config, dataset, tiers = setup(
        *SAMPLER,
        "++data.difficulty.keep=all",
        "++data.difficulty.online={retier:false,ema:1.0}",
        "++data.difficulty.curriculum=[{keep:[easy],advance_acc:0.8},{keep:[mid]}]",
    )
    sampler = _sampler(data_config, dataset)
    batch = _draw(sampler, 4)
    assert {tiers[i] for i in batch} == {"easy"}
    sampler.observe(batch, [0.5] * 4)
    assert {tiers[i] for i in _draw(sampler, 4)} == {"easy"}  # 0.5 < 0.8: stays
    sampler.observe(batch, [1.0] * 4)
    assert {tiers[i] for i in _draw(sampler, 4)} == {"mid"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_gives_the_same_next_batches(setup, num_workers):
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.utils.dataset.rl_dataset import collate_fn

    data_config, dataset, _ = setup(
        *SAMPLER,
        "++data.difficulty.keep=all",
        "++data.difficulty.weights={hard:3.0}",
        "++data.difficulty.online=true",
        "++data.difficulty.curriculum=[{steps:3,keep:[easy,mid]},{keep:[mid,hard,unsolved]}]",
    )

    def loader():
        sampler = _sampler(data_config, dataset)
        kwargs = {"multiprocessing_context": "fork"} if num_workers else {}
        return StatefulDataLoader(
            dataset,
            batch_size=4,
            sampler=sampler,
            collate_fn=collate_fn,
            num_workers=num_workers,
            drop_last=True,
            **kwargs,
        ), sampler

    def rows(batch):
        return [info["difficulty_row"] if "difficulty_row" in info else info["index"] for info in batch["extra_info"]]

    first, sampler = loader()
    it = iter(first)
    seen = []
    for _ in range(5):
        batch = next(it)
        seen.append(rows(batch))
        if num_workers == 0:  # online update from this batch before the checkpoint (4 rollouts, all solved)
            sampler.observe_batch({"extra_info": np.repeat(batch["extra_info"], 4), "acc": np.ones(16)})
    state = first.state_dict()
    expected = [rows(next(it)) for _ in range(8)]  # crosses the epoch boundary (21 batches per epoch)? no: 13 total

    second, _ = loader()
    second.load_state_dict(state)
    resumed = [rows(b) for _, b in zip(range(8), second)]
    assert resumed == expected
    assert seen[0] != expected[0]


def test_resume_across_epochs_and_mismatch(setup):
    data_config, dataset, _ = setup(*SAMPLER)
    a = _sampler(data_config, dataset)
    list(a)
    _draw(a, 6)  # into the second epoch
    state = a.state_dict()
    nxt = _draw(a, 30)
    b = _sampler(data_config, dataset)
    b.load_state_dict(state)
    assert _draw(b, 30) == nxt and b.epoch == 1  # zero-based
    with open_dict(data_config):
        data_config.difficulty = {"keep": ["hard"]}
    c = _sampler(data_config, dataset)
    with pytest.raises(ValueError, match="saved for other training data or tier settings"):
        c.load_state_dict(state)
