"""One execution path: Ray Data with two actors gives exactly the in-process loop's output.

Both runs score the same real rows with the tiny Qwen2.5-VL through the transformers engine (sampling at
temperature 1.0, so every completion depends on its seed); the Ray run spreads the shards over two actors,
each holding its own engine, and uses another shard size. Seeds derive from sample ids, so the ``difficulty``
columns must be identical.
"""

from __future__ import annotations

import pytest
from pipeline_testutil import ENGINE_SETTINGS, read_difficulty


@pytest.mark.ray
def test_ray_data_two_workers_equals_in_process(tiny_model_dir, bundled_rows, write_input, tmp_path):
    import ray

    from verl_difficulty.pipeline.config import ScoreConfig
    from verl_difficulty.pipeline.runner import run_scoring

    rows = bundled_rows["mathv"][:4] + bundled_rows["mmocr_words"][:4]
    data = write_input(rows)
    base = {
        "metrics": ["passrate", "pism"],
        "model": str(tiny_model_dir),
        "data": [str(data)],
        "engine": "transformers",
        "engine_settings": {**ENGINE_SETTINGS, "cpu_threads": 1},
        "settings": {
            "passrate": {"n": 3, "max_new_tokens": 8},
            "pism": {"k": 2, "max_new_tokens": 8, "ratios": [0.0, 0.3, 0.6]},
        },
        "progress": False,
    }
    local = run_scoring(ScoreConfig.from_dict({**base, "out": str(tmp_path / "local"), "shard_size": 3}))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        on_ray = run_scoring(
            ScoreConfig.from_dict(
                {**base, "out": str(tmp_path / "ray"), "shard_size": 2, "ray": "local", "num_workers": 2}
            )
        )
    finally:
        ray.shutdown()
    assert on_ray.shards_run == 8 and local.shards_run == 6
    ids, values = read_difficulty(tmp_path / "ray" / "scored.parquet")
    assert ids == [r["extra_info"]["index"] for r in rows]
    assert (ids, values) == read_difficulty(tmp_path / "local" / "scored.parquet")
    assert all(v["passrate"]["attempts"] == 3 and v["pism"]["tier"] is not None for v in values)
    assert on_ray.metrics == local.metrics
