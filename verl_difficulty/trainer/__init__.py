"""verl-facing pieces (each imports verl; import the module you need).

- ``reward_manager``: the ``difficulty`` reward manager (``acc`` in ``reward_extra_info``)
- ``advantage``: the ``grpo_difficulty`` advantage estimator; ``freeze``: vision-tower freezing
- ``sft_data``: SFT parquets for the SFT -> GRPO recipes
- ``sampler``: ``DifficultySampler`` (``data.sampler.class_path``), tiers, weights, curricula, online updates
- ``dataset``: ``DifficultyDataset`` (``data.custom_cls``), tier filtering and hints for the training split
- ``replay_buffer``: ``DifficultyReplayBuffer`` (``trainer.v1.sampler.custom_sampler``) for the v1 trainer
- ``settings``: the ``data.difficulty`` block; ``hints``: hint text; ``rows``: reading tiers from a dataset
- ``compat``: the verl 0.9.1 hooks the plug-in installs (``data.sampler`` keys, legacy-trainer metrics)

See ``docs/training.md``.
"""
