"""``data.difficulty`` parsed from real Hydra overrides of verl's ppo_trainer.yaml; errors name the key."""

from __future__ import annotations

import pytest

from verl_difficulty.trainer.hints import DEFAULT_HINT, add_hint
from verl_difficulty.trainer.settings import DifficultyConfigError, DifficultySettings


@pytest.fixture(scope="module")
def compose_data():
    """Compose verl's own ``data`` config group (``data/legacy_data.yaml``) with ``data.*`` overrides.

    The full ppo_trainer.yaml takes seconds to compose on a loaded CI machine; the ``data`` group alone parses
    the same Hydra override grammar (the ``data.`` prefix is dropped).
    """
    from pathlib import Path

    import verl
    from hydra import compose, initialize_config_dir

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config" / "data")

    def make(*overrides):
        stripped = [o.replace("data.", "", 1) for o in overrides]
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return compose(config_name="legacy_data", overrides=stripped)

    return make


def _settings(compose_data, *overrides):
    return DifficultySettings.from_data_config(compose_data(*overrides))


def test_defaults_without_a_difficulty_block(compose_data):
    s = _settings(compose_data)
    assert s.metric is None and s.keep == ("mid", "hard") and s.weight_mode == "row"
    assert s.tier_weights() == {"easy": 0.0, "mid": 1.0, "hard": 1.0, "unsolved": 0.0}
    assert not s.online.enable and not s.hints.enable and s.hints.text == DEFAULT_HINT
    assert s.unscored == "drop" and s.curriculum == ()


def test_the_agreed_override_block_parses(compose):
    s = DifficultySettings.from_data_config(
        compose(
            "++data.difficulty.metric=pism",
            "++data.difficulty.keep=[mid,hard]",
            "++data.difficulty.weights={mid:1.0,hard:2.0}",
            "++data.difficulty.curriculum=[{steps:50,keep:[mid]},{weights:{mid:1,hard:3}}]",
            "++data.difficulty.online=true",
            "++data.difficulty.hints.enable=true",
            "++data.difficulty.hints.tiers=[hard]",
            "++data.difficulty.hints.text='Think carefully: this one is hard.'",
            "++data.difficulty.tiers={passrate:{too_easy:0.8}}",
        ).data
    )
    assert s.metric == "pism" and s.weights == {"mid": 1.0, "hard": 2.0}
    assert [st.weights for st in s.curriculum] == [{"mid": 1.0}, {"mid": 1.0, "hard": 3.0}]
    assert s.curriculum[0].steps == 50 and s.curriculum[1].steps is None
    assert s.online.enable and s.online.retier and s.online.key == "acc"
    assert s.hints.enable and s.hints.tiers == ("hard",) and s.hints.text == "Think carefully: this one is hard."
    assert s.tiers.passrate.too_easy == 0.8


@pytest.mark.parametrize(
    "override, message",
    [
        ("++data.difficulty.keep=[mid,medium]", r"data.difficulty.keep: unknown tier 'medium'"),
        ("++data.difficulty.metric=attention", r"data.difficulty.metric: unknown metric 'attention'"),
        ("++data.difficulty.wieghts={hard:2.0}", r"data.difficulty.wieghts: unknown setting"),
        ("++data.difficulty.weights={easy:2.0}", r"data.difficulty.weights: tier 'easy' is not kept"),
        ("++data.difficulty.weights={hard:-1}", r"data.difficulty.weights.hard: -1 is outside"),
        ("++data.difficulty.weight_mode=batch", r"data.difficulty.weight_mode: expected row or tier"),
        ("++data.difficulty.unscored=skip", r"data.difficulty.unscored: expected drop, error or a tier"),
        ("++data.difficulty.online=maybe", r"data.difficulty.online: expected true, false or a mapping"),
        ("++data.difficulty.online={min_rollout:4}", r"data.difficulty.online.min_rollout: unknown setting"),
        ("++data.difficulty.online={ema:0}", r"data.difficulty.online.ema: 0 is outside"),
        ("++data.difficulty.num_samples=0", r"data.difficulty.num_samples: expected an integer >= 1"),
        ("++data.difficulty.tiers={pism:{lambda_hard:0.9}}", r"data.difficulty.tiers: pism: lambda_hard"),
        ("++data.difficulty.hints.tiers=[hardest]", r"data.difficulty.hints.tiers: unknown tier 'hardest'"),
        ("++data.difficulty.hints.position=middle", r"data.difficulty.hints.position: expected one of append"),
        ("++data.difficulty.hints.text=''", r"data.difficulty.hints.text: the hint text is empty"),
        (
            "++data.difficulty.curriculum=[{keep:[easy]},{keep:[hard]}]",
            r"data.difficulty.curriculum\[0\].keep: tier 'easy' is not kept",
        ),
        (
            "++data.difficulty.curriculum=[{keep:[mid]},{keep:[hard]}]",
            r"data.difficulty.curriculum\[0\]: only the last stage may run without steps",
        ),
        (
            "++data.difficulty.curriculum=[{steps:2,epochs:0.5,keep:[mid]}]",
            r"data.difficulty.curriculum\[0\]: give steps or epochs, not both",
        ),
        (
            "++data.difficulty.curriculum=[{advance_acc:0.8,keep:[mid]},{keep:[hard]}]",
            r"data.difficulty.curriculum\[0\].advance_acc: needs data.difficulty.online=true",
        ),
        (
            "++data.difficulty.curriculum=[{steps:3}]",
            r"data.difficulty.curriculum\[0\]: needs weights",
        ),
        (
            "++data.difficulty.curriculum=[{steps:3,keep:[mid],weight:{mid:1}}]",
            r"data.difficulty.curriculum\[0\].weight: unknown setting",
        ),
    ],
)
def test_errors_name_the_key(compose_data, override, message):
    with pytest.raises(DifficultyConfigError, match=message):
        _settings(compose_data, override)


def test_sampler_class_errors_name_the_key(compose, scored, make_dataset):
    from verl.trainer.ppo.utils import create_rl_sampler

    train, _, val = scored
    base = (f"data.train_files={train}", f"data.val_files={val}")
    cfg = compose(*base, "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler")
    dataset = make_dataset(cfg.data)
    with pytest.raises(DifficultyConfigError, match=r"data.sampler.class_name: required"):
        create_rl_sampler(cfg.data, dataset)
    cfg = compose(*base, "++data.sampler.class_path=pkg://verl_difficulty.nope", "++data.sampler.class_name=X")
    with pytest.raises(DifficultyConfigError, match=r"data.sampler.class_path=pkg://verl_difficulty.nope"):
        create_rl_sampler(cfg.data, dataset)
    cfg = compose(
        *base,
        "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler",
        "++data.sampler.class_name=DifficultySampler",
        "++data.difficulty.keep=[medium]",
    )
    with pytest.raises(DifficultyConfigError, match=r"data.difficulty.keep: unknown tier 'medium'"):
        create_rl_sampler(cfg.data, dataset)


def test_add_hint():
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "<image>What is x?"}]
    out = add_hint(messages, "Hard one.")
    assert out[1]["content"] == "<image>What is x?\n\nHard one." and messages[1]["content"] == "<image>What is x?"
    assert add_hint(messages, "Hard one.", "prepend")[1]["content"] == "Hard one.\n\n<image>What is x?"
    parts = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}]
    assert add_hint(parts, "H")[0]["content"][-1] == {"type": "text", "text": "H"}
    with pytest.raises(ValueError, match="no user message"):
        add_hint([{"role": "system", "content": "s"}], "H")
