"""Generation backends behind one small interface (:mod:`.base`).

=============  ==========================================================================================
name           what it runs
=============  ==========================================================================================
transformers   a Hugging Face checkpoint in this process (CPU or GPU, batched, per-request seeds)
vllm           vLLM's offline ``LLM`` (GPU; imported lazily, a clear error when vLLM is not installed)
openai         an OpenAI-compatible server (``vllm serve``, SGLang, ...) over HTTP
replay         completions logged by earlier runs (verl's ``trainer.rollout_data_dir`` / validation dumps, or
               any JSONL of sample id + response): pass-rates from rollouts already paid for
oracle         a scripted "model" with known per-sample behaviour under masking (tests, benchmarks, demos)
=============  ==========================================================================================

``build_engine(name, model, **settings)`` builds one; each backend's module documents its settings.
"""

from __future__ import annotations

import importlib

from verl_difficulty.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    SamplingSettings,
    completion_seed,
    count_image_placeholders,
    request_seed,
    to_chat_parts,
)

#: engine name -> "module:Class"
ENGINES: dict[str, str] = {
    "transformers": "verl_difficulty.engines.transformers_engine:TransformersEngine",
    "vllm": "verl_difficulty.engines.vllm_engine:VLLMEngine",
    "openai": "verl_difficulty.engines.openai_engine:OpenAIEngine",
    "replay": "verl_difficulty.engines.replay:ReplayEngine",
    "oracle": "verl_difficulty.engines.oracle:OracleEngine",
}


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise EngineError(f"engine: {name!r} is not one of {sorted(ENGINES)}")
    module_name, cls_name = ENGINES[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def build_engine(name: str, model: str | None = None, **settings) -> Engine:
    """Build the engine ``name`` for ``model`` (a folder or hub id; replay / oracle take a file or None)."""
    return engine_class(name)(model, **settings)


__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "GenerationRequest",
    "SamplingSettings",
    "build_engine",
    "completion_seed",
    "count_image_placeholders",
    "engine_class",
    "request_seed",
    "to_chat_parts",
]
