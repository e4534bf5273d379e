"""Settings of a scoring run, from a YAML file and/or the command line, validated with the field named.

Example YAML (every key optional except metrics/model/data/out, which may come from the command line)::

    metrics: [pism, cmab]
    model: /models/Qwen2.5-VL-7B-Instruct
    data: [data/train.parquet]
    out: runs/train-difficulty
    engine: vllm
    engine_settings: {tensor_parallel_size: 1, gpu_memory_utilization: 0.85}
    settings:
      pism: {k: 10, tau: 0.1, ratios: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], strategy: full}
      cmab: {mode: code}
    tiers:
      pism: {easy_inclusive: false}
    shard_size: 64
    ray: auto            # null: in-process loop; "local": start local Ray; "auto" or ADDRESS: join a cluster
    num_workers: 8       # Ray actors, one engine each
    gpus_per_worker: 1
    seed: 0
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from verl_difficulty.tiers import METRICS, TierConfig

ENGINES = ("transformers", "vllm", "openai", "replay", "oracle")


class ConfigError(ValueError):
    """A setting is invalid; the message names it."""


@dataclass
class ScoreConfig:
    metrics: list[str] = field(default_factory=list)
    model: str | None = None
    data: list[str] = field(default_factory=list)
    out: str | None = None
    engine: str = "transformers"
    engine_settings: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    tiers: dict[str, Any] = field(default_factory=dict)
    shard_size: int = 64
    ray: str | None = None
    num_workers: int = 1
    gpus_per_worker: float | None = None
    seed: int = 0
    limit: int | None = None
    overwrite: bool = False
    dry_run: bool = False
    heatmaps: bool = False
    progress: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "config") -> ScoreConfig:
        data = dict(data or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; expected some of {sorted(allowed)}")
        for key in ("metrics", "data"):
            if isinstance(data.get(key), str):
                data[key] = [s.strip() for s in data[key].split(",") if s.strip()]
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ScoreConfig:
        import yaml

        try:
            with open(path) as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML ({e})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def validate(self) -> ScoreConfig:
        if not self.metrics:
            raise ConfigError("metrics: give at least one of " + ", ".join(METRICS) + " (--metric)")
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            raise ConfigError(f"metrics: unknown metric(s) {bad}; expected {list(METRICS)}")
        if len(set(self.metrics)) != len(self.metrics):
            raise ConfigError(f"metrics: duplicated in {self.metrics}")
        if not self.data:
            raise ConfigError("data: give at least one input parquet (--data)")
        if not self.out:
            raise ConfigError("out: give an output folder (--out)")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine: {self.engine!r} is not one of {list(ENGINES)}")
        if self.model is None and self.engine not in ("replay", "oracle"):
            raise ConfigError(f"model: the {self.engine} engine needs a model path (--model)")
        unknown = sorted(set(self.settings) - set(METRICS))
        if unknown:
            raise ConfigError(f"settings: unknown metric section(s) {unknown}; expected {list(METRICS)}")
        for name in ("shard_size", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ConfigError(f"limit: expected a positive integer, got {self.limit!r}")
        if self.gpus_per_worker is not None and (
            not isinstance(self.gpus_per_worker, (int, float)) or self.gpus_per_worker < 0
        ):
            raise ConfigError(f"gpus_per_worker: expected a number >= 0, got {self.gpus_per_worker!r}")
        tiers = TierConfig.from_dict(self.tiers)  # raises TierConfigError naming the field
        self._validate_scorer_settings(tiers)
        return self

    def _validate_scorer_settings(self, tiers: TierConfig) -> None:
        """Build each metric's scorer without an engine: a bad setting fails here, before a model is loaded."""
        from verl_difficulty.scorers import ScorerConfigError, build_scorer

        for metric in self.metrics:
            try:
                build_scorer(metric, None, self.scorer_settings(metric), tiers=tiers)
            except (ScorerConfigError, TypeError, ValueError) as e:
                raise ConfigError(f"settings.{metric}: {e}") from e

    def scorer_settings(self, metric: str) -> dict[str, Any]:
        """The settings the scorer of ``metric`` is built with (its section, plus the run's seed and heat maps)."""
        settings = dict(self.settings.get(metric) or {})
        if metric == "cmab" and self.heatmaps:
            settings.setdefault("heatmaps", True)
        settings.setdefault("seed", self.seed)
        return settings

    def metric_plan(self, metric: str) -> dict:
        """What must match for a metric's finished shards to be reused on resume."""
        return {
            "model": self.model,
            "engine": self.engine,
            "engine_settings": self.engine_settings,
            "settings": self.settings.get(metric, {}),
            "tiers": TierConfig.from_dict(self.tiers).to_dict(),
            "seed": self.seed,
            "shard_size": self.shard_size,
            "heatmaps": self.heatmaps if metric == "cmab" else False,
        }

    def to_dict(self) -> dict:
        return asdict(self)


def parse_set_overrides(items: list[str]) -> dict[str, Any]:
    """``["pism.k=4", "engine_settings.dtype=bfloat16"]`` → nested dict (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (e.g. pism.k=4)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p} is already a value")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``update``, merging nested mappings instead of replacing them."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
