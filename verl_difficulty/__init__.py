"""verl-difficulty: difficulty-aware data selection for multimodal post-training in verl.

Sub-packages (heavy dependencies are imported lazily inside them):

- ``data``: the verl multimodal parquet schema, image decoding, converter helpers
- ``verify``: answer checkers per task and ``compute_score`` for ``reward.custom_reward_function``
- ``engines``: generation backends behind one interface (transformers, vLLM, OpenAI server, replay)
- ``scorers``: PISM, CMAB and pass-rate difficulty metrics
- ``tiers``: thresholds mapping scores to easy / mid / hard / unsolved
- ``pipeline``: scoring over a dataset (in-process or Ray Data), resume, CLI
- ``report``: plots and the HTML report
- ``trainer``: verl-facing sampler, dataset class, reward manager, advantage estimator, hints
- ``testing``: the tiny offline VLM builder and test helpers
"""

from verl_difficulty.version import __version__

__all__ = ["__version__"]
