"""Helpers the generation-based scorers (PISM, pass-rate) share: setting checks and isolated generation."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from verl_difficulty.scorers.base import ScorerConfigError

logger = logging.getLogger(__name__)


def check_unknown(metric: str, settings: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """:class:`ScorerConfigError` naming every key of ``settings`` that is not in ``allowed``."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        names = ", ".join(f"{metric}.{k}" for k in unknown)
        raise ScorerConfigError(f"{names}: unknown setting(s); expected some of {sorted(allowed)}")


def check_int(name: str, value: Any, lo: int = 1, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ScorerConfigError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ScorerConfigError(f"{name}: expected an integer {bound}, got {value}")
    return value


def check_float(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ScorerConfigError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if value < lo or value > hi or (lo_open and value == lo):
        left = "(" if lo_open else "["
        raise ScorerConfigError(f"{name}: expected a number in {left}{lo}, {hi}], got {value}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ScorerConfigError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return value


def check_verify(name: str, value: Any):
    """``VerifySettings`` from a mapping of overrides (unknown keys and bad values name the field)."""
    from verl_difficulty.verify.settings import VerifySettings

    if value is None:
        return VerifySettings()
    if not isinstance(value, Mapping):
        raise ScorerConfigError(f"{name}: expected a mapping of verifier settings, got {value!r}")
    unknown = sorted(set(value) - set(VerifySettings.field_names()))
    if unknown:
        raise ScorerConfigError(
            f"{', '.join(f'{name}.{k}' for k in unknown)}: unknown verifier setting(s); "
            f"expected some of {list(VerifySettings.field_names())}"
        )
    try:
        return VerifySettings.from_kwargs(dict(value))
    except (TypeError, ValueError) as e:
        raise ScorerConfigError(f"{name}: {e}") from e


def generate_isolated(engine, requests: Sequence) -> list[list[str] | Exception]:
    """``engine.generate(requests)``; if the batch fails, each request alone, so one bad request fails alone.

    Returns, per request, its completions or the exception it raised (a failure of the single-request call).
    """
    if not requests:
        return []
    try:
        outs = engine.generate(list(requests))
        if len(outs) != len(requests):
            raise RuntimeError(f"engine returned {len(outs)} results for {len(requests)} requests")
        return list(outs)
    except Exception as batch_error:
        if len(requests) == 1:
            return [batch_error]
        logger.warning("generation of %d requests failed (%s); retrying one by one", len(requests), batch_error)
    results: list[list[str] | Exception] = []
    for req in requests:
        try:
            (out,) = engine.generate([req])
            results.append(out)
        except Exception as e:
            results.append(e)
    return results


def describe_error(e: BaseException) -> str:
    return f"engine error: {type(e).__name__}: {e}"


def parse_sampling_settings(prefix: str, s: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Validate the keys every generating scorer shares into ``out``: ``temperature``, ``top_p``, ``top_k``,
    ``max_new_tokens``, ``seed`` and ``verify`` (errors name ``<prefix>.<key>``)."""
    if "temperature" in s:
        out["temperature"] = check_float(f"{prefix}.temperature", s["temperature"], 0.0)
    if "top_p" in s:
        out["top_p"] = check_float(f"{prefix}.top_p", s["top_p"], 0.0, 1.0, lo_open=True)
    if "top_k" in s:
        out["top_k"] = -1 if s["top_k"] == -1 else check_int(f"{prefix}.top_k", s["top_k"], 1)
    if "max_new_tokens" in s:
        out["max_new_tokens"] = check_int(f"{prefix}.max_new_tokens", s["max_new_tokens"], 1)
    if "seed" in s:
        out["seed"] = check_int(f"{prefix}.seed", s["seed"], 0)
    if "verify" in s:
        check_verify(f"{prefix}.verify", s["verify"])
        out["verify"] = dict(s["verify"] or {})
