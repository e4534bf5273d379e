"""``DifficultySampler``: draws training prompts by difficulty tier, with curricula and online updates.

Select it in any verl 0.9.1 GRPO script (the plug-in restores verl 0.7's ``data.sampler`` keys)::

    ++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler \\
    ++data.sampler.class_name=DifficultySampler \\
    ++data.difficulty.metric=pism ++data.difficulty.keep=[mid,hard]

How it draws. Every batch of ``data.train_batch_size`` draws is split between tiers by *mass*: with
``weight_mode=row`` (default) a tier's mass is its weight times its number of rows (so weights act per row,
like ``WeightedRandomSampler``); with ``weight_mode=tier`` it is the weight alone (weights are batch shares).
The split is exact: fractional shares are carried from batch to batch, so after ``k`` batches every tier has
had its share within one sample. Inside a tier, rows come from a shuffled queue that is reshuffled (new seed)
when it runs out, so a tier's rows are all drawn once before any is drawn again. With equal weights and no
curriculum an epoch is therefore one random permutation of the kept rows, as with verl's default sampler.

An epoch is ``data.difficulty.num_samples`` draws (default: the kept rows, rounded down to a multiple of the
batch size so batches line up with epochs). ``data.shuffle=false`` keeps dataset order inside tiers and
batches.

Curriculum stages (``data.difficulty.curriculum``) change the tier weights after a number of batches, a
fraction of an epoch, or once the running accuracy reaches a threshold. Online updates
(``data.difficulty.online``) take each step's per-sample accuracy (``acc`` in ``reward_extra_info``): the
running accuracy per tier is logged, and rows are moved to the pass-rate tier of their latest group
accuracy, so rows the policy has mastered (or cannot solve) stop being drawn when their new tier is not kept.
Accuracies arrive through :meth:`DifficultySampler.observe_batch`, called by
``DifficultyDataset.on_batch_end`` (legacy trainer) or ``DifficultyReplayBuffer`` (v1 trainer).

Everything that decides the next draws (queues, carried shares, curriculum position, online tiers, epoch) is
in :meth:`state_dict`, which torchdata's ``StatefulDataLoader`` saves in verl's ``data.pt``; resuming draws
the same batches as an uninterrupted run would from that state. Seeds come from
:func:`verl_difficulty.utils.stable_seed` (``data.difficulty.seed``, else ``data.seed``, else 0).
"""

from __future__ import annotations

import logging
import math
import weakref
import zlib
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from verl_difficulty.tiers import TIERS
from verl_difficulty.trainer.rows import (
    UNSCORED,
    DifficultyDataError,
    build_id_map,
    rows_from_fields,
    select_rows,
)
from verl_difficulty.trainer.settings import DifficultyConfigError, DifficultySettings, _get
from verl_difficulty.utils import stable_seed

logger = logging.getLogger(__name__)

__all__ = ["DifficultySampler", "active_sampler"]

N_TIERS = len(TIERS)
METRIC_PREFIX = "difficulty"

_ACTIVE: weakref.ref | None = None


def active_sampler() -> DifficultySampler | None:
    """The most recently built live :class:`DifficultySampler` of this process (the trainer's), if any."""
    return _ACTIVE() if _ACTIVE is not None else None


def _passrate_codes(acc: np.ndarray, thresholds) -> np.ndarray:
    """Vectorised :meth:`verl_difficulty.tiers.PassRateTiers.tier` as tier codes."""
    codes = np.full(acc.shape, TIERS.index("unsolved"), dtype=np.int8)
    codes[acc >= thresholds.too_hard] = TIERS.index("hard")
    codes[acc >= thresholds.hard_mid] = TIERS.index("mid")
    codes[acc > thresholds.too_easy] = TIERS.index("easy")
    return codes


class DifficultySampler(Sampler[int]):
    """Tier-weighted, curriculum-aware, resumable sampler over a scored verl dataset.

    Args:
        data_source: the training dataset (verl's ``RLHFDataset`` or a subclass); its ``dataframe`` must have
            the ``difficulty`` column written by ``verl-difficulty score``.
        data_config: verl's ``data`` config: ``train_batch_size``, ``shuffle``, ``seed`` and the
            ``difficulty`` block (:class:`~verl_difficulty.trainer.settings.DifficultySettings`).
        settings: parsed settings, to bypass ``data_config.difficulty``.
    """

    STATE_VERSION = 1

    def __init__(self, data_source: Any, data_config: Any, settings: DifficultySettings | None = None):
        global _ACTIVE
        self.data_source = data_source
        self.settings = settings if settings is not None else DifficultySettings.from_data_config(data_config)
        batch_size = _get(data_config, "train_batch_size")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DifficultyConfigError(f"data.train_batch_size: expected a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(_get(data_config, "shuffle", True))
        seed = self.settings.seed if self.settings.seed is not None else _get(data_config, "seed", 0)
        self.seed = int(seed)

        selection = select_rows(data_source, self.settings)
        self.metric = selection.metric
        self.num_rows = len(selection.codes)
        keep_codes = [TIERS.index(t) for t in self.settings.keep]
        # rows outside the kept tiers keep their tier (weight 0) so metrics and online updates can see them
        self._codes = selection.codes
        n_keep = int(selection.keep.sum())
        print(f"DifficultySampler: {selection.summary(self.settings.keep)}")
        if n_keep == 0:
            raise DifficultyDataError(
                f"data.difficulty.keep=[{', '.join(self.settings.keep)}]: no training row is in these {self.metric} "
                f"tiers (rows per tier: {selection.counts}); keep other tiers or score with other thresholds"
            )
        if self.settings.num_samples is not None:
            self.num_samples = self.settings.num_samples
        else:
            self.num_samples = (n_keep // self.batch_size) * self.batch_size
            if self.num_samples == 0:
                raise DifficultyConfigError(
                    f"data.train_batch_size={self.batch_size} is larger than the {n_keep} rows kept by "
                    f"data.difficulty.keep=[{', '.join(self.settings.keep)}]; lower the batch size, keep more tiers, "
                    "or set data.difficulty.num_samples"
                )
        self._fingerprint = {
            "rows": self.num_rows,
            "metric": self.metric,
            "tiers_crc32": zlib.crc32(selection.codes.tobytes()),
            "keep": list(self.settings.keep),
        }
        self._stage_weights = self._resolve_stage_weights()
        self._stage_steps = [self._stage_duration(s) for s in self.settings.curriculum]
        self._check_stages(keep_codes)
        self._id_map: dict[str, int] | None = None
        self._members: list[np.ndarray | None] = [None] * N_TIERS
        self._warned: set[str] = set()
        self._reset()

        attach = getattr(data_source, "attach_sampler", None)
        if callable(attach):
            attach(self)
        _ACTIVE = weakref.ref(self)

    # ------------------------------------------------------------------ configuration helpers

    def _resolve_stage_weights(self) -> list[np.ndarray]:
        base = self.settings.tier_weights()
        out = [np.array([base[t] for t in TIERS], dtype=np.float64)]
        for stage in self.settings.curriculum:
            out.append(np.array([stage.weights.get(t, 0.0) for t in TIERS], dtype=np.float64))
        return out  # [0] = no curriculum / fallback; [1 + i] = stage i

    def _stage_duration(self, stage) -> int | None:
        if stage.steps is not None:
            return stage.steps
        if stage.epochs is not None:
            return max(1, round(stage.epochs * self.num_samples / self.batch_size))
        return None

    def _check_stages(self, keep_codes: list[int]) -> None:
        counts = self._tier_counts()
        for i, stage in enumerate(self.settings.curriculum):
            weights = self._stage_weights[1 + i]
            if not (weights * counts).sum() > 0:
                tiers = ", ".join(t for t, w in stage.weights.items() if w > 0)
                raise DifficultyDataError(
                    f"data.difficulty.curriculum[{i}]: none of its tiers ({tiers}) has rows in the training data "
                    f"(rows per tier: {dict(zip(TIERS, counts.tolist()))})"
                )

    def _tier_counts(self) -> np.ndarray:
        codes = self._codes
        return np.bincount(codes[codes >= 0], minlength=N_TIERS).astype(np.int64)

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        self._epoch = 0
        self._drawn_in_epoch = 0
        self._chunks = 0
        self._pending = np.zeros(0, dtype=np.int64)
        self._pending_pos = 0
        self._credit = np.zeros(N_TIERS, dtype=np.float64)
        self._credit_mass: np.ndarray | None = None
        self._queues: list[np.ndarray | None] = [None] * N_TIERS
        self._qpos = [0] * N_TIERS
        self._qpass = [0] * N_TIERS
        self._counts = self._tier_counts()
        self._stage = 0
        self._stage_start = 0
        self._stage_acc = math.nan
        self._stage_batches = 0
        self._fallback = 0
        self._retiered_total = 0
        self._retiered = False
        self._tier_acc = np.full(N_TIERS, np.nan)
        self._updates = 0
        self._batches_seen = 0

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides the next draws (arrays are shared, never modified in place)."""
        return {
            "version": self.STATE_VERSION,
            "fingerprint": dict(self._fingerprint),
            "epoch": self._epoch,
            "drawn_in_epoch": self._drawn_in_epoch,
            "chunks": self._chunks,
            "pending": self._pending,
            "pending_pos": self._pending_pos,
            "credit": self._credit.copy(),
            "credit_mass": None if self._credit_mass is None else self._credit_mass.copy(),
            "queues": list(self._queues),
            "qpos": list(self._qpos),
            "qpass": list(self._qpass),
            "stage": self._stage,
            "stage_start": self._stage_start,
            "stage_acc": self._stage_acc,
            "stage_batches": self._stage_batches,
            "fallback": self._fallback,
            "codes": self._codes if self._retiered else None,
            "retiered_total": self._retiered_total,
            "tier_acc": self._tier_acc.copy(),
            "updates": self._updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the training data and tier settings must be the ones it was saved with."""
        if state.get("version") != self.STATE_VERSION:
            raise ValueError(f"DifficultySampler state version {state.get('version')!r} is not {self.STATE_VERSION}")
        saved = state.get("fingerprint") or {}
        if saved != self._fingerprint:
            raise ValueError(
                "DifficultySampler.load_state_dict: the checkpoint was saved for other training data or tier "
                f"settings (saved {saved}, now {self._fingerprint}); resume with the same data.train_files, "
                "data.difficulty.metric and data.difficulty.keep"
            )
        self._epoch = int(state["epoch"])
        self._drawn_in_epoch = int(state["drawn_in_epoch"])
        self._chunks = int(state["chunks"])
        self._pending = np.asarray(state["pending"], dtype=np.int64)
        self._pending_pos = int(state["pending_pos"])
        self._credit = np.asarray(state["credit"], dtype=np.float64).copy()
        cm = state.get("credit_mass")
        self._credit_mass = None if cm is None else np.asarray(cm, dtype=np.float64).copy()
        self._queues = [None if q is None else np.asarray(q) for q in state["queues"]]
        self._qpos = [int(p) for p in state["qpos"]]
        self._qpass = [int(p) for p in state["qpass"]]
        self._stage = int(state["stage"])
        self._stage_start = int(state["stage_start"])
        self._stage_acc = float(state["stage_acc"])
        self._stage_batches = int(state["stage_batches"])
        self._fallback = int(state["fallback"])
        codes = state.get("codes")
        if codes is not None:
            self._codes = np.asarray(codes, dtype=np.int8)
            self._retiered = True
        self._counts = self._tier_counts()
        self._members = [None] * N_TIERS
        self._retiered_total = int(state["retiered_total"])
        self._tier_acc = np.asarray(state["tier_acc"], dtype=np.float64).copy()
        self._updates = int(state["updates"])

    # ------------------------------------------------------------------ drawing

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        return self._generate()

    def _generate(self):
        # A generator: nothing runs (and no epoch starts) until the first index is requested.
        if self._drawn_in_epoch >= self.num_samples:
            self._epoch += 1
            self._drawn_in_epoch = 0
        pending = self._pending.tolist()
        while self._drawn_in_epoch < self.num_samples:
            if self._pending_pos >= len(pending):
                self._pending = self._next_chunk()
                self._pending_pos = 0
                pending = self._pending.tolist()
            index = pending[self._pending_pos]
            self._pending_pos += 1
            self._drawn_in_epoch += 1
            yield index

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def step(self) -> int:
        """Batches of ``train_batch_size`` drawn so far (the curriculum clock)."""
        return self._chunks

    def current_weights(self) -> np.ndarray:
        """Tier weights in force now (curriculum stage, or the global weights)."""
        return self._stage_weights[1 + self._stage] if self.settings.curriculum else self._stage_weights[0]

    def _mass(self, weights: np.ndarray) -> np.ndarray:
        counts = self._counts.astype(np.float64)
        if self.settings.weight_mode == "tier":
            return weights * (counts > 0)
        return weights * counts

    def target_shares(self) -> np.ndarray:
        """Each tier's expected share of the next batch."""
        mass = self._current_mass()
        return mass / mass.sum()

    def _current_mass(self) -> np.ndarray:
        mass = self._mass(self.current_weights())
        fallback = 0
        if not mass.sum() > 0 and self.settings.curriculum:
            mass, fallback = self._mass(self._stage_weights[0]), 1
        if not mass.sum() > 0:
            # online re-tiering moved every kept row out: draw from every row that has a tier
            mass, fallback = self._counts.astype(np.float64), 2
        if fallback != self._fallback:
            self._fallback = fallback
            if fallback:
                logger.warning(
                    "DifficultySampler: no rows left in the tiers to draw from (%s); falling back to %s",
                    dict(zip(TIERS, self._counts.tolist())),
                    "data.difficulty.keep" if fallback == 1 else "every scored row",
                )
        return mass

    def _advance_stage(self, step: int) -> None:
        stages = self.settings.curriculum
        while self._stage < len(stages) - 1:
            duration = self._stage_steps[self._stage]
            done = duration is not None and step - self._stage_start >= duration
            target = stages[self._stage].advance_acc
            if not done and target is not None and self._stage_batches > 0 and self._stage_acc >= target:
                done = True
            if not done:
                return
            self._stage += 1
            self._stage_start = step
            self._stage_acc = math.nan
            self._stage_batches = 0
            logger.info("DifficultySampler: curriculum stage %d starts at step %d", self._stage, step)

    def _allocate(self, mass: np.ndarray, n: int) -> np.ndarray:
        """Split ``n`` draws between tiers in proportion to ``mass``, carrying the fractional remainder."""
        total = mass.sum()
        active = mass > 0
        if self._credit_mass is None or not np.array_equal(mass, self._credit_mass):
            old_total = 0.0 if self._credit_mass is None else self._credit_mass.sum()
            frac = self._credit / old_total if old_total > 0 else np.zeros(N_TIERS)
            frac[~active] = 0.0
            frac[active] -= frac[active].sum() / active.sum()
            self._credit = frac * total
            self._credit_mass = mass.copy()
        credit = self._credit + n * mass
        counts = np.floor(credit / total)
        counts[~active] = 0
        counts = np.maximum(counts, 0)
        rest = credit - counts * total
        short = n - int(counts.sum())
        while short > 0:
            t = int(np.argmax(np.where(active, rest, -np.inf)))
            counts[t] += 1
            rest[t] -= total
            short -= 1
        while short < 0:
            t = int(np.argmin(np.where(counts > 0, rest, np.inf)))
            counts[t] -= 1
            rest[t] += total
            short += 1
        rest[~active] = 0.0
        self._credit = rest
        return counts.astype(np.int64)

    def _members_of(self, tier: int) -> np.ndarray:
        members = self._members[tier]
        if members is None:
            members = np.flatnonzero(self._codes == tier)
            members = members.astype(np.int32 if self.num_rows < 2**31 else np.int64)
            self._members[tier] = members
        return members

    def _new_pass(self, tier: int) -> None:
        members = self._members_of(tier)
        if self.shuffle:
            rng = np.random.default_rng(stable_seed(self.seed, "pass", tier, self._qpass[tier]))
            members = rng.permutation(members)
        self._queues[tier] = members
        self._qpos[tier] = 0
        self._qpass[tier] += 1

    def _take(self, tier: int, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            queue, pos = self._queues[tier], self._qpos[tier]
            if queue is None or pos >= len(queue):
                if len(self._members_of(tier)) == 0:
                    raise RuntimeError(f"DifficultySampler: tier {TIERS[tier]!r} has no rows to draw")  # unreachable
                self._new_pass(tier)
                continue
            seg = queue[pos : pos + n]
            self._qpos[tier] = pos + len(seg)
            if self._retiered:
                seg = seg[self._codes[seg] == tier]  # rows re-tiered since this pass began are skipped
            parts.append(seg)
            n -= len(seg)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _next_chunk(self) -> np.ndarray:
        """The next batch of ``train_batch_size`` draws."""
        step = self._chunks
        if self.settings.curriculum:
            self._advance_stage(step)
        counts = self._allocate(self._current_mass(), self.batch_size)
        chunk = np.concatenate([self._take(t, int(k)) for t, k in enumerate(counts) if k > 0]).astype(np.int64)
        if self.shuffle:
            chunk = np.random.default_rng(stable_seed(self.seed, "batch", step)).permutation(chunk)
        else:
            chunk = np.sort(chunk)
        self._chunks += 1
        return chunk

    # ------------------------------------------------------------------ online updates and metrics

    def tier_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Current tier code of each row (-1 for rows outside the dataset or without a tier)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape, UNSCORED, dtype=np.int8)
        ok = (rows >= 0) & (rows < self.num_rows)
        out[ok] = self._codes[rows[ok]]
        return out

    def rows_of(self, fields: dict[str, Any], n: int | None = None) -> np.ndarray:
        """Dataset rows of a batch's samples, from its non-tensor fields (see :mod:`verl_difficulty.trainer.rows`)."""
        rows = rows_from_fields(fields, None, n)
        if (rows < 0).any():
            if self._id_map is None:
                self._id_map = build_id_map(self.data_source)
            rows = rows_from_fields(fields, self._id_map, n)
        return rows

    def accuracy_of(self, fields: dict[str, Any], scores: Any = None) -> np.ndarray | None:
        """Per-response accuracy: the ``online.key`` field (``acc``), else ``scores`` clipped to [0, 1]."""
        key = self.settings.online.key
        if key in fields:
            return np.asarray(list(fields[key]), dtype=np.float64)
        if scores is not None:
            self._warn_once(
                "no-acc",
                f"the batch has no '{key}' (reward_extra_info); using the sequence reward clipped to [0, 1] as "
                "accuracy. Use reward.reward_manager.name=difficulty, or set data.difficulty.online.key",
            )
            return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
        return None

    def observe_batch(self, batch: Any, *, update: bool = True) -> dict[str, float]:
        """Metrics for a trained batch and (``update``) the online update from its accuracies.

        ``batch`` is a verl ``DataProto`` (legacy trainer: what ``on_batch_end`` receives) or a mapping of
        per-response fields (``extra_info`` / ``index`` and ``acc``).
        """
        fields, scores = _batch_fields(batch)
        n = _length(fields, scores)
        if not n:
            return {}
        acc = self.accuracy_of(fields, scores)
        rows = self.rows_of(fields, n)
        if acc is None:
            self._warn_once("no-acc-at-all", "the batch has neither accuracies nor rewards; no online update")
            acc = np.full(n, np.nan)
        return self.observe(rows, acc, update=update)

    def observe(self, rows: Any, acc: Any, *, update: bool = True) -> dict[str, float]:
        """Per-response ``rows`` and accuracies ``acc`` of one training batch -> metrics; updates online state.

        The batch metrics use each row's tier *before* this batch's update: ``difficulty/batch_share/<tier>``
        (share of the batch's prompts), ``difficulty/batch_acc/<tier>`` (mean accuracy of its responses).
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        acc = np.asarray(acc, dtype=np.float64).reshape(-1)
        if len(rows) != len(acc):
            raise ValueError(f"rows ({len(rows)}) and acc ({len(acc)}) differ in length")
        self._batches_seen += 1
        matched = (rows >= 0) & (rows < self.num_rows)
        metrics: dict[str, float] = {f"{METRIC_PREFIX}/unmatched": float((~matched).sum())}
        if (~matched).any():
            self._warn_once(
                "unmatched",
                f"{int((~matched).sum())} of {len(rows)} responses could not be matched to a training row "
                "(use data.custom_cls=DifficultyDataset, which tags each row)",
            )
        uniq, inv = np.unique(rows[matched], return_inverse=True)
        a = acc[matched]
        finite = np.isfinite(a)
        cnt = np.bincount(inv[finite], minlength=len(uniq)).astype(np.float64)
        sums = np.bincount(inv[finite], weights=a[finite], minlength=len(uniq))
        tiers = self._codes[uniq] if len(uniq) else np.zeros(0, dtype=np.int8)
        for t, name in enumerate(TIERS):
            sel = tiers == t
            if len(uniq):
                metrics[f"{METRIC_PREFIX}/batch_share/{name}"] = float(sel.sum() / len(uniq))
            if cnt[sel].sum() > 0:
                metrics[f"{METRIC_PREFIX}/batch_acc/{name}"] = float(sums[sel].sum() / cnt[sel].sum())

        if update and self.settings.online.enable and cnt.sum() > 0:
            self._update(uniq, tiers, sums, cnt)
        elif self.settings.online.enable and not update and self._batches_seen >= 3 and self._updates == 0:
            self._warn_once(
                "no-updates",
                "data.difficulty.online=true but no accuracies have reached the sampler: with the legacy trainer "
                "(trainer.use_v1=False) set data.custom_cls to DifficultyDataset (verl calls its on_batch_end); "
                "with the v1 trainer set trainer.v1.sampler.custom_sampler to DifficultyReplayBuffer",
            )
        metrics.update(self.state_metrics())
        return metrics

    def _update(self, rows: np.ndarray, tiers: np.ndarray, sums: np.ndarray, cnt: np.ndarray) -> None:
        online = self.settings.online
        alpha = online.ema
        seen = cnt > 0
        for t in range(N_TIERS):
            sel = seen & (tiers == t)
            if sel.any():
                mean = sums[sel].sum() / cnt[sel].sum()
                old = self._tier_acc[t]
                self._tier_acc[t] = mean if math.isnan(old) else (1 - alpha) * old + alpha * mean
        batch_mean = sums[seen].sum() / cnt[seen].sum()
        self._stage_acc = (
            batch_mean if math.isnan(self._stage_acc) else (1 - alpha) * self._stage_acc + alpha * batch_mean
        )
        self._stage_batches += 1
        self._updates += 1
        if not online.retier:
            return
        eligible = seen & (cnt >= online.min_rollouts) & (tiers >= 0)
        if not eligible.any():
            return
        new = _passrate_codes(sums[eligible] / cnt[eligible], self.settings.tiers.passrate)
        changed = new != tiers[eligible]
        if not changed.any():
            return
        moved_rows = rows[eligible][changed]
        codes = self._codes.copy()  # copy-on-write: saved states keep sharing the old array
        codes[moved_rows] = new[changed]
        for t in set(tiers[eligible][changed].tolist()) | set(new[changed].tolist()):
            self._members[t] = None
        self._codes = codes
        self._counts = self._tier_counts()
        self._retiered = True
        self._retiered_total += int(changed.sum())

    def state_metrics(self) -> dict[str, float]:
        """Sampler-level metrics: rows per tier, target shares, curriculum stage, running accuracy per tier."""
        out: dict[str, float] = {}
        shares = self.target_shares()
        for t, name in enumerate(TIERS):
            out[f"{METRIC_PREFIX}/pool/{name}"] = float(self._counts[t])
            out[f"{METRIC_PREFIX}/target_share/{name}"] = float(shares[t])
            if not math.isnan(self._tier_acc[t]):
                out[f"{METRIC_PREFIX}/acc_ema/{name}"] = float(self._tier_acc[t])
        out[f"{METRIC_PREFIX}/epoch"] = float(self._epoch)
        if self.settings.curriculum:
            out[f"{METRIC_PREFIX}/stage"] = float(self._stage)
        if self.settings.online.enable:
            out[f"{METRIC_PREFIX}/retiered"] = float(self._retiered_total)
        return out

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("DifficultySampler: %s", message)


def _batch_fields(batch: Any) -> tuple[dict[str, Any], Any]:
    """(non-tensor fields, per-response sequence reward or None) of a DataProto or a mapping."""
    non_tensor = getattr(batch, "non_tensor_batch", None)
    if non_tensor is not None:
        tensors = getattr(batch, "batch", None)
        scores = None
        if tensors is not None:
            for key in ("token_level_scores", "rm_scores", "token_level_rewards"):
                if key in tensors.keys():
                    scores = tensors[key].sum(dim=-1).detach().cpu().numpy()
                    break
        return dict(non_tensor), scores
    if isinstance(batch, dict):
        return batch, batch.get("score")
    raise TypeError(f"expected a verl DataProto or a dict of fields, got {type(batch).__name__}")


def _length(fields: dict[str, Any], scores: Any) -> int:
    for key in ("extra_info", "index", "uid"):
        if key in fields and fields[key] is not None:
            return len(fields[key])
    return len(scores) if scores is not None else 0
