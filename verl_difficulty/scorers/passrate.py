"""Pass-rate: accuracy of N sampled answers per row (arXiv 2505.13261's offline difficulty prior).

Each row is asked ``n`` times (one request with ``n`` completions, seed from the sample id) and every answer is
judged by the verifier. ``score`` = correct / answers; the tier follows
:class:`~verl_difficulty.tiers.PassRateTiers` (unsolved < 0.1 ≤ hard < 0.5 ≤ mid ≤ 0.87 < easy);
``details`` = ``{"in_band": too_hard ≤ acc ≤ too_easy, "rollouts": answers judged}``.

Over the replay engine the answers are completions already logged by a verl run (``trainer.rollout_data_dir``
or ``validation_data_dir``); with ``allow_fewer`` on the replay engine a row with fewer logged answers than
``n`` is scored over those it has (``rollouts`` says how many). Rows without images are fine here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from verl_difficulty.difficulty import MetricRecord
from verl_difficulty.scorers.base import RowError, Scorer, ground_truth, judge, row_images, row_messages, sample_id
from verl_difficulty.scorers.common import (
    check_int,
    check_unknown,
    check_verify,
    describe_error,
    generate_isolated,
    parse_sampling_settings,
)


@dataclass(frozen=True)
class PassRateSettings:
    """Pass-rate settings.

    Attributes:
        n: answers per row (the paper samples each prompt N times; 8 = GRPO's group size here).
        temperature / top_p / top_k / max_new_tokens: sampling (temperature 1.0: the rollout temperature).
        seed: base seed; each row's seed also depends on its sample id.
        rows_per_call: rows sent to the engine per ``generate`` call (memory bound for many images).
        verify: verifier overrides (:class:`~verl_difficulty.verify.settings.VerifySettings` fields).
    """

    n: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 1024
    seed: int = 0
    rows_per_call: int = 256
    verify: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_passrate_settings(settings: Mapping[str, Any]) -> PassRateSettings:
    """Validate a settings mapping; errors name the field (``passrate.n: ...``)."""
    s = dict(settings)
    check_unknown("passrate", s, list(PassRateSettings.__dataclass_fields__))
    out: dict[str, Any] = {}
    if "n" in s:
        out["n"] = check_int("passrate.n", s["n"], 1)
    parse_sampling_settings("passrate", s, out)
    if "rows_per_call" in s:
        out["rows_per_call"] = check_int("passrate.rows_per_call", s["rows_per_call"], 1)
    return PassRateSettings(**out)


class PassRateScorer(Scorer):
    """Pass-rate over an engine (see the module docstring). ``settings``: :class:`PassRateSettings` fields."""

    metric = "passrate"

    def parse_settings(self, settings: dict[str, Any]) -> PassRateSettings:
        settings = parse_passrate_settings(settings)
        self._verify = check_verify("passrate.verify", settings.verify)
        return settings

    def estimate(self, num_rows: int) -> dict[str, Any]:
        return {"generations_max": num_rows * self.settings.n, "max_new_tokens": self.settings.max_new_tokens}

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[MetricRecord]:
        from tqdm.auto import tqdm

        from verl_difficulty.engines.base import GenerationRequest, SamplingSettings, request_seed

        s = self.settings
        sampling = SamplingSettings(
            temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, max_new_tokens=s.max_new_tokens
        )
        prov = self.provenance()
        records: list[MetricRecord | None] = [None] * len(rows)
        prepared: list[tuple[int, Any]] = []
        for i, row in enumerate(rows):
            try:
                sid = sample_id(row)
                req = GenerationRequest(
                    sample_id=sid,
                    messages=row_messages(row),
                    images=row_images(row),
                    sampling=sampling,
                    n=s.n,
                    seed=request_seed(s.seed, "passrate", sid),
                    meta={"metric": "passrate", "ground_truth": ground_truth(row)},
                )
                prepared.append((i, req))
            except RowError as e:
                records[i] = MetricRecord.failed(str(e), prov)
            except Exception as e:  # e.g. a placeholder / image count mismatch raised by the request
                records[i] = MetricRecord.failed(f"{type(e).__name__}: {e}", prov)
        bar = tqdm(total=len(rows), desc="passrate", unit="row", leave=False, disable=None)
        bar.update(len(rows) - len(prepared))
        for start in range(0, len(prepared), s.rows_per_call):
            chunk = prepared[start : start + s.rows_per_call]
            outputs = generate_isolated(self.engine, [req for _, req in chunk])
            for (i, _), out in zip(chunk, outputs):
                records[i] = self._record(rows[i], out, prov)
            bar.update(len(chunk))
        bar.close()
        return [r for r in records]  # type: ignore[misc]

    def _record(self, row: Mapping[str, Any], out: list[str] | Exception, prov: dict) -> MetricRecord:
        if isinstance(out, Exception):
            return MetricRecord.failed(describe_error(out), prov)
        if not out:
            return MetricRecord.failed("engine error: no completions returned", prov)
        correct = sum(int(judge(row, text, self._verify).get("acc", 0.0) >= 1.0) for text in out)
        acc = correct / len(out)
        tiers = self.tiers.passrate
        return MetricRecord(
            tier=tiers.tier(acc),
            score=acc,
            attempts=len(out),
            correct=correct,
            details={"in_band": tiers.in_band(acc), "rollouts": len(out)},
            provenance=prov,
        )
