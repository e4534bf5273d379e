"""The transformers engine on the tiny model and real bundled rows: batching never changes a completion."""

from __future__ import annotations

import math

import pytest
import torch

from verl_difficulty.engines import EngineError, GenerationRequest, SamplingSettings, build_engine, request_seed
from verl_difficulty.engines.transformers_engine import SeededSampler
from verl_difficulty.scorers.base import row_images, row_messages, sample_id


def _requests(rows, sampling, n=2, base_seed=0):
    return [
        GenerationRequest(
            sample_id=sample_id(r),
            messages=row_messages(r),
            images=row_images(r),
            sampling=sampling,
            n=n,
            seed=request_seed(base_seed, "test", sample_id(r)),
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def mixed_rows(bundled_rows):
    return bundled_rows["mathv"][:2] + bundled_rows["mmocr_words"][:1] + bundled_rows["geo3k"][:1]


def test_completion_does_not_depend_on_batch(tiny_engine, mixed_rows):
    sampling = SamplingSettings(temperature=0.9, top_p=0.95, max_new_tokens=6)
    reqs = _requests(mixed_rows, sampling)
    together = tiny_engine.generate(reqs)
    assert [len(o) for o in together] == [2, 2, 2, 2]
    assert all(isinstance(t, str) for o in together for t in o)
    # other batch compositions: reversed order, and each request on its own
    assert tiny_engine.generate(reqs[::-1])[::-1] == together
    assert [tiny_engine.generate([r])[0] for r in reqs[:2]] == together[:2]
    # the seeds matter: completions differ between j = 0 and 1, and with another base seed
    assert any(o[0] != o[1] for o in together)
    other = tiny_engine.generate(_requests(mixed_rows[:2], sampling, base_seed=1))
    assert other != together[:2]


def test_greedy_and_stop_strings(tiny_engine, mixed_rows):
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=6)
    (out,) = tiny_engine.generate(_requests(mixed_rows[:1], greedy, n=2))
    assert out[0] == out[1] and out[0]
    # a stop string taken from the greedy text cuts the completion before it
    stop = out[0].strip()[-2:]
    cut = SamplingSettings(temperature=0.0, max_new_tokens=6, stop=(stop,))
    (short,) = tiny_engine.generate(_requests(mixed_rows[:1], cut, n=1))
    assert stop not in short[0] and out[0].startswith(short[0])


def test_describe_and_errors(tiny_engine, tiny_model_dir, tmp_path):
    d = tiny_engine.describe()
    assert d["model"] == str(tiny_model_dir) and d["dtype"] == "float32" and d["device"] == "cpu"
    with pytest.raises(EngineError, match="no_such_model"):
        build_engine("transformers", str(tmp_path / "no_such_model"))
    with pytest.raises(EngineError, match="engine.dtype"):
        build_engine("transformers", str(tiny_model_dir), dtype="fp7")
    with pytest.raises(EngineError, match="batch_size"):
        build_engine("transformers", str(tiny_model_dir), batch_size=0)


def _draws(logits, n, **settings):
    counts = torch.zeros(logits.shape[-1])
    gens = [torch.Generator().manual_seed(s) for s in range(n)]
    sampler = SeededSampler(
        gens, [settings.get("temperature", 1.0)] * n, [settings.get("top_p", 1.0)] * n, [settings.get("top_k", -1)] * n
    )
    out = sampler(None, logits.expand(n, -1).clone())
    picks = out.argmax(-1)
    assert torch.all(out.isinf().sum(-1) == logits.shape[-1] - 1)  # exactly one token allowed per row
    for p in picks:
        counts[p] += 1
    return counts / n


def test_sampler_follows_the_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    n = 4000
    freq = _draws(logits, n, temperature=0.7)
    expected = torch.softmax(logits[0] / 0.7, -1)
    # within 4 binomial standard deviations for every token
    assert torch.all((freq - expected).abs() <= 4 * torch.sqrt(expected * (1 - expected) / n) + 1e-3)
    top2 = _draws(logits, 500, top_k=2)
    assert top2[2:].sum() == 0 and top2[0] > top2[1] > 0
    # top_p = 0.5: the top token alone has p = 0.57 here, so it is the only one kept
    assert math.isclose(float(_draws(logits, 200, top_p=0.5)[0]), 1.0)
    assert math.isclose(float(_draws(logits, 50, temperature=0.0)[0]), 1.0)
