"""Generation with a Hugging Face checkpoint in this process (CPU or GPU), batched, seeded per completion.

Settings (``build_engine("transformers", model, **settings)`` or ``engine_settings:`` in the run YAML):

``device``            ``"auto"`` (``cuda`` when available, else ``cpu``), or ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
``dtype``             ``"auto"`` (bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on CPU),
                      ``"bfloat16"``, ``"float16"`` or ``"float32"``
``attn_implementation``  passed to ``from_pretrained`` (``"sdpa"``, ``"eager"``, ``"flash_attention_2"``);
                      ``None``: transformers' default
``batch_size``        completions generated together in one ``generate`` call (default 8)
``processor_kwargs``  extra ``AutoProcessor.from_pretrained`` arguments, e.g. ``{"max_pixels": 1254400}``
``model_kwargs``      extra ``AutoModelForImageTextToText.from_pretrained`` arguments
``trust_remote_code`` passed to both (default ``False``)
``cpu_threads``       on CPU, ``torch.set_num_threads(cpu_threads)`` (process-wide); ``None`` leaves torch's
                      default. Small models on shared or busy CPUs run several times faster with 1.

Determinism: the engine never uses the global random state. A :class:`SeededSampler` logits processor applies
temperature, top-k and top-p itself and draws each row's next token with that row's own ``torch.Generator``
(seeded by :func:`~verl_difficulty.engines.base.completion_seed`) by inverse-CDF sampling in float64;
``generate`` then runs greedy and picks the drawn token. A completion therefore depends on its own seed only,
not on the rows it is batched with. The logits themselves can differ in the last bits between batch shapes
(kernels, padding); a drawn token changes only when its uniform draw falls within that tiny distance of a
bucket edge of the sampling distribution. On CPU float32 the test suite checks that a request gives the same
text alone and inside any batch.

The model's ``generation_config.json`` sampling defaults (e.g. Qwen's ``repetition_penalty=1.05``) are not
applied: sampling is exactly what :class:`~verl_difficulty.engines.base.SamplingSettings` says, as with the
vLLM and OpenAI engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verl_difficulty.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    SamplingSettings,
    completion_seed,
    to_chat_parts,
)

DTYPES = ("auto", "bfloat16", "float16", "float32")


class SeededSampler:
    """A ``transformers`` logits processor that samples each batch row with its own generator.

    Args:
        generators: one CPU ``torch.Generator`` per batch row, seeded by the row's completion seed.
        temperatures / top_ps / top_ks: per-row sampling settings (temperature 0 = greedy; top_k -1 = off).

    Returns, for every row, scores that are ``-inf`` everywhere except 0 at the drawn token, so greedy
    decoding picks it. Rows already finished still consume draws; their tokens are replaced by padding.
    """

    def __init__(self, generators, temperatures, top_ps, top_ks):
        import torch

        self.generators = list(generators)
        self.temperatures = torch.tensor([float(t) for t in temperatures], dtype=torch.float64)
        self.top_ps = torch.tensor([float(p) for p in top_ps], dtype=torch.float64)
        self.top_ks = torch.tensor([int(k) for k in top_ks], dtype=torch.int64)

    def __call__(self, input_ids, scores):
        import torch

        batch, vocab = scores.shape
        if batch != len(self.generators):
            raise EngineError(f"sampler: {batch} rows but {len(self.generators)} generators")
        device = scores.device
        # one uniform per row from the row's own generator, whatever the row's settings
        u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in self.generators]).to(device)
        sorted_logits, sorted_idx = torch.sort(scores.float(), dim=-1, descending=True, stable=True)
        temps = self.temperatures.to(device)
        greedy = temps <= 0
        scaled = sorted_logits.double() / temps.clamp_min(1e-6)[:, None]
        probs = torch.softmax(scaled, dim=-1)
        ranks = torch.arange(vocab, device=device)[None, :]
        top_k = self.top_ks.to(device)
        top_k = torch.where(top_k > 0, top_k, torch.full_like(top_k, vocab))
        keep = ranks < top_k[:, None]
        before = torch.cumsum(probs, dim=-1) - probs
        keep &= before < self.top_ps.to(device)[:, None]
        keep[:, 0] = True
        probs = torch.where(keep, probs, torch.zeros_like(probs))
        cdf = torch.cumsum(probs, dim=-1)
        target = (u * cdf[:, -1]).unsqueeze(-1)
        pick = torch.searchsorted(cdf, target, right=True).clamp_max(vocab - 1).squeeze(-1)
        pick = torch.where(greedy, torch.zeros_like(pick), pick)
        tokens = sorted_idx.gather(1, pick[:, None])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, tokens, 0.0)
        return out


class TransformersEngine(Engine):
    """``AutoProcessor`` + ``AutoModelForImageTextToText`` in this process (see the module docstring).

    Attributes other components reuse (the CMAB scorer): ``model`` (the loaded model, in eval mode),
    ``processor`` (its processor), ``device`` (a ``torch.device``), ``dtype`` (a ``torch.dtype``).

    Args:
        model: checkpoint folder or hub id.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        dtype: one of :data:`DTYPES`.
        attn_implementation: attention kernel, or ``None`` for transformers' default.
        batch_size: completions per ``generate`` call.
        processor_kwargs / model_kwargs: extra ``from_pretrained`` arguments.
        trust_remote_code: allow the checkpoint's own code.
        cpu_threads: torch intra-op threads when running on CPU (process-wide), ``None`` for torch's default.
    """

    name = "transformers"
    deterministic = True

    def __init__(
        self,
        model: str | None,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str | None = None,
        batch_size: int = 8,
        processor_kwargs: dict | None = None,
        model_kwargs: dict | None = None,
        trust_remote_code: bool = False,
        cpu_threads: int | None = None,
    ):
        import torch

        if not model:
            raise EngineError("model: the transformers engine needs a checkpoint folder or hub id")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise EngineError(f"engine.batch_size: expected a positive integer, got {batch_size!r}")
        if dtype not in DTYPES:
            raise EngineError(f"engine.dtype: expected one of {DTYPES}, got {dtype!r}")
        for name, value in (("processor_kwargs", processor_kwargs), ("model_kwargs", model_kwargs)):
            if value is not None and not isinstance(value, dict):
                raise EngineError(f"engine.{name}: expected a mapping, got {type(value).__name__}")
        self.model_path = str(model)
        self.batch_size = batch_size
        self.attn_implementation = attn_implementation
        try:
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise EngineError(f"engine.device: {device!r} is not a torch device ({e})") from e
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EngineError(f"engine.device: {device!r} asked for but CUDA is not available")
        if cpu_threads is not None:
            if not isinstance(cpu_threads, int) or isinstance(cpu_threads, bool) or cpu_threads < 1:
                raise EngineError(f"engine.cpu_threads: expected a positive integer, got {cpu_threads!r}")
            if self.device.type == "cpu":
                torch.set_num_threads(cpu_threads)
        if dtype == "auto":
            if self.device.type == "cuda":
                self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            else:
                self.dtype = torch.float32
        else:
            self.dtype = getattr(torch, dtype)

        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(
                self.model_path, trust_remote_code=trust_remote_code, **(processor_kwargs or {})
            )
        except (OSError, ValueError) as e:
            raise EngineError(f"model: cannot load a processor from {self.model_path!r}: {e}") from e
        kwargs = dict(model_kwargs or {})
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(
                self.model_path, dtype=self.dtype, trust_remote_code=trust_remote_code, **kwargs
            )
        except (OSError, ValueError) as e:
            raise EngineError(f"model: cannot load an image-text-to-text model from {self.model_path!r}: {e}") from e
        if "device_map" not in kwargs:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        gen = self.model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_token_id = eos
        pad = gen.pad_token_id if gen.pad_token_id is not None else self.tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if isinstance(eos, (list, tuple)) else eos
        self.pad_token_id = pad

    # -- inputs --------------------------------------------------------------------------------------------------

    def chat_text(self, messages: Sequence[dict]) -> str:
        """The prompt text: the processor's chat template over ``to_chat_parts(messages)`` + generation prompt."""
        return self.processor.apply_chat_template(to_chat_parts(messages), tokenize=False, add_generation_prompt=True)

    def encode(self, messages_list: Sequence[Sequence[dict]], images_list: Sequence[Sequence[Any]]):
        """Left-padded model inputs (``input_ids``, ``attention_mask``, ``pixel_values``, ...) on :attr:`device`.

        Args:
            messages_list: one chat (verl ``prompt`` messages) per batch row.
            images_list: the images of each row, in placeholder order.
        """
        texts = [self.chat_text(m) for m in messages_list]
        flat = [img for imgs in images_list for img in imgs]
        inputs = self.processor(text=texts, images=flat or None, padding=True, padding_side="left", return_tensors="pt")
        return inputs.to(self.device)

    # -- generation ----------------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        """``n`` completions per request. Work is grouped by sampling settings and cut into ``batch_size`` rows."""
        outputs: list[list[str | None]] = [[None] * r.n for r in requests]
        groups: dict[SamplingSettings, list[tuple[int, int]]] = {}
        for i, req in enumerate(requests):
            for j in range(req.n):
                groups.setdefault(req.sampling, []).append((i, j))
        for sampling, units in groups.items():
            # Shorter prompts together: less padding. The order cannot change any completion.
            units.sort(key=lambda u: _cost(requests[u[0]]))
            for start in range(0, len(units), self.batch_size):
                chunk = units[start : start + self.batch_size]
                texts = self._generate_chunk([requests[i] for i, _ in chunk], [j for _, j in chunk], sampling)
                for (i, j), text in zip(chunk, texts):
                    outputs[i][j] = text
        return [list(o) for o in outputs]  # type: ignore[arg-type]

    def _generate_chunk(self, reqs: list[GenerationRequest], js: list[int], sampling: SamplingSettings) -> list[str]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        inputs = self.encode([r.messages for r in reqs], [r.images for r in reqs])
        generators = []
        for r, j in zip(reqs, js):
            g = torch.Generator(device="cpu")
            g.manual_seed(completion_seed(r.seed, j))
            generators.append(g)
        n = len(reqs)
        sampler = SeededSampler(generators, [sampling.temperature] * n, [sampling.top_p] * n, [sampling.top_k] * n)
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            num_beams=1,
            temperature=1.0,
            top_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            min_new_tokens=0,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            stop_strings=list(sampling.stop) or None,
        )
        extra = {"tokenizer": self.tokenizer} if sampling.stop else {}
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, generation_config=config, logits_processor=LogitsProcessorList([sampler]), **extra
            )
        new_tokens = out[:, inputs["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_cut_at_stop(t, sampling.stop) for t in texts]

    def describe(self) -> dict:
        return {
            "engine": self.name,
            "model": self.model_path,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "attn_implementation": self.attn_implementation,
            "batch_size": self.batch_size,
            "deterministic": self.deterministic,
        }

    def close(self) -> None:
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _cost(req: GenerationRequest) -> int:
    """A cheap proxy of the prompt length in tokens (text characters + image area in 28 px patches)."""
    chars = sum(len(m["content"]) if isinstance(m.get("content"), str) else 0 for m in req.messages)
    pixels = sum(img.size[0] * img.size[1] for img in req.images if hasattr(img, "size"))
    return chars // 4 + pixels // (28 * 28)


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Everything before the first stop string (the stop string itself is not part of the completion)."""
    cut = len(text)
    for s in stop:
        pos = text.find(s)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut]
