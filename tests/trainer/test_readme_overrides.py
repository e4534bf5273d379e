"""The README's promises: its first two commands, and its override block working inside verl 0.9.1.

The block is read from README.md itself (so the test breaks when the README drifts), composed with verl's own
``ppo_trainer.yaml`` by Hydra, accepted by verl's ``validate_config``, and then built by verl's own
``create_rl_dataset`` / ``create_rl_sampler`` on a scored parquet of real rows: the dataset keeps only the mid and
hard rows and hints the hard ones, the sampler is the difficulty sampler, and the estimator is registered.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_exactly_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None and README.index("```bash") < README.index("\n## ")
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.split("#")[0].strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for script in ("scripts/demo.sh", "scripts/test.sh"):
        assert (REPO / script).is_file(), script
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()  # CI runs README command 2


def readme_overrides() -> list[str]:
    block = re.search(r"## Adding it to the verl GRPO script.*?```bash\n(.*?)```", README, re.S)
    assert block is not None, "README lost its override block"
    return shlex.split(block.group(1).replace("\\\n", " "))


def test_override_block_composes_validates_and_builds_in_verl(scored, compose, verl_stack):
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler, need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_difficulty.trainer.dataset import DifficultyDataset
    from verl_difficulty.trainer.hints import DEFAULT_HINT
    from verl_difficulty.trainer.sampler import DifficultySampler

    train, tiers, val = scored
    overrides = readme_overrides()
    assert len(overrides) >= 10
    cfg = compose(
        *overrides,
        f"data.train_files={train}",
        f"data.val_files={val}",
        "actor_rollout_ref.model.path=/models/any",
        "data.train_batch_size=8",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1",
        "trainer.n_gpus_per_node=1",
    )
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    assert get_adv_estimator_fn(cfg.algorithm.adv_estimator) is not None

    tokenizer, processor = verl_stack
    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, tokenizer, processor)
    assert isinstance(dataset, DifficultyDataset) and dataset.split == "train"
    kept = [t for t in tiers if t in ("mid", "hard")]
    assert len(dataset) == len(kept) and dataset.hinted_rows == kept.count("hard")
    sampler = create_rl_sampler(cfg.data, dataset)  # verl's own function, which the plug-in extends
    assert isinstance(sampler, DifficultySampler)
    drawn = list(iter(sampler))
    # one epoch: kept rows drawn once each, rounded down to whole batches of data.train_batch_size
    assert len(drawn) == len(dataset) // 8 * 8 and len(set(drawn)) == len(drawn)
    assert set(drawn) <= set(range(len(dataset)))
    hard_item = dataset[kept.index("hard")]
    user = [m for m in hard_item["raw_prompt"] if m["role"] == "user"][-1]
    assert " ".join(p["text"] for p in user["content"] if p["type"] == "text").endswith(DEFAULT_HINT)
