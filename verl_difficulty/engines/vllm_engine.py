"""Generation with vLLM's offline ``LLM`` on GPUs (the ``gpu`` extra: ``pip install 'verl-difficulty[gpu]'``).

Every completion is its own vLLM request with ``n = 1`` and ``SamplingParams(seed=completion_seed(seed, j))``:
vLLM draws a seeded request with its own generator, so completion ``j`` of a request is the same whatever else
is in the batch (up to vLLM's floating-point batch variance, as with any GPU engine). The prompt text is the
checkpoint processor's chat template over the row's messages (the same text the transformers engine feeds);
images go in ``multi_modal_data`` in placeholder order, and vLLM expands each ``<|image_pad|>`` itself.

Settings: any keyword of ``vllm.LLM`` passes through, e.g.::

    engine_settings:
      tensor_parallel_size: 1
      gpu_memory_utilization: 0.85
      max_model_len: 8192
      limit_mm_per_prompt: {image: 4}
      mm_processor_kwargs: {max_pixels: 1254400}
      dtype: bfloat16
      enforce_eager: false

plus ``use_tqdm`` (vLLM's progress bar, default false). Requests' sampling settings map to ``SamplingParams``
(``max_new_tokens`` → ``max_tokens``; ``top_k`` only when set). vLLM is imported only when the engine is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from verl_difficulty.engines.base import Engine, EngineError, GenerationRequest, completion_seed, to_chat_parts

INSTALL_HINT = (
    "the vllm engine needs vLLM, which is not installed: install the GPU extra "
    "(pip install 'verl-difficulty[gpu]', which pins vllm==0.24.0 as verl 0.9.1 does), or use "
    "--engine transformers (any device) or --engine openai (a running `vllm serve`)"
)


def sampling_kwargs(request: GenerationRequest, j: int) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments of completion ``j`` of ``request``."""
    s = request.sampling
    kw: dict[str, Any] = {
        "n": 1,
        "temperature": float(s.temperature),
        "top_p": float(s.top_p),
        "max_tokens": int(s.max_new_tokens),
        "seed": completion_seed(request.seed, j),
    }
    if s.top_k != -1:
        kw["top_k"] = int(s.top_k)
    if s.stop:
        kw["stop"] = list(s.stop)
    return kw


def vllm_prompt(chat_text: Callable[[Sequence[dict]], str], request: GenerationRequest) -> dict[str, Any]:
    """The vLLM prompt dict of ``request``: ``{"prompt": text, "multi_modal_data": {"image": [...]}}``."""
    prompt: dict[str, Any] = {"prompt": chat_text(request.messages)}
    if request.images:
        prompt["multi_modal_data"] = {"image": list(request.images)}
    return prompt


def expand_requests(
    requests: Sequence[GenerationRequest], chat_text: Callable[[Sequence[dict]], str]
) -> tuple[list[dict], list[dict], list[tuple[int, int]]]:
    """One vLLM request per completion: (prompts, sampling kwargs, (request index, j) of each)."""
    prompts, params, index = [], [], []
    for i, req in enumerate(requests):
        prompt = vllm_prompt(chat_text, req)
        for j in range(req.n):
            prompts.append(prompt)
            params.append(sampling_kwargs(req, j))
            index.append((i, j))
    return prompts, params, index


def collect_outputs(requests: Sequence[GenerationRequest], index: list[tuple[int, int]], texts: list[str]):
    """Texts of the expanded requests back into ``n`` completions per request."""
    if len(texts) != len(index):
        raise EngineError(f"vllm: {len(texts)} outputs for {len(index)} requests")
    out: list[list[str]] = [[""] * r.n for r in requests]
    for (i, j), text in zip(index, texts):
        out[i][j] = text
    return out


def processor_chat_text(processor) -> Callable[[Sequence[dict]], str]:
    """The chat-template function of a Hugging Face processor (generation prompt added)."""

    def chat_text(messages: Sequence[dict]) -> str:
        return processor.apply_chat_template(to_chat_parts(messages), tokenize=False, add_generation_prompt=True)

    return chat_text


class VLLMEngine(Engine):
    """vLLM's offline engine (see the module docstring). ``settings`` pass through to ``vllm.LLM``."""

    name = "vllm"
    deterministic = True

    def __init__(self, model: str | None, use_tqdm: bool = False, **settings: Any):
        if not model:
            raise EngineError("model: the vllm engine needs a checkpoint folder or hub id")
        try:
            import vllm
        except ImportError as e:
            raise EngineError(INSTALL_HINT) from e
        from transformers import AutoProcessor

        self.model_path = str(model)
        self.settings = dict(settings)
        self.use_tqdm = bool(use_tqdm)
        self.vllm_version = getattr(vllm, "__version__", "unknown")
        try:
            self.processor = AutoProcessor.from_pretrained(
                self.model_path, trust_remote_code=bool(settings.get("trust_remote_code", False))
            )
        except (OSError, ValueError) as e:
            raise EngineError(f"model: cannot load a processor from {self.model_path!r}: {e}") from e
        self._chat_text = processor_chat_text(self.processor)
        try:
            self.llm = vllm.LLM(model=self.model_path, **settings)
        except TypeError as e:  # an unknown LLM keyword
            raise EngineError(f"engine settings: vllm.LLM rejected them ({e})") from e
        self._sampling_params = vllm.SamplingParams

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        prompts, params, index = expand_requests(requests, self._chat_text)
        if not prompts:
            return [[] for _ in requests]
        outputs = self.llm.generate(
            prompts, sampling_params=[self._sampling_params(**kw) for kw in params], use_tqdm=self.use_tqdm
        )
        return collect_outputs(requests, index, [o.outputs[0].text for o in outputs])

    def describe(self) -> dict:
        keep = ("tensor_parallel_size", "dtype", "max_model_len", "limit_mm_per_prompt", "mm_processor_kwargs")
        return {
            "engine": self.name,
            "model": self.model_path,
            "vllm": self.vllm_version,
            "settings": {k: v for k, v in self.settings.items() if k in keep},
            "deterministic": self.deterministic,
        }

    def close(self) -> None:
        import gc

        self.llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass
