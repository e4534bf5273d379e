"""Run scorers over a dataset: one code path from an in-process loop to Ray Data across nodes.

Work is cut into shards of ``shard_size`` input rows per metric (:mod:`.shards`). The same
:class:`ShardWorker` scores a shard whether it runs in this process or as a Ray Data actor holding one
engine (one GPU) on any node; every shard is written atomically by whoever scored it, and the driver only
tracks progress. Because each row's masks and sampling seeds derive from its sample id, the output does not
depend on the execution path, the number of workers or the shard size.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_difficulty.pipeline.config import ScoreConfig
from verl_difficulty.pipeline.shards import (
    ShardSpec,
    plan_shards,
    read_metric_records,
    reconcile_manifest,
    shard_is_complete,
    write_shard,
)
from verl_difficulty.pipeline.source import RowSource

logger = logging.getLogger(__name__)


def _with_sample_id(row: dict, row_number: int) -> dict:
    """Rows without ``extra_info.index`` get ``row-<n>`` (stable for the same input) so seeds are defined."""
    info = row.get("extra_info")
    if not isinstance(info, dict):
        info = {}
        row["extra_info"] = info
    if info.get("index") in (None, ""):
        info["index"] = f"row-{row_number}"
    return row


def build_engine_from_config(cfg: ScoreConfig):
    from verl_difficulty.engines import build_engine

    return build_engine(cfg.engine, cfg.model, **dict(cfg.engine_settings))


def build_scorer_from_config(cfg: ScoreConfig, metric: str, engine):
    from verl_difficulty.scorers import build_scorer
    from verl_difficulty.tiers import TierConfig

    return build_scorer(metric, engine, cfg.scorer_settings(metric), tiers=TierConfig.from_dict(cfg.tiers))


@dataclass
class ShardResult:
    metric: str
    shard_id: int
    rows: int
    failed: int
    tiers: dict[str, int]
    attempts: int
    seconds: float
    errors: dict[str, int] = field(default_factory=dict)


class ShardWorker:
    """Holds one engine and one scorer per metric; scores shards and writes them.

    Used directly by the in-process loop and as the callable class of Ray Data's ``map_batches``.
    """

    def __init__(self, config: dict, out_dir: str, data: list[str]):
        self.cfg = ScoreConfig.from_dict(config)
        self.out_dir = out_dir
        self.source = RowSource(data)
        self.engine = None
        self.scorers: dict[str, Any] = {}

    def _scorer(self, metric: str):
        if metric not in self.scorers:
            if self.engine is None:
                self.engine = build_engine_from_config(self.cfg)
            self.scorers[metric] = build_scorer_from_config(self.cfg, metric, self.engine)
        return self.scorers[metric]

    def score_shard(self, spec: ShardSpec) -> ShardResult:
        from verl_difficulty.difficulty import MetricRecord

        t0 = time.perf_counter()
        scorer = self._scorer(spec.metric)
        rows = [_with_sample_id(r, spec.start + i) for i, r in enumerate(self.source.read_rows(spec.start, spec.end))]
        ids = [str(r["extra_info"]["index"]) for r in rows]
        try:
            records = list(scorer.score_rows(rows))
            if len(records) != len(rows):
                raise RuntimeError(f"scorer returned {len(records)} records for {len(rows)} rows")
        except Exception as shard_error:  # an engine failure: isolate the rows that really fail
            logger.warning(
                "shard %s/%d failed as a whole (%s); scoring row by row", spec.metric, spec.shard_id, shard_error
            )
            records = []
            for row in rows:
                try:
                    (rec,) = scorer.score_rows([row])
                except Exception as e:
                    rec = MetricRecord.failed(f"engine error: {type(e).__name__}: {e}", scorer.provenance())
                records.append(rec)
        write_shard(self.out_dir, spec, list(range(spec.start, spec.end)), ids, records)
        tiers = Counter(r.tier for r in records if r.tier is not None)
        errors = Counter((r.error or "").split(":")[0] for r in records if r.tier is None)
        return ShardResult(
            metric=spec.metric,
            shard_id=spec.shard_id,
            rows=len(records),
            failed=sum(1 for r in records if r.tier is None),
            tiers=dict(tiers),
            attempts=sum(int(r.attempts or 0) for r in records),
            seconds=time.perf_counter() - t0,
            errors=dict(errors),
        )

    def __call__(self, batch: dict) -> dict:
        """Ray Data entry point: a batch of shard specs in, one stats row per shard out."""
        out: dict[str, list] = {"result": []}
        n = len(batch["shard_id"])
        for i in range(n):
            spec = ShardSpec(
                str(batch["metric"][i]), int(batch["shard_id"][i]), int(batch["start"][i]), int(batch["end"][i])
            )
            out["result"].append(json.dumps(self.score_shard(spec).__dict__))
        return out

    def close(self):
        if self.engine is not None and hasattr(self.engine, "close"):
            self.engine.close()


@dataclass
class RunSummary:
    out_dir: str
    scored_path: str | None
    rows: int
    metrics: dict[str, dict]
    seconds: float
    shards_run: int
    shards_skipped: int

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def plan_run(cfg: ScoreConfig) -> tuple[RowSource, dict[str, list[ShardSpec]], int]:
    source = RowSource(cfg.data)
    n = min(len(source), cfg.limit) if cfg.limit else len(source)
    specs = {m: plan_shards(m, n, cfg.shard_size) for m in cfg.metrics}
    return source, specs, n


def describe_plan(cfg: ScoreConfig) -> str:
    """The ``--dry-run`` text: inputs, shards done and pending, and the generation budget per metric."""
    source, specs, n = plan_run(cfg)
    lines = [f"input: {len(source)} rows in {len(source.files)} file(s); scoring {n} row(s)"]
    for f in source.files:
        lines.append(f"  {f.path} ({f.num_rows} rows, {f.size / 1e6:.1f} MB)")
    lines.append(f"model: {cfg.model}  engine: {cfg.engine} {cfg.engine_settings or ''}")
    where = "in-process loop" if cfg.ray is None else f"Ray Data ({cfg.ray}), {cfg.num_workers} worker(s)"
    lines.append(f"execution: {where}; shard size {cfg.shard_size}; output {cfg.out}")
    for metric, metric_specs in specs.items():
        done = [s for s in metric_specs if shard_is_complete(cfg.out, s)] if Path(cfg.out).exists() else []
        pending_rows = sum(s.num_rows for s in metric_specs) - sum(s.num_rows for s in done)
        line = f"{metric}: {len(metric_specs)} shard(s), {len(done)} done, {pending_rows} row(s) to score"
        try:
            estimate = build_scorer_from_config(cfg, metric, None).estimate(pending_rows)
            line += "; cost " + ", ".join(f"{k}={v}" for k, v in estimate.items())
        except Exception as e:  # the estimate is advisory
            line += f"; cost estimate unavailable ({e})"
        lines.append(line)
    return "\n".join(lines)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", disable=not enabled, dynamic_ncols=True, file=sys.stderr)


def run_scoring(cfg: ScoreConfig) -> RunSummary:
    """Score every metric of ``cfg`` over its input, resuming finished shards, and assemble the output."""
    cfg.validate()
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    source, specs, n = plan_run(cfg)
    reconcile_manifest(
        out,
        {"input": source.fingerprint(), "metrics": {m: cfg.metric_plan(m) for m in cfg.metrics}},
        overwrite=cfg.overwrite,
    )
    pending = [s for m in cfg.metrics for s in specs[m] if not shard_is_complete(out, s)]
    skipped = sum(len(v) for v in specs.values()) - len(pending)
    if skipped:
        print(f"[score] resuming: {skipped} finished shard(s) kept, {len(pending)} to run", file=sys.stderr)
    results: list[ShardResult] = []
    bar = _progress(sum(s.num_rows for s in pending), "score " + "+".join(cfg.metrics), cfg.progress)
    failed = 0
    try:
        if not pending:
            pass
        elif cfg.ray is None:
            worker = ShardWorker(cfg.to_dict(), str(out), list(cfg.data))
            try:
                for spec in pending:
                    res = worker.score_shard(spec)
                    results.append(res)
                    failed += res.failed
                    bar.update(res.rows)
                    bar.set_postfix(failed=failed, shard=f"{spec.metric}/{spec.shard_id}")
            finally:
                worker.close()
        else:
            for res in _run_on_ray(cfg, pending, str(out)):
                results.append(res)
                failed += res.failed
                bar.update(res.rows)
                bar.set_postfix(failed=failed)
    except KeyboardInterrupt:
        bar.close()
        print(f"\n[score] interrupted; finished shards are saved in {out}. Re-run the same command to resume.")
        raise
    bar.close()
    scored = assemble_output(cfg, source, specs, n)
    summary = summarize(cfg, out, specs, n, scored, time.perf_counter() - t0, len(pending), skipped)
    return summary


def _run_on_ray(cfg: ScoreConfig, pending: list[ShardSpec], out_dir: str):
    import ray

    if not ray.is_initialized():
        address = None if cfg.ray in ("local", "") else cfg.ray
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    gpus = cfg.gpus_per_worker
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    items = [s.to_dict() for s in pending]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * cfg.num_workers)))
    mapped = ds.map_batches(
        ShardWorker,
        fn_constructor_kwargs={"config": cfg.to_dict(), "out_dir": out_dir, "data": list(cfg.data)},
        batch_size=1,
        concurrency=cfg.num_workers,
        num_gpus=gpus,
        num_cpus=0 if gpus else 1,
    )
    for row in mapped.iter_rows():
        yield ShardResult(**json.loads(row["result"]))


def assemble_output(cfg: ScoreConfig, source: RowSource, specs: dict[str, list[ShardSpec]], n: int) -> Path:
    """Write ``OUT/scored.parquet``: input rows in order + the merged ``difficulty`` column (streamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.difficulty import COLUMN, difficulty_arrow_type
    from verl_difficulty.tiers import METRICS

    out = Path(cfg.out)
    records = {m: read_metric_records(out, specs[m]) for m in cfg.metrics}
    missing = {m: sum(1 for r in recs if r is None) for m, recs in records.items()}
    if any(missing.values()):
        raise RuntimeError(f"cannot assemble {out}: rows without a result {missing}")
    dtype = difficulty_arrow_type()
    final = out / "scored.parquet"
    tmp = out / ".scored.parquet.tmp"
    writer = None
    try:
        for start, table in source.iter_tables():
            if start >= n:
                break
            table = table.slice(0, n - start)
            existing = table.column(COLUMN).to_pylist() if COLUMN in table.column_names else [None] * len(table)
            values = []
            for i, old in enumerate(existing):
                value = {m: (old or {}).get(m) for m in METRICS}
                for m in cfg.metrics:
                    value[m] = records[m][start + i]
                values.append(value)
            if COLUMN in table.column_names:
                table = table.drop_columns([COLUMN])
            table = table.append_column(pa.field(COLUMN, dtype), pa.array(values, type=dtype))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=512)
        if writer is not None:
            writer.close()
            writer = None
        tmp.replace(final)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    return final


def summarize(cfg, out: Path, specs, n, scored: Path, seconds: float, ran: int, skipped: int) -> RunSummary:
    from verl_difficulty.utils import atomic_write_text

    metrics: dict[str, dict] = {}
    for m in cfg.metrics:
        recs = read_metric_records(out, specs[m])
        tiers = Counter(r["tier"] for r in recs if r and r["tier"])
        errors = Counter((r["error"] or "").split(":")[0] for r in recs if r and not r["tier"])
        metrics[m] = {
            "tiers": {t: tiers.get(t, 0) for t in ("easy", "mid", "hard", "unsolved")},
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(10)),
            "generations": sum(int(r["attempts"] or 0) for r in recs if r),
        }
    summary = RunSummary(str(out), str(scored), n, metrics, round(seconds, 3), ran, skipped)
    atomic_write_text(out / "summary.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def format_summary(summary: RunSummary) -> str:
    lines = [f"scored {summary.rows} row(s) in {summary.seconds:.1f} s -> {summary.scored_path}"]
    for m, info in summary.metrics.items():
        tiers = "  ".join(f"{t} {c}" for t, c in info["tiers"].items())
        line = f"  {m:<9} {tiers}  failed {info['failed']}  generations {info['generations']}"
        if info["errors"]:
            line += "  (" + ", ".join(f"{k}: {v}" for k, v in info["errors"].items()) + ")"
        lines.append(line)
    return "\n".join(lines)
