"""What every difficulty scorer shares: the interface the pipeline calls, and row helpers.

A scorer turns verl rows into :class:`~verl_difficulty.difficulty.MetricRecord` s, one per row, in order::

    scorer = build_scorer("pism", engine, {"k": 10}, tiers=TierConfig())
    records = scorer.score_rows(rows)      # rows: dicts in verl's parquet layout
    scorer.provenance()                    # model / engine / settings / seed / version, stored in each record
    scorer.estimate(10_000)                # upper bound of the work, for ``score --dry-run`` (engine may be None)

Contract:

- ``score_rows`` never raises for a bad row: a row whose image cannot be decoded, that has no ground truth,
  or whose generation fails gets ``MetricRecord.failed(<reason>)`` and keeps its place. It may raise for an
  engine failure that concerns the whole batch; the pipeline then retries the rows one by one.
- Results depend only on each row (its sample id seeds every mask and sample), never on the batch it came in.
- Scorers batch the work of many rows into few ``engine.generate`` calls.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any

from verl_difficulty.difficulty import MetricRecord
from verl_difficulty.tiers import TierConfig


class ScorerConfigError(ValueError):
    """A scorer setting is invalid; the message names it (``pism.k: ...``)."""


class RowError(ValueError):
    """A row cannot be scored (bad image, no answer, placeholder mismatch); becomes the record's ``error``."""


def sample_id(row: Mapping[str, Any]) -> str:
    info = row.get("extra_info")
    if isinstance(info, Mapping) and info.get("index") not in (None, ""):
        return str(info["index"])
    raise RowError("row has no extra_info.index (sample id)")


def ground_truth(row: Mapping[str, Any]) -> str:
    rm = row.get("reward_model")
    gt = rm.get("ground_truth") if isinstance(rm, Mapping) else None
    if gt is None or (isinstance(gt, str) and not gt.strip()):
        raise RowError("row has no reward_model.ground_truth")
    return gt if isinstance(gt, str) else json.dumps(gt, default=str)


def row_images(row: Mapping[str, Any]) -> list:
    """The row's images decoded to RGB (decompression bombs refused); :class:`RowError` naming the image."""
    from verl_difficulty.data.images import ImageLoadError, load_image

    images = row.get("images")
    if images is None:
        return []
    out = []
    for i, src in enumerate(list(images)):
        try:
            out.append(load_image(src))
        except ImageLoadError as e:
            raise RowError(f"ImageLoadError: images[{i}]: {e}") from e
    return out


def row_messages(row: Mapping[str, Any]) -> list[dict]:
    prompt = row.get("prompt")
    if prompt is None or len(prompt) == 0:
        raise RowError("row has no prompt messages")
    return [{"role": str(m["role"]), "content": m["content"]} for m in prompt]


def judge(row: Mapping[str, Any], response: str, verify_settings=None) -> dict[str, float]:
    """The verifier's verdict on ``response`` for ``row`` (``compute_score``'s dict; ``acc`` is 1.0 / 0.0)."""
    from verl_difficulty.verify.score import score_with
    from verl_difficulty.verify.settings import VerifySettings

    info = dict(row.get("extra_info") or {})
    if "ability" in row and "ability" not in info:
        info["ability"] = row["ability"]
    return score_with(
        verify_settings or VerifySettings(), row.get("data_source", ""), response, ground_truth(row), info
    )


class Scorer(abc.ABC):
    """Base class: settings validated at construction, so a bad YAML fails before any model is loaded."""

    metric: str = ""

    def __init__(self, engine, settings: Mapping[str, Any] | None = None, tiers: TierConfig | None = None):
        self.engine = engine
        self.tiers = tiers or TierConfig()
        self.settings = self.parse_settings(dict(settings or {}))

    @abc.abstractmethod
    def parse_settings(self, settings: dict[str, Any]) -> Any:
        """Validate ``settings`` (unknown keys are errors naming the key) and return the settings object."""

    @abc.abstractmethod
    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[MetricRecord]:
        """One record per row, in order (see the module docstring)."""

    @abc.abstractmethod
    def estimate(self, num_rows: int) -> dict[str, Any]:
        """Upper bound of the work for ``num_rows`` rows (e.g. ``{"generations_max": ...}``)."""

    def provenance(self) -> dict[str, Any]:
        from verl_difficulty import __version__

        settings = self.settings.to_dict() if hasattr(self.settings, "to_dict") else dict(self.settings)
        engine = self.engine.describe() if self.engine is not None else {}
        return {
            "metric": self.metric,
            "model": engine.get("model"),
            "engine": engine,
            "settings": settings,
            "tiers": self.tiers.to_dict()[self.metric],
            "seed": settings.get("seed", 0),
            "version": __version__,
        }
