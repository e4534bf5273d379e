"""The one place that maps difficulty scores to tiers: ``easy`` / ``mid`` / ``hard`` / ``unsolved``.

Defaults are the papers' thresholds (see ``PAPERS.md``); every setting is validated when it is built, so a
bad YAML fails at start-up with the field named, not hours later.

PISM (λ* = the smallest mask ratio at which fewer than τ of the K attempts are correct):
    unsolved  the model already fails on the unmasked image (λ* = 0)
    hard      0 < λ* ≤ λ_hard (0.4)
    mid       λ_hard < λ* < λ_easy (0.7)
    easy      λ* ≥ λ_easy, or the model never fails up to the largest ratio (λ* recorded as 1.0)
    The paper's text puts λ* = 0.7 in *easy*, its Table A in *mid*: ``easy_inclusive`` chooses (default:
    the text, ``True``).

CMAB (ρ̄ = image / text attention balance of a correctly answered sample):
    easy      ρ̄ < 0.1 or ρ̄ > 1.9
    mid       0.1 ≤ ρ̄ < 0.4 or 1.6 < ρ̄ ≤ 1.9
    hard      0.4 ≤ ρ̄ ≤ 1.6
    unsolved  the correctness gate failed (no ρ̄)

Pass-rate (accuracy over N rollouts; arXiv 2505.13261 publishes only the band edges 0.1 and 0.87, the
split of the band at 0.5 is this package's choice):
    unsolved  acc < too_hard (0.1)
    hard      too_hard ≤ acc < hard_mid (0.5)
    mid       hard_mid ≤ acc ≤ too_easy (0.87)
    easy      acc > too_easy
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

TIERS = ("easy", "mid", "hard", "unsolved")
METRICS = ("pism", "cmab", "passrate")


class TierConfigError(ValueError):
    """A tier setting is invalid; the message names the field."""


def _check_number(name: str, value: Any, lo: float = 0.0, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TierConfigError(f"{name}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise TierConfigError(f"{name}: {value} is outside [{lo}, {hi}]")
    return float(value)


@dataclass(frozen=True)
class PISMTiers:
    lambda_hard: float = 0.4
    lambda_easy: float = 0.7
    easy_inclusive: bool = True  # λ* == lambda_easy → easy (paper text); False → mid (paper Table A)
    hard_inclusive: bool = True  # λ* == lambda_hard → hard (paper text)

    def __post_init__(self):
        _check_number("pism.lambda_hard", self.lambda_hard, 0.0, 1.0)
        _check_number("pism.lambda_easy", self.lambda_easy, 0.0, 1.0)
        if not self.lambda_hard < self.lambda_easy:
            raise TierConfigError(
                f"pism: lambda_hard ({self.lambda_hard}) must be smaller than lambda_easy ({self.lambda_easy})"
            )
        for name in ("easy_inclusive", "hard_inclusive"):
            if not isinstance(getattr(self, name), bool):
                raise TierConfigError(f"pism.{name}: expected true/false, got {getattr(self, name)!r}")

    def tier(self, lambda_star: float | None, *, solved_unmasked: bool = True) -> str:
        """Tier for a sample whose breaking ratio is ``lambda_star`` (``None`` or ≥ 1: never failed)."""
        if not solved_unmasked or (lambda_star is not None and lambda_star <= 1e-9):
            return "unsolved"
        if lambda_star is None or lambda_star >= 1.0:
            return "easy"
        eps = 1e-9
        if lambda_star < self.lambda_hard - eps or (self.hard_inclusive and abs(lambda_star - self.lambda_hard) <= eps):
            return "hard"
        if lambda_star > self.lambda_easy + eps or (self.easy_inclusive and abs(lambda_star - self.lambda_easy) <= eps):
            return "easy"
        return "mid"


@dataclass(frozen=True)
class CMABTiers:
    easy_low: float = 0.1
    mid_low: float = 0.4
    mid_high: float = 1.6
    easy_high: float = 1.9

    def __post_init__(self):
        values = []
        for f in ("easy_low", "mid_low", "mid_high", "easy_high"):
            values.append(_check_number(f"cmab.{f}", getattr(self, f)))
        if not values[0] < values[1] <= values[2] < values[3]:
            raise TierConfigError(
                "cmab: thresholds must be ordered easy_low < mid_low <= mid_high < easy_high, got "
                f"{self.easy_low}, {self.mid_low}, {self.mid_high}, {self.easy_high}"
            )

    def tier(self, rho: float | None, *, solved: bool = True) -> str:
        if not solved or rho is None or (isinstance(rho, float) and math.isnan(rho)):
            return "unsolved"
        if rho < self.easy_low or rho > self.easy_high:
            return "easy"
        if rho < self.mid_low or rho > self.mid_high:
            return "mid"
        return "hard"


@dataclass(frozen=True)
class PassRateTiers:
    too_hard: float = 0.1
    hard_mid: float = 0.5
    too_easy: float = 0.87

    def __post_init__(self):
        a = _check_number("passrate.too_hard", self.too_hard, 0.0, 1.0)
        b = _check_number("passrate.hard_mid", self.hard_mid, 0.0, 1.0)
        c = _check_number("passrate.too_easy", self.too_easy, 0.0, 1.0)
        if not a <= b <= c:
            raise TierConfigError(
                f"passrate: thresholds must be ordered too_hard <= hard_mid <= too_easy, got {a}, {b}, {c}"
            )

    def tier(self, accuracy: float | None) -> str:
        if accuracy is None or math.isnan(accuracy):
            return "unsolved"
        if accuracy > self.too_easy:
            return "easy"
        if accuracy >= self.hard_mid:
            return "mid"
        if accuracy >= self.too_hard:
            return "hard"
        return "unsolved"

    def in_band(self, accuracy: float) -> bool:
        """The second paper's U-shape filter: neither too easy nor too hard."""
        return self.too_hard <= accuracy <= self.too_easy


@dataclass(frozen=True)
class TierConfig:
    pism: PISMTiers = field(default_factory=PISMTiers)
    cmab: CMABTiers = field(default_factory=CMABTiers)
    passrate: PassRateTiers = field(default_factory=PassRateTiers)

    @classmethod
    def from_dict(cls, data: dict | None) -> TierConfig:
        """Build from a plain mapping (YAML / OmegaConf); unknown keys are errors naming the key."""
        data = dict(data or {})
        parts = {"pism": PISMTiers, "cmab": CMABTiers, "passrate": PassRateTiers}
        unknown = set(data) - set(parts)
        if unknown:
            raise TierConfigError(f"tiers: unknown metric(s) {sorted(unknown)}; expected {sorted(parts)}")
        kwargs = {}
        for name, klass in parts.items():
            sub = dict(data.get(name) or {})
            allowed = {f.name for f in fields(klass)}
            bad = set(sub) - allowed
            if bad:
                raise TierConfigError(f"tiers.{name}: unknown setting(s) {sorted(bad)}; expected {sorted(allowed)}")
            kwargs[name] = klass(**sub)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return asdict(self)
