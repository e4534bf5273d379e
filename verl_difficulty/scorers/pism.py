"""PISM: progressive image masking. The breaking mask ratio λ* of each row, and its tier.

For each mask ratio λ in ``ratios`` the model answers the row up to ``k`` times, each attempt with a fresh mask
(:func:`~verl_difficulty.scorers.masks.mask_seed` of (sample id, λ, attempt, seed)) and a sampling seed from the
same tuple. Pc(λ) = correct / k; λ* = min{λ : Pc(λ) < τ}; 1.0 when no tested ratio fails. The tier follows
:class:`~verl_difficulty.tiers.PISMTiers` (unsolved: λ* = 0; hard ≤ 0.4; easy ≥ 0.7; mid between).

A ratio is decided as soon as its outcome is certain: *passed* once ``ceil(τ·k)`` attempts are correct,
*failed* once so many are wrong that the rest cannot get there. With the paper's τ = 0.1, k = 10 this is the
released code's "stop at the first correct answer"; it never changes a decision.

Strategies (``strategy``):

``full`` (default)
    Ratios in increasing order; a row stops at its first failing ratio. Exact λ*.
``tiers``
    As ``full``, but a row also stops as soon as its tier is certain: when every λ* still possible (the untested
    ratios, or "never fails") gives the same tier. A row surviving every ratio below λ_easy is easy without
    testing further. ``score`` is then ``None`` and ``details.lambda_star_bounds`` = [smallest untested ratio,
    None] (None: may never fail).
``reference``
    The released code's protocol: every ratio tested independently (k attempts each with the early stop), no
    stop at the first failing ratio. λ* = the smallest failing ratio; ``details.non_monotone_ratios`` lists
    ratios above λ* that passed. The most generations; the ground truth for the other two.

Because every (sample, ratio, attempt) has its own mask and seed, the three strategies see identical outcomes for
the attempts they share, so ``full`` and ``tiers`` give exactly the λ* / tier of ``reference``.

Work is batched in *rounds*: each round sends the next ``attempts_per_round`` attempts of every undecided
(row, ratio) to the engine, in ``generate`` calls of at most ``requests_per_call`` requests. With 1 attempt per
round (default) no generation is spent past a decision; larger values give bigger batches (useful with vLLM
when few rows remain) at the cost of attempts generated after the decision, which are not counted in
``ratios`` and are reported in ``details.generations_past_decision``.

Rows with several images: every image is masked at the same ratio, each with its own placement
(seed ``mask_seed(...)`` for the first image, ``stable_seed(mask_seed(...), i)`` for image ``i``). Rows without
images cannot be masked and get a failed record saying so. A row whose image cannot be decoded, that has no
ground truth, or whose generation fails gets a failed record; the others are scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from verl_difficulty.difficulty import MetricRecord, RatioOutcome
from verl_difficulty.scorers.base import (
    RowError,
    Scorer,
    ScorerConfigError,
    ground_truth,
    judge,
    row_images,
    row_messages,
    sample_id,
)
from verl_difficulty.scorers.common import (
    check_choice,
    check_float,
    check_int,
    check_unknown,
    check_verify,
    describe_error,
    generate_isolated,
    parse_sampling_settings,
)
from verl_difficulty.scorers.masks import MASK_MODES

STRATEGIES = ("full", "tiers", "reference")
DEFAULT_RATIOS = tuple(round(0.1 * i, 1) for i in range(10))


@dataclass(frozen=True)
class PISMSettings:
    """PISM settings (defaults: the paper / released code).

    Attributes:
        ratios: mask ratios to test, strictly increasing, starting at 0.0 (the unmasked image decides
            "unsolved"), each < 1.
        k: attempts per ratio (K).
        tau: a ratio fails when fewer than τ·k attempts are correct (Pc < τ).
        temperature / top_p / top_k / max_new_tokens: sampling of every attempt.
        mask: ``rectangle`` (released code), ``pixels`` (paper text) or ``patch`` (``patch_size`` grid cells).
        patch_size: cell size in pixels for ``mask: patch``.
        strategy: ``full``, ``tiers`` or ``reference`` (module docstring).
        attempts_per_round: attempts of each undecided (row, ratio) per round.
        requests_per_call: most requests (masked images held in memory) per ``engine.generate`` call; a round
            with more is sent in several calls.
        seed: base seed; every mask and sampling seed also depends on the sample id, ratio and attempt.
        verify: verifier overrides (:class:`~verl_difficulty.verify.settings.VerifySettings` fields).
    """

    ratios: tuple[float, ...] = DEFAULT_RATIOS
    k: int = 10
    tau: float = 0.1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 1024
    mask: str = "rectangle"
    patch_size: int = 28
    strategy: str = "full"
    attempts_per_round: int = 1
    requests_per_call: int = 256
    seed: int = 0
    verify: dict = field(default_factory=dict)

    @property
    def needed(self) -> int:
        """Correct attempts a ratio needs to pass: the smallest c with c / k ≥ τ."""
        return max(1, math.ceil(self.tau * self.k - 1e-9))

    def sampling(self):
        from verl_difficulty.engines.base import SamplingSettings

        return SamplingSettings(
            temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, max_new_tokens=self.max_new_tokens
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ratios": list(self.ratios)}


def parse_pism_settings(settings: Mapping[str, Any]) -> PISMSettings:
    """Validate a settings mapping (YAML ``settings.pism`` / ``--set pism.k=4``); errors name the field."""
    s = dict(settings)
    check_unknown("pism", s, list(PISMSettings.__dataclass_fields__))
    out: dict[str, Any] = {}
    if "ratios" in s:
        ratios = s["ratios"]
        if isinstance(ratios, str) or not isinstance(ratios, Sequence) or not ratios:
            raise ScorerConfigError(f"pism.ratios: expected a non-empty list of numbers, got {ratios!r}")
        values = tuple(round(check_float("pism.ratios", r, 0.0, 1.0), 6) for r in ratios)
        if values[0] != 0.0:
            raise ScorerConfigError(
                f"pism.ratios: must start with 0.0 (the unmasked image decides 'unsolved'), got {list(values)}"
            )
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ScorerConfigError(f"pism.ratios: must be strictly increasing, got {list(values)}")
        if values[-1] >= 1.0:
            raise ScorerConfigError(f"pism.ratios: every ratio must be < 1 (1.0 means 'never failed'), got {values}")
        out["ratios"] = values
    if "k" in s:
        out["k"] = check_int("pism.k", s["k"], 1)
    if "tau" in s:
        out["tau"] = check_float("pism.tau", s["tau"], 0.0, 1.0, lo_open=True)
    parse_sampling_settings("pism", s, out)
    if "mask" in s:
        out["mask"] = check_choice("pism.mask", s["mask"], MASK_MODES)
    if "patch_size" in s:
        out["patch_size"] = check_int("pism.patch_size", s["patch_size"], 1)
    if "strategy" in s:
        out["strategy"] = check_choice("pism.strategy", s["strategy"], STRATEGIES)
    if "attempts_per_round" in s:
        out["attempts_per_round"] = check_int("pism.attempts_per_round", s["attempts_per_round"], 1)
    if "requests_per_call" in s:
        out["requests_per_call"] = check_int("pism.requests_per_call", s["requests_per_call"], 1)
    return PISMSettings(**out)


@dataclass
class _Slot:
    """One (row, ratio) under test."""

    ratio: float
    attempts: int = 0  # attempts that count (before the decision)
    correct: int = 0
    next_attempt: int = 0  # next attempt index to schedule
    result: str | None = None  # "passed" | "failed"


@dataclass
class _Row:
    index: int
    sid: str
    row: Mapping[str, Any]
    messages: list[dict]
    images: list
    gt: str
    pending: list[float]  # ratios not yet started (increasing)
    slots: list[_Slot] = field(default_factory=list)  # active slots
    done: list[_Slot] = field(default_factory=list)
    generations: int = 0
    past_decision: int = 0
    finished: bool = False
    error: str | None = None


class PISMScorer(Scorer):
    """PISM over an engine (see the module docstring). ``settings``: :class:`PISMSettings` fields."""

    metric = "pism"

    def parse_settings(self, settings: dict[str, Any]) -> PISMSettings:
        settings = parse_pism_settings(settings)
        self._verify = check_verify("pism.verify", settings.verify)
        return settings

    # -- the cost ------------------------------------------------------------------------------------------------

    def estimate(self, num_rows: int) -> dict[str, Any]:
        s = self.settings
        per_round = num_rows * s.attempts_per_round * (len(s.ratios) if s.strategy == "reference" else 1)
        return {
            "generations_max": num_rows * len(s.ratios) * s.k,
            "requests_per_round_max": per_round,
            "max_new_tokens": s.max_new_tokens,
        }

    # -- scoring -------------------------------------------------------------------------------------------------

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[MetricRecord]:
        from tqdm.auto import tqdm

        s = self.settings
        records: list[MetricRecord | None] = [None] * len(rows)
        states: list[_Row] = []
        for i, row in enumerate(rows):
            try:
                states.append(self._prepare(i, row))
            except RowError as e:
                records[i] = MetricRecord.failed(str(e), self.provenance())
        for st in states:
            self._advance(st)
        bar = tqdm(total=len(rows), desc="pism", unit="row", leave=False, disable=None)
        bar.update(len(rows) - len(states) + sum(st.finished for st in states))
        sampling = s.sampling()
        while True:
            active = [st for st in states if not st.finished]
            if not active:
                break
            schedule: list[tuple[_Row, _Slot, int]] = []
            for st in active:
                for slot in st.slots:
                    last = min(s.k, slot.next_attempt + s.attempts_per_round)
                    schedule.extend((st, slot, attempt) for attempt in range(slot.next_attempt, last))
                    slot.next_attempt = last
            # masked images exist only for one call's requests at a time (memory), in schedule order
            for start in range(0, len(schedule), s.requests_per_call):
                self._run_chunk(schedule[start : start + s.requests_per_call], sampling)
            newly = 0
            for st in active:
                if st.error is not None:
                    st.finished = True
                else:
                    self._advance(st)
                newly += st.finished
            bar.update(newly)
        bar.close()
        for st in states:
            records[st.index] = self._record(st)
        return [r for r in records]  # type: ignore[misc]

    def _run_chunk(self, chunk: list[tuple[_Row, _Slot, int]], sampling) -> None:
        """Mask, generate and judge one call's attempts; update the slots in attempt order."""
        s = self.settings
        batch, requests = [], []
        for st, slot, attempt in chunk:
            if st.error is not None:
                continue
            try:
                requests.append(self._request(st, slot.ratio, attempt, sampling))
            except Exception as e:  # a mask that cannot be drawn fails the row, not the batch
                st.error = f"mask error at ratio {slot.ratio}: {type(e).__name__}: {e}"
                continue
            batch.append((st, slot))
        outputs = generate_isolated(self.engine, requests)
        del requests
        for (st, slot), out in zip(batch, outputs):
            st.generations += 1
            if st.error is not None:
                continue
            if isinstance(out, Exception):
                st.error = describe_error(out)
                continue
            if slot.result is not None:  # decided earlier in this round: generated past the decision
                st.past_decision += 1
                continue
            slot.attempts += 1
            slot.correct += int(judge(st.row, out[0], self._verify).get("acc", 0.0) >= 1.0)
            if slot.correct >= s.needed:
                slot.result = "passed"
            elif slot.correct + (s.k - slot.attempts) < s.needed:
                slot.result = "failed"

    def _prepare(self, index: int, row: Mapping[str, Any]) -> _Row:
        sid = sample_id(row)
        gt = ground_truth(row)
        messages = row_messages(row)
        images = row_images(row)
        if not images:
            raise RowError("no image: PISM masks the row's images and this row has none")
        from verl_difficulty.engines.base import count_image_placeholders

        placeholders = count_image_placeholders(messages)
        if placeholders != len(images):
            raise RowError(f"placeholder mismatch: {placeholders} '<image>' in the prompt, {len(images)} image(s)")
        return _Row(index, sid, row, messages, images, gt, pending=list(self.settings.ratios))

    def _request(self, st: _Row, ratio: float, attempt: int, sampling):
        from verl_difficulty.engines.base import GenerationRequest, request_seed
        from verl_difficulty.scorers.masks import apply_mask, mask_seed
        from verl_difficulty.utils import stable_seed

        s = self.settings
        base = mask_seed(st.sid, ratio, attempt, s.seed)
        images = [
            apply_mask(img, ratio, mode=s.mask, seed=base if i == 0 else stable_seed(base, i), patch_size=s.patch_size)
            for i, img in enumerate(st.images)
        ]
        return GenerationRequest(
            sample_id=st.sid,
            messages=st.messages,
            images=images,
            sampling=sampling,
            n=1,
            seed=request_seed(s.seed, "pism", st.sid, round(float(ratio), 6), attempt),
            meta={"metric": "pism", "ratio": ratio, "attempt": attempt, "ground_truth": st.gt},
        )

    def _advance(self, st: _Row) -> None:
        """Move decided slots to ``done`` and open the next ratio(s) or finish the row, per the strategy."""
        strategy = self.settings.strategy
        for slot in [x for x in st.slots if x.result is not None]:
            st.slots.remove(slot)
            st.done.append(slot)
        if strategy == "reference":
            if not st.done and not st.slots:  # first call: every ratio at once
                st.slots = [_Slot(r) for r in st.pending]
                st.pending = []
            st.finished = not st.slots
            return
        if st.slots:
            return
        if any(x.result == "failed" for x in st.done) or not st.pending:
            st.finished = True
            return
        if strategy == "tiers" and st.done and self._tier_certain(st.pending):
            st.finished = True
            return
        st.slots = [_Slot(st.pending.pop(0))]

    def _tier_certain(self, pending: Sequence[float]) -> bool:
        tiers = self.tiers.pism
        return len({tiers.tier(v) for v in (*pending, 1.0)}) == 1

    def _record(self, st: _Row) -> MetricRecord:
        s = self.settings
        prov = self.provenance()
        if st.error is not None:
            return MetricRecord.failed(st.error, prov)
        done = sorted(st.done, key=lambda x: x.ratio)
        failed = [x.ratio for x in done if x.result == "failed"]
        details: dict[str, Any] = {"mask": s.mask, "images": len(st.images)}
        if failed or not st.pending:
            lam = failed[0] if failed else 1.0
            score: float | None = lam
            tier = self.tiers.pism.tier(lam)
            details["strategy"] = "exact"
            details["lambda_star_bounds"] = [lam, lam]
        else:  # tiers mode stopped early: the tier is certain, λ* is not
            score = None
            tier = self.tiers.pism.tier(st.pending[0])
            details["strategy"] = "tiers"
            details["lambda_star_bounds"] = [st.pending[0], None]
        if s.strategy == "reference" and failed:
            details["non_monotone_ratios"] = [x.ratio for x in done if x.ratio > failed[0] and x.result == "passed"]
        if st.past_decision:
            details["generations_past_decision"] = st.past_decision
        ratios = [RatioOutcome(x.ratio, x.attempts, x.correct) for x in done]
        return MetricRecord(
            tier=tier,
            score=score,
            attempts=st.generations,
            correct=sum(x.correct for x in done),
            ratios=ratios,
            details=details,
            provenance=prov,
        )
