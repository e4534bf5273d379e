"""``grpo_difficulty`` through verl 0.9.1's own ``compute_advantage`` (ray_trainer) on real DataProto batches."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import verl_difficulty.trainer.advantage as adv
from verl_difficulty.trainer.advantage import DifficultyWeightConfig, DifficultyWeightError, difficulty_weight

REPO = Path(__file__).resolve().parents[2]
RESPONSE_LEN = 6


def _batch(group_scores: list[list[float]], seed: int = 0):
    """A DataProto like the trainer's after the reward: outcome score on each response's last valid token,
    ragged response masks, and verl's ``uid`` per group (shuffled, as after balance_batch)."""
    from verl import DataProto

    gen = torch.Generator().manual_seed(seed)
    scores, uids = [], []
    for g, group in enumerate(group_scores):
        scores += group
        uids += [f"uid-{g}"] * len(group)
    n = len(scores)
    lengths = torch.randint(1, RESPONSE_LEN + 1, (n,), generator=gen)
    mask = (torch.arange(RESPONSE_LEN)[None, :] < lengths[:, None]).float()
    rewards = torch.zeros(n, RESPONSE_LEN)
    rewards[torch.arange(n), lengths - 1] = torch.tensor(scores, dtype=torch.float32)
    perm = torch.randperm(n, generator=gen)
    return DataProto.from_dict(
        tensors={"token_level_rewards": rewards[perm], "response_mask": mask[perm]},
        non_tensors={"uid": np.array(uids, dtype=object)[perm.numpy()]},
    )


@functools.lru_cache(maxsize=1)
def _composed_algorithm():
    """verl's ``algorithm`` section composed by Hydra from verl's own ppo_trainer.yaml with our ``++`` keys."""
    import verl.trainer.main_ppo as main_ppo
    from hydra import compose, initialize_config_dir

    overrides = [
        "algorithm.adv_estimator=grpo_difficulty",
        "++algorithm.difficulty_weight.enable=true",
        "++algorithm.difficulty_weight.family=exponential",
        "++algorithm.difficulty_weight.acc_threshold=0.5",
    ]
    with initialize_config_dir(config_dir=str(Path(main_ppo.__file__).parent / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides).algorithm


def _algo(**weight):
    """The composed ``algorithm`` DictConfig with ``difficulty_weight`` settings changed."""
    algo = _composed_algorithm()
    assert algo.adv_estimator == "grpo_difficulty" and algo.difficulty_weight.family == "exponential"
    return OmegaConf.merge(algo, {"difficulty_weight": weight})


def _run(data, estimator: str, config, norm: bool = True):
    from verl.trainer.ppo.ray_trainer import compute_advantage

    out = compute_advantage(data, adv_estimator=estimator, norm_adv_by_std_in_grpo=norm, config=config, num_repeat=8)
    return out.batch["advantages"], out.batch["returns"]


GROUPS = [
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # p = 1/8: hard
    [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # p = 1/2
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],  # p = 7/8: easy
    [0.7, 0.2, 0.55, 0.9, 0.1, 0.3, 0.6, 0.0],  # continuous (grounding IoU) rewards
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # all solved: no signal
    [0.0],  # a single response: A = r, as GRPO
]


@pytest.fixture(scope="module")
def algo_disabled():
    return _algo(enable=False)


@pytest.mark.parametrize("norm", [True, False])
def test_disabled_is_verls_grpo_exactly(algo_disabled, norm):
    """With enable=false the estimator is verl's GRPO, bit for bit, with and without std normalisation."""
    cfg = OmegaConf.merge(algo_disabled, {"norm_adv_by_std_in_grpo": norm})
    ours = _run(_batch(GROUPS, seed=1), "grpo_difficulty", cfg, norm=norm)
    theirs = _run(_batch(GROUPS, seed=1), "grpo", cfg, norm=norm)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert ours[0].abs().sum() > 0  # not trivially zero


def _per_group(advantages, data) -> dict[str, np.ndarray]:
    """Each response's scalar advantage (first response token), grouped by uid."""
    mask = data.batch["response_mask"]
    first = advantages[torch.arange(len(mask)), mask.argmax(dim=1)]
    out: dict[str, list] = {}
    for uid, a, r in zip(
        data.non_tensor_batch["uid"], first.tolist(), data.batch["token_level_rewards"].sum(-1).tolist()
    ):
        out.setdefault(uid, []).append((r, a))
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("family", ["exponential", "linear", "medium"])
def test_enabled_weights_by_group_accuracy(family):
    """A = w(p) * (r - mean): checked per group; harder groups weigh more (medium: p = 1/2 weighs most)."""
    algo = _algo(family=family)
    data = _batch(GROUPS, seed=2)
    advantages, returns = _run(data, "grpo_difficulty", algo)
    assert torch.equal(advantages, returns)
    assert torch.all(advantages[data.batch["response_mask"] == 0] == 0)
    cfg = DifficultyWeightConfig.from_config(algo)
    groups = _per_group(advantages, data)
    weights = {}
    for uid, arr in groups.items():
        r, a = arr[:, 0], arr[:, 1]
        if len(r) == 1:
            np.testing.assert_allclose(a, r, atol=1e-6)
            continue
        centred = r - r.mean()
        if np.allclose(centred, 0):
            np.testing.assert_allclose(a, 0, atol=1e-6)
            continue
        p = float((r >= 0.5).mean())
        w = float(difficulty_weight(p, cfg))
        np.testing.assert_allclose(a, centred * w, rtol=1e-5, atol=1e-6)
        weights[uid] = (p, w)
    hard, mid, easy = weights["uid-0"][1], weights["uid-1"][1], weights["uid-2"][1]
    assert mid == pytest.approx(cfg.scale)  # anchored: w(1/2) = scale
    if family == "medium":
        assert mid > hard and mid > easy
    else:
        assert hard > mid > easy


def test_hard_group_gets_more_than_grpo_and_easy_group_less():
    """The point of the weighting: vs verl's GRPO, a rarely-solved prompt's correct answer is pushed harder and a
    nearly-always-solved prompt's wrong answer is pushed less."""
    weighted = _per_group(*_with_data(_algo(), "grpo_difficulty"))
    plain = _per_group(*_with_data(_algo(enable=False), "grpo"))
    hard_w, hard_g = weighted["uid-0"], plain["uid-0"]
    assert hard_w[hard_w[:, 0] == 1.0, 1].max() > hard_g[hard_g[:, 0] == 1.0, 1].max()
    easy_w, easy_g = weighted["uid-2"], plain["uid-2"]
    assert abs(easy_w[easy_w[:, 0] == 0.0, 1].min()) < abs(easy_g[easy_g[:, 0] == 0.0, 1].min())


def _with_data(algo, estimator):
    data = _batch(GROUPS, seed=3)
    advantages, _ = _run(data, estimator, algo)
    return advantages, data


def test_acc_threshold_changes_accuracy():
    """Accuracy comes from thresholding the outcome score; a higher threshold makes the same group harder."""
    low = DifficultyWeightConfig(acc_threshold=0.5)
    high = DifficultyWeightConfig(acc_threshold=0.8)
    data = _batch([GROUPS[3]], seed=4)
    a_low = adv.compute_grpo_difficulty_advantage(
        data.batch["token_level_rewards"],
        data.batch["response_mask"],
        data.non_tensor_batch["uid"],
        config={"difficulty_weight": low.to_dict()},
    )[0]
    a_high = adv.compute_grpo_difficulty_advantage(
        data.batch["token_level_rewards"],
        data.batch["response_mask"],
        data.non_tensor_batch["uid"],
        config={"difficulty_weight": high.to_dict()},
    )[0]
    # p = 4/8 at 0.5, 1/8 at 0.8: the exponential weight grows by e^(2 * 3/8)
    ratio = (a_high.abs().sum() / a_low.abs().sum()).item()
    assert ratio == pytest.approx(np.exp(2.0 * 3 / 8), rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"famly": "linear"}, "algorithm.difficulty_weight.famly"),
        ({"family": "steep"}, "algorithm.difficulty_weight.family"),
        ({"strength": -1.0}, "algorithm.difficulty_weight.strength"),
        ({"family": "linear", "strength": 3.0}, "algorithm.difficulty_weight.strength"),
        ({"scale": 0}, "algorithm.difficulty_weight.scale"),
        ({"acc_threshold": "high"}, "algorithm.difficulty_weight.acc_threshold"),
        ({"enable": "yes"}, "algorithm.difficulty_weight.enable"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    data = _batch(GROUPS[:2])
    with pytest.raises(DifficultyWeightError, match=message.replace(".", r"\.")):
        adv.compute_grpo_difficulty_advantage(
            data.batch["token_level_rewards"],
            data.batch["response_mask"],
            data.non_tensor_batch["uid"],
            config=OmegaConf.create({"difficulty_weight": settings}),
        )


def test_defaults_without_section():
    """No ``difficulty_weight`` section (e.g. verl's AlgoConfig dataclass): the documented defaults."""
    from verl.trainer.config import AlgoConfig

    assert DifficultyWeightConfig.from_config(AlgoConfig(adv_estimator="grpo_difficulty")) == DifficultyWeightConfig()
    assert DifficultyWeightConfig().effective_strength == 2.0
    assert DifficultyWeightConfig().family == "exponential"


def test_registered_in_a_fresh_verl_process_and_engine_hook_installed():
    """``import verl`` alone (the plugin entry point) registers the estimator; with the freeze switch set the
    FSDP engine's model builder is wrapped. Fails if verl moves ``FSDPEngine._build_module``."""
    code = (
        "import verl, json\n"
        "from verl.trainer.ppo.core_algos import get_adv_estimator_fn\n"
        "from verl.workers.engine.fsdp.transformer_impl import FSDPEngine\n"
        "fn = get_adv_estimator_fn('grpo_difficulty')\n"
        "print(json.dumps({'module': fn.__module__, "
        "'freeze': bool(getattr(FSDPEngine._build_module, '_verl_difficulty_freeze', False))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "VERL_DIFFICULTY_FREEZE_VISION": "vision"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"module": "verl_difficulty.trainer.advantage", "freeze": True}
