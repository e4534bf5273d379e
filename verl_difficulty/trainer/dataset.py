"""``DifficultyDataset``: verl's ``RLHFDataset`` that keeps the chosen tiers and hints hard prompts (train only).

Select it with::

    data.custom_cls.path=pkg://verl_difficulty.trainer.dataset data.custom_cls.name=DifficultyDataset

verl builds the training *and* the validation dataset from ``data.custom_cls``, so the class works out which
split it is by comparing its files with ``data.train_files`` / ``data.val_files``:

- training split: rows whose tier (``data.difficulty.metric``) is not in ``data.difficulty.keep`` are left out
  before verl's prompt-length filter (the counts are printed), hints are added to the prompts of
  ``data.difficulty.hints.tiers`` when ``data.difficulty.hints.enable``, every item carries its row position
  in ``extra_info["difficulty_row"]``, and :meth:`DifficultyDataset.on_batch_end` (called by the legacy
  trainer after each step) passes the step's accuracies to the :class:`DifficultySampler` drawing from it.
- validation split: exactly ``RLHFDataset`` (nothing filtered, no hints), so validation scores stay comparable.

When both keys name the same files the split cannot be told apart and construction fails with a message
saying so; a dataset built by hand can pass ``split="train"`` or ``split="val"``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
from verl.utils.dataset.rl_dataset import RLHFDataset

from verl_difficulty.tiers import TIERS
from verl_difficulty.trainer.hints import add_hint
from verl_difficulty.trainer.rows import ROW_KEY, DifficultyDataError, select_rows, tier_codes
from verl_difficulty.trainer.settings import DifficultyConfigError, DifficultySettings, _get, to_plain

logger = logging.getLogger(__name__)

__all__ = ["DifficultyDataset", "detect_split"]

SPLITS = ("train", "val")


def _normalise(files: Any) -> list[str]:
    files = to_plain(files)
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    out = []
    for f in files:
        f = os.fspath(f)
        if "://" not in f:  # local path: compare absolute paths
            f = os.path.abspath(os.path.expanduser(f))
        out.append(f)
    return out


def detect_split(data_files: Any, data_config: Any) -> str:
    """``"train"`` or ``"val"``: which of ``data.train_files`` / ``data.val_files`` names ``data_files``."""
    mine = _normalise(data_files)
    train = _normalise(_get(data_config, "train_files"))
    val = _normalise(_get(data_config, "val_files"))
    is_train = bool(mine) and (mine == train or sorted(mine) == sorted(train))
    is_val = bool(mine) and (mine == val or sorted(mine) == sorted(val))
    if is_train and is_val:
        raise DifficultyConfigError(
            "data.train_files and data.val_files name the same files, so DifficultyDataset cannot tell the training "
            "split (filtered, hinted) from validation (left as is); point data.val_files at a separate file, e.g. "
            "a copy"
        )
    if is_train:
        return "train"
    if is_val:
        return "val"
    raise DifficultyConfigError(
        f"DifficultyDataset: its files {mine} are neither data.train_files {train} nor data.val_files {val}; "
        "pass split='train' or split='val' when building it by hand"
    )


class DifficultyDataset(RLHFDataset):
    """``RLHFDataset`` + tier filtering, difficulty hints and the online-update hook, for the training split.

    Args (as ``RLHFDataset``): data_files, tokenizer, config (verl's ``data`` config), processor, max_samples.
        split: ``"train"`` / ``"val"``; detected from ``config.train_files`` / ``config.val_files`` when None.
    """

    def __init__(
        self,
        data_files,
        tokenizer,
        config,
        processor=None,
        max_samples: int = -1,
        split: str | None = None,
    ):
        if split is None:
            split = detect_split(data_files, config)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split
        self.difficulty = DifficultySettings.from_data_config(config)
        self._difficulty_sampler = None
        self._metric = self.difficulty.metric
        self._hint_tiers = np.array([TIERS.index(t) for t in self.difficulty.hints.tiers], dtype=np.int8)
        self._filter_counts: dict[str, int] = {}
        self._warned_no_sampler = False
        self.hinted_rows = 0
        super().__init__(data_files, tokenizer, config, processor=processor, max_samples=max_samples)
        if self.is_train and self.difficulty.hints.enable:
            codes = tier_codes(self, self._metric)
            if self.difficulty.unscored in TIERS:
                codes[codes < 0] = TIERS.index(self.difficulty.unscored)
            self.hinted_rows = int(np.isin(codes, self._hint_tiers).sum())
            print(
                f"DifficultyDataset(train): difficulty hints on {self.hinted_rows} of {len(self)} prompts "
                f"({self._metric} tiers [{', '.join(self.difficulty.hints.tiers)}])"
            )

    @property
    def is_train(self) -> bool:
        return self.split == "train"

    # --------------------------------------------------------------------------------- filtering

    def maybe_filter_out_long_prompts(self, dataframe=None):
        """Leave out rows of tiers not kept (training split), then verl's prompt-length filter.

        Tier filtering comes first: it reads one nested column, while the length filter renders every prompt
        with its images.
        """
        if self.is_train and dataframe is not None:
            dataframe = self._filter_tiers(dataframe)
        return super().maybe_filter_out_long_prompts(dataframe)

    def _filter_tiers(self, dataframe):
        class _View:  # select_rows reads `.dataframe` and the file names
            pass

        view = _View()
        view.dataframe = dataframe
        view.original_data_files = self.original_data_files
        selection = select_rows(view, self.difficulty)
        self._metric = selection.metric
        self._filter_counts = selection.counts
        kept = np.flatnonzero(selection.keep)
        print(f"DifficultyDataset(train): {selection.summary(self.difficulty.keep)}")
        if len(kept) == 0:
            raise DifficultyDataError(
                f"data.difficulty.keep=[{', '.join(self.difficulty.keep)}]: no row of {self.original_data_files} "
                f"is in these {selection.metric} tiers (rows per tier: {selection.counts})"
            )
        if len(kept) == len(dataframe):
            return dataframe
        return dataframe.select(kept)

    # --------------------------------------------------------------------------------- items and hints

    def _hint_for(self, example: dict) -> bool:
        if not (self.is_train and self.difficulty.hints.enable):
            return False
        from verl_difficulty.difficulty import get_tier

        tier = get_tier(example, self._metric) if isinstance(example, dict) else None
        if tier is None and self.difficulty.unscored in TIERS:
            tier = self.difficulty.unscored
        return tier in self.difficulty.hints.tiers

    def _build_messages(self, example: dict, key: str):
        # Called by __getitem__ and by verl's prompt-length filter, so hinted prompts are measured too.
        if self._hint_for(example):
            example[key] = add_hint(example[key], self.difficulty.hints.text, self.difficulty.hints.position)
        return super()._build_messages(example, key)

    def __getitem__(self, item):
        row = super().__getitem__(item)
        if self.is_train:
            info = row.get("extra_info")
            info = dict(info) if isinstance(info, dict) else {}
            info[ROW_KEY] = int(item)
            row["extra_info"] = info
        return row

    def __getstate__(self):
        # Dataloader workers and the length filter's processes get a copy: never ship the sampler with it.
        state = super().__getstate__()
        state = dict(state)
        state["_difficulty_sampler"] = None
        return state

    # --------------------------------------------------------------------------------- online updates

    def attach_sampler(self, sampler) -> None:
        """Called by :class:`DifficultySampler` when it is built on this dataset."""
        self._difficulty_sampler = sampler

    def on_batch_end(self, batch) -> None:
        """verl's legacy trainer calls this after every step with the trained batch (accuracies included)."""
        if not self.is_train:
            return
        sampler = self._difficulty_sampler
        if sampler is None:
            if not self._warned_no_sampler:
                self._warned_no_sampler = True
                logger.warning(
                    "DifficultyDataset.on_batch_end: no DifficultySampler draws from this dataset, so online updates "
                    "are off (set data.sampler.class_name=DifficultySampler)"
                )
            return
        sampler.observe_batch(batch, update=True)

    @property
    def filter_counts(self) -> dict[str, int]:
        """Rows per tier (and ``unscored``) in the training files before filtering."""
        return dict(self._filter_counts)
