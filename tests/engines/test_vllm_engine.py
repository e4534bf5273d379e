"""The vLLM engine's request building (pure functions, on real rows and the tiny model's processor) and the
error without vLLM. vLLM itself needs a GPU and is not installed in CPU CI."""

from __future__ import annotations

import sys

import pytest

from verl_difficulty.engines import EngineError, GenerationRequest, SamplingSettings, build_engine, completion_seed
from verl_difficulty.engines.vllm_engine import (
    collect_outputs,
    expand_requests,
    processor_chat_text,
    sampling_kwargs,
)
from verl_difficulty.scorers.base import row_images, row_messages, sample_id


@pytest.fixture(scope="module")
def chat_text(tiny_model_dir):
    from transformers import AutoProcessor

    return processor_chat_text(AutoProcessor.from_pretrained(tiny_model_dir))


def test_one_seeded_request_per_completion(chat_text, bundled_rows):
    rows = bundled_rows["mathv"][:2] + bundled_rows["icdar_grounding"][:1]
    sampling = SamplingSettings(temperature=0.7, top_p=0.9, max_new_tokens=32, stop=("</answer>",))
    reqs = [
        GenerationRequest(sample_id(r), row_messages(r), row_images(r), sampling, n=n, seed=100 + k)
        for k, (r, n) in enumerate(zip(rows, [3, 1, 2]))
    ]
    prompts, params, index = expand_requests(reqs, chat_text)
    assert index == [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0), (2, 1)]
    assert [p["seed"] for p in params] == [completion_seed(100 + i, j) for i, j in index]
    assert len({p["seed"] for p in params}) == 6
    assert params[0] == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 32,
        "seed": completion_seed(100, 0),
        "stop": ["</answer>"],
    }
    for (i, _), prompt in zip(index, prompts):
        text = prompt["prompt"]
        # one image token per image, expanded later by vLLM; the question text kept; the assistant turn opened
        assert text.count("<|image_pad|>") == len(reqs[i].images) == len(prompt["multi_modal_data"]["image"])
        assert "<image>" not in text and text.rstrip().endswith("assistant")
        question = reqs[i].messages[-1]["content"].split("<image>")[-1].strip()
        assert question[:40] in text
    assert prompt["multi_modal_data"]["image"][0] is reqs[2].images[0]
    out = collect_outputs(reqs, index, [f"t{k}" for k in range(6)])
    assert out == [["t0", "t1", "t2"], ["t3"], ["t4", "t5"]]
    with pytest.raises(EngineError, match="5 outputs for 6"):
        collect_outputs(reqs, index, ["x"] * 5)


def test_sampling_kwargs_top_k_and_text_only():
    req = GenerationRequest("a", [{"role": "user", "content": "hi"}], [], SamplingSettings(top_k=20), n=1, seed=3)
    kw = sampling_kwargs(req, 0)
    assert kw["top_k"] == 20 and "stop" not in kw and kw["temperature"] == 1.0
    assert "top_k" not in sampling_kwargs(GenerationRequest("a", [], [], SamplingSettings(), seed=3), 0)
    prompts, _, _ = expand_requests([req], lambda m: "PROMPT")
    assert prompts == [{"prompt": "PROMPT"}]  # no multi_modal_data without images


def test_missing_vllm_is_a_clear_error(monkeypatch, tiny_model_dir):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError, installed or not
    with pytest.raises(EngineError, match=r"verl-difficulty\[gpu\]"):
        build_engine("vllm", str(tiny_model_dir), tensor_parallel_size=1)
    with pytest.raises(EngineError, match="model"):
        build_engine("vllm", None)
