"""Difficulty scorers, one file per metric: ``pism.py``, ``cmab.py``, ``passrate.py`` (+ ``masks.py``).

``build_scorer(metric, engine, settings, tiers=...)`` builds one; see :mod:`.base` for the interface.
"""

from __future__ import annotations

import importlib

from verl_difficulty.scorers.base import RowError, Scorer, ScorerConfigError

#: metric -> "module:Class"
SCORERS: dict[str, str] = {
    "pism": "verl_difficulty.scorers.pism:PISMScorer",
    "cmab": "verl_difficulty.scorers.cmab:CMABScorer",
    "passrate": "verl_difficulty.scorers.passrate:PassRateScorer",
}


def build_scorer(metric: str, engine, settings: dict | None = None, *, tiers=None) -> Scorer:
    """The scorer of ``metric`` over ``engine`` (``None`` is fine for :meth:`Scorer.estimate`)."""
    if metric not in SCORERS:
        raise ScorerConfigError(f"metric: {metric!r} is not one of {sorted(SCORERS)}")
    module_name, cls_name = SCORERS[metric].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(engine, settings, tiers=tiers)


__all__ = ["SCORERS", "RowError", "Scorer", "ScorerConfigError", "build_scorer"]
