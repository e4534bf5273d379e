"""``data.difficulty``: the settings shared by the sampler, the dataset class and the replay buffer.

Every setting is validated when it is read, and errors name the full config key, e.g.
``data.difficulty.keep: unknown tier 'medium'; expected some of easy, mid, hard, unsolved``. Unknown keys are
errors too, so a typo (``data.difficulty.wieghts``) fails at start-up instead of being ignored.

Keys (all optional; see ``docs/training.md`` for examples)::

    metric        pism | cmab | passrate; default: the only metric scored in the training file
    keep          tiers trained on (default [mid, hard], the paper's best recipe); "all" = every tier
    weights       {tier: weight >= 0}; default 1.0 for every kept tier
    weight_mode   row (default): a row of weight w is drawn w times as often as a row of weight 1
                  tier: weights are shares of each batch, whatever the tier sizes
    curriculum    list of stages (or {stages: [...]}) — see :class:`Stage`
    online        true | false | {enable, retier, min_rollouts, ema, key}
    tiers         threshold overrides (verl_difficulty.tiers.TierConfig), used by online re-tiering
    unscored      drop (default) | error | <tier>: rows without a record for the metric
    num_samples   draws per epoch; default: kept rows, rounded down to a multiple of data.train_batch_size
    seed          default: data.seed, else 0
    hints         {enable, tiers, text, position} — see verl_difficulty.trainer.hints
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verl_difficulty.tiers import METRICS, TIERS, TierConfig, TierConfigError

PREFIX = "data.difficulty"

#: The paper's finding: GRPO on mid + hard beats the other selections.
DEFAULT_KEEP = ("mid", "hard")


class DifficultyConfigError(ValueError):
    """A ``data.difficulty`` (or ``data.sampler``) setting is invalid; the message names the key."""


def to_plain(value: Any) -> Any:
    """OmegaConf containers -> plain Python (resolved); other values unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf ships with verl
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    try:
        value = config.get(key, default)
    except AttributeError:
        value = getattr(config, key, default)
    return default if value is None else value


def _tier_list(key: str, value: Any, *, allow_all: bool = True) -> tuple[str, ...]:
    value = to_plain(value)
    if isinstance(value, str):
        if allow_all and value.strip().lower() == "all":
            return TIERS
        value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
    if not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise DifficultyConfigError(f"{key}: expected a list of tiers, got {value!r}")
    out: list[str] = []
    for item in value:
        name = str(item).strip()
        if name not in TIERS:
            raise DifficultyConfigError(f"{key}: unknown tier {name!r}; expected some of {', '.join(TIERS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise DifficultyConfigError(f"{key}: needs at least one tier")
    return tuple(out)


def _number(key: str, value: Any, lo: float = 0.0, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        raise DifficultyConfigError(f"{key}: expected a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise DifficultyConfigError(f"{key}: {value} is outside [{lo}, {hi}]")
    return float(value)


def _int(key: str, value: Any, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise DifficultyConfigError(f"{key}: expected an integer >= {lo}, got {value!r}")
    return int(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DifficultyConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _weights(key: str, value: Any, keep: tuple[str, ...]) -> dict[str, float]:
    value = to_plain(value)
    if not isinstance(value, Mapping):
        raise DifficultyConfigError(f"{key}: expected a mapping {{tier: weight}}, got {value!r}")
    out = {}
    for tier, w in value.items():
        tier = str(tier)
        if tier not in TIERS:
            raise DifficultyConfigError(f"{key}: unknown tier {tier!r}; expected some of {', '.join(TIERS)}")
        if tier not in keep:
            raise DifficultyConfigError(
                f"{key}: tier {tier!r} is not kept; add it to {PREFIX}.keep (now [{', '.join(keep)}])"
            )
        out[tier] = _number(f"{key}.{tier}", w)
    return out


def _check_keys(key: str, value: Mapping, allowed: Sequence[str]) -> None:
    unknown = sorted(set(map(str, value)) - set(allowed))
    if unknown:
        raise DifficultyConfigError(f"{key}.{unknown[0]}: unknown setting; expected one of {', '.join(allowed)}")


@dataclass(frozen=True)
class Stage:
    """One curriculum stage.

    Attributes:
        weights: tier weights while the stage lasts (they replace ``data.difficulty.weights``); the
            shorthand ``keep: [easy, mid]`` means weight 1.0 for each listed tier.
        steps: how many training batches (of ``data.train_batch_size`` prompts) the stage lasts; or
        epochs: the same as a fraction of an epoch. The last stage may have neither (it lasts to the end).
        advance_acc: leave the stage early once the running accuracy of its batches reaches this value
            (needs ``online``).
    """

    weights: dict[str, float]
    steps: int | None = None
    epochs: float | None = None
    advance_acc: float | None = None


@dataclass(frozen=True)
class OnlineSettings:
    """Online difficulty updates from each step's per-sample accuracy.

    Attributes:
        enable: collect accuracies (per-tier running accuracy is logged either way once enabled).
        retier: move a row to the pass-rate tier of its latest group accuracy (``tiers.passrate``
            thresholds), so rows the policy has mastered (or cannot solve) leave the kept tiers.
        min_rollouts: re-tier only from groups with at least this many responses.
        ema: weight of the newest batch in the running per-tier accuracy.
        key: the ``reward_extra_info`` key holding per-response accuracy (the ``difficulty`` reward manager
            writes ``acc``); when absent, the sequence reward clipped to [0, 1] is used.
    """

    enable: bool = False
    retier: bool = True
    min_rollouts: int = 2
    ema: float = 0.5
    key: str = "acc"


@dataclass(frozen=True)
class HintSettings:
    """Difficulty hints added to training prompts (never validation); see :mod:`verl_difficulty.trainer.hints`."""

    enable: bool = False
    tiers: tuple[str, ...] = ("hard",)
    text: str = ""
    position: str = "append"


@dataclass(frozen=True)
class DifficultySettings:
    """The parsed ``data.difficulty`` block (see the module docstring)."""

    metric: str | None = None
    keep: tuple[str, ...] = DEFAULT_KEEP
    weights: dict[str, float] = field(default_factory=dict)
    weight_mode: str = "row"
    curriculum: tuple[Stage, ...] = ()
    online: OnlineSettings = field(default_factory=OnlineSettings)
    tiers: TierConfig = field(default_factory=TierConfig)
    unscored: str = "drop"
    num_samples: int | None = None
    seed: int | None = None
    hints: HintSettings = field(default_factory=HintSettings)

    KEYS = (
        "metric",
        "keep",
        "weights",
        "weight_mode",
        "curriculum",
        "online",
        "tiers",
        "unscored",
        "num_samples",
        "seed",
        "hints",
    )

    def tier_weights(self) -> dict[str, float]:
        """Weight of every tier outside a curriculum (0 for tiers not kept)."""
        return {t: (self.weights.get(t, 1.0) if t in self.keep else 0.0) for t in TIERS}

    @classmethod
    def from_data_config(cls, data_config: Any) -> DifficultySettings:
        """Read ``data_config.difficulty`` (a verl ``data`` config; a missing block means all defaults)."""
        return cls.from_dict(_get(data_config, "difficulty", {}))

    @classmethod
    def from_dict(cls, raw: Any) -> DifficultySettings:
        raw = to_plain(raw) or {}
        if not isinstance(raw, Mapping):
            raise DifficultyConfigError(f"{PREFIX}: expected a mapping, got {raw!r}")
        _check_keys(PREFIX, raw, cls.KEYS)

        metric = raw.get("metric")
        if metric is not None:
            metric = str(metric).strip().lower()
            if metric not in METRICS:
                raise DifficultyConfigError(
                    f"{PREFIX}.metric: unknown metric {raw['metric']!r}; expected one of {', '.join(METRICS)}"
                )

        keep = _tier_list(f"{PREFIX}.keep", raw["keep"]) if raw.get("keep") is not None else DEFAULT_KEEP
        weights = _weights(f"{PREFIX}.weights", raw["weights"], keep) if raw.get("weights") is not None else {}

        weight_mode = str(raw.get("weight_mode") or "row")
        if weight_mode not in ("row", "tier"):
            raise DifficultyConfigError(f"{PREFIX}.weight_mode: expected row or tier, got {weight_mode!r}")

        online = _online(raw.get("online"))
        curriculum = _curriculum(raw.get("curriculum"), keep, online)

        try:
            tiers = TierConfig.from_dict(to_plain(raw.get("tiers")) or {})
        except TierConfigError as e:
            raise DifficultyConfigError(f"{PREFIX}.tiers: {e}") from None

        unscored = str(raw.get("unscored") or "drop").strip()
        if unscored not in ("drop", "error", *TIERS):
            raise DifficultyConfigError(
                f"{PREFIX}.unscored: expected drop, error or a tier ({', '.join(TIERS)}), got {unscored!r}"
            )

        num_samples = raw.get("num_samples")
        if num_samples is not None:
            num_samples = _int(f"{PREFIX}.num_samples", num_samples, lo=1)
        seed = raw.get("seed")
        if seed is not None:
            seed = _int(f"{PREFIX}.seed", seed)

        return cls(
            metric=metric,
            keep=keep,
            weights=weights,
            weight_mode=weight_mode,
            curriculum=curriculum,
            online=online,
            tiers=tiers,
            unscored=unscored,
            num_samples=num_samples,
            seed=seed,
            hints=_hints(raw.get("hints")),
        )


def _online(value: Any) -> OnlineSettings:
    key = f"{PREFIX}.online"
    value = to_plain(value)
    if value is None:
        return OnlineSettings()
    if isinstance(value, bool):
        return OnlineSettings(enable=value)
    if not isinstance(value, Mapping):
        raise DifficultyConfigError(f"{key}: expected true, false or a mapping, got {value!r}")
    _check_keys(key, value, ("enable", "retier", "min_rollouts", "ema", "key"))
    d = OnlineSettings()
    return OnlineSettings(
        enable=_bool(f"{key}.enable", value.get("enable", True)),
        retier=_bool(f"{key}.retier", value.get("retier", d.retier)),
        min_rollouts=_int(f"{key}.min_rollouts", value.get("min_rollouts", d.min_rollouts), lo=1),
        ema=_number(f"{key}.ema", value.get("ema", d.ema), 1e-6, 1.0),
        key=str(value.get("key", d.key)),
    )


def _curriculum(value: Any, keep: tuple[str, ...], online: OnlineSettings) -> tuple[Stage, ...]:
    key = f"{PREFIX}.curriculum"
    value = to_plain(value)
    if value is None or value == [] or value == {}:
        return ()
    if isinstance(value, Mapping):
        _check_keys(key, value, ("stages",))
        value = value.get("stages")
        key = f"{key}.stages"
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise DifficultyConfigError(f"{key}: expected a list of stages, got {value!r}")
    stages = []
    for i, raw in enumerate(value):
        skey = f"{key}[{i}]"
        if not isinstance(raw, Mapping):
            raise DifficultyConfigError(f"{skey}: expected a mapping, got {raw!r}")
        _check_keys(skey, raw, ("weights", "keep", "steps", "epochs", "advance_acc"))
        if raw.get("weights") is not None:
            weights = _weights(f"{skey}.weights", raw["weights"], keep)
        elif raw.get("keep") is not None:
            listed = _tier_list(f"{skey}.keep", raw["keep"], allow_all=False)
            missing = [t for t in listed if t not in keep]
            if missing:
                raise DifficultyConfigError(
                    f"{skey}.keep: tier {missing[0]!r} is not kept; add it to {PREFIX}.keep (now [{', '.join(keep)}])"
                )
            weights = {t: 1.0 for t in listed}
        else:
            raise DifficultyConfigError(f"{skey}: needs weights ({{tier: weight}}) or keep ([tiers])")
        if not any(w > 0 for w in weights.values()):
            raise DifficultyConfigError(f"{skey}.weights: at least one tier needs a weight > 0")
        steps = raw.get("steps")
        epochs = raw.get("epochs")
        if steps is not None and epochs is not None:
            raise DifficultyConfigError(f"{skey}: give steps or epochs, not both")
        if steps is not None:
            steps = _int(f"{skey}.steps", steps, lo=1)
        if epochs is not None:
            epochs = _number(f"{skey}.epochs", epochs, 1e-9)
        advance = raw.get("advance_acc")
        if advance is not None:
            advance = _number(f"{skey}.advance_acc", advance, 0.0, 1.0)
            if not online.enable:
                raise DifficultyConfigError(f"{skey}.advance_acc: needs {PREFIX}.online=true (it reads accuracies)")
        is_last = i == len(value) - 1
        if not is_last and steps is None and epochs is None and advance is None:
            raise DifficultyConfigError(f"{skey}: only the last stage may run without steps, epochs or advance_acc")
        stages.append(Stage(weights=weights, steps=steps, epochs=epochs, advance_acc=advance))
    return tuple(stages)


def _hints(value: Any) -> HintSettings:
    from verl_difficulty.trainer.hints import DEFAULT_HINT, POSITIONS

    key = f"{PREFIX}.hints"
    value = to_plain(value)
    if value is None:
        return HintSettings(text=DEFAULT_HINT)
    if isinstance(value, bool):
        return HintSettings(enable=value, text=DEFAULT_HINT)
    if not isinstance(value, Mapping):
        raise DifficultyConfigError(f"{key}: expected a mapping, got {value!r}")
    _check_keys(key, value, ("enable", "tiers", "text", "position"))
    text = value.get("text")
    text = DEFAULT_HINT if text is None else str(text)
    if not text.strip():
        raise DifficultyConfigError(f"{key}.text: the hint text is empty")
    position = str(value.get("position") or "append")
    if position not in POSITIONS:
        raise DifficultyConfigError(f"{key}.position: expected one of {', '.join(POSITIONS)}, got {position!r}")
    tiers = _tier_list(f"{key}.tiers", value["tiers"], allow_all=False) if value.get("tiers") is not None else ("hard",)
    return HintSettings(
        enable=_bool(f"{key}.enable", value.get("enable", True)), tiers=tiers, text=text, position=position
    )
