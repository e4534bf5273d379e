"""CMAB's measurement: how much a response's tokens attend to image tokens versus text tokens.

Two ways to get the same numbers, for a prompt (chat messages + images) and a response (text or token ids):

:func:`teacher_forced_balance` (what the scorer uses)
    One forward pass over prompt + response with the model's own attention implementation (sdpa, flash, eager)
    in every layer. In the chosen layer(s) only, the attention module's post-RoPE queries and keys (so exactly
    the model's positions: Qwen2-VL / Qwen2.5-VL multimodal RoPE with its rope deltas) are intercepted, and the
    attention probabilities of the *response query rows only* are recomputed in fp32 (GQA heads grouped, causal
    mask), in chunks of rows, and reduced at once to per-token image / text masses (and, optionally, per image
    token sums for heat maps). The pass stops after the last chosen layer: later layers and the LM head never
    run. Memory: O(chunk × sequence × heads) for one layer at a time, on top of the forward pass itself.

:func:`generate_reference_balance` (tests and benchmarks)
    What the authors' released code does: ``model.generate(output_attentions=True)`` with eager attention, which
    keeps the attention of every layer for every generation step, then reduces the chosen layer(s). Here the
    response tokens are forced one by one so both paths see the same tokens.

Definitions (token positions in the sequence prompt + response; ``P`` = prompt length, ``N`` = response tokens
``r_0 .. r_{N-1}``; "image tokens" = positions whose input id is the model's ``image_token_id``
(``<|image_pad|>``), for every image of the row; attention = softmax probabilities averaged over heads):

``mode="code"`` (the authors' released code; one layer ``l``)
    Measured queries: the decoding steps after the first, i.e. the query rows at positions ``P .. P+N-2`` (the
    inputs ``r_0 .. r_{N-2}``, which predict ``r_1 .. r_{N-1}``). The prefill step that predicts ``r_0`` is
    skipped. For each: ``img_t`` = mean attention over the image positions, ``txt_t`` = mean attention over all
    positions before the first image token (system prompt, chat markup, any text placed before the image).
    ``ρ̄ = Σ_t img_t / Σ_t txt_t`` (tokens with ``txt_t == 0`` are skipped, as in the released code).
``mode="paper"`` (the paper's formula; layers ``𝓛``)
    Measured queries: every decoding step, i.e. the query rows that predict ``r_0 .. r_{N-1}`` (positions
    ``P-1 .. P+N-2``). ``img(l,t)`` = attention mass on the image positions, ``txt(l,t)`` = attention mass on
    every other visible position (prompt text, chat markup, vision start/end markers and the response so far),
    so ``img + txt = 1``. ``ρ(l,t) = (img + ε) / (txt + ε)``, ``ρ_t = exp(mean_{l∈𝓛} log ρ(l,t))`` (geometric
    mean), ``ρ̄ = mean_t ρ_t``; ``ε = 1e-8``.

Heat maps: for each image, the attention of the measured queries on each of its tokens, averaged over the
measured queries and the chosen layer(s), laid out on the image's merged-patch grid ``[h, w]`` (the order in
which Qwen-VL emits image tokens: merged patches row by row).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODES = ("code", "paper")
EPS = 1e-8
#: the code mode's layer for Qwen2.5-VL-7B (28 decoder layers); other depths scale it: round(20 / 28 · L)
CODE_LAYER, CODE_LAYER_DEPTH = 20, 28
PROBE_ATTENTION = "verl_difficulty_cmab_probe"


class AttentionError(RuntimeError):
    """The attention balance cannot be measured (unsupported model, no image, response too short...)."""


# ---------------------------------------------------------------------------------------------------- layers
def default_code_layer(num_layers: int) -> int:
    """The released code's layer 20 of 28, scaled to ``num_layers``: ``round(20 · L / 28)``, within ``[0, L-1]``."""
    return min(num_layers - 1, max(0, round(CODE_LAYER * num_layers / CODE_LAYER_DEPTH)))


def default_paper_layers(num_layers: int) -> list[int]:
    """The paper's layers ``2 .. L-1`` counted from 1 (the first and last layers left out): 0-based ``1 .. L-2``."""
    return list(range(1, num_layers - 1))


def resolve_layers(mode: str, num_layers: int, layers: int | Sequence[int] | None = None) -> list[int]:
    """The 0-based decoder layers ``mode`` measures in a model of ``num_layers`` layers.

    ``layers``: None for the mode's default; code mode takes one index (an int or a one-element list), paper
    mode a list. Out-of-range or empty choices raise :class:`AttentionError`.
    """
    if mode not in MODES:
        raise AttentionError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "code":
        if layers is not None and not isinstance(layers, int):
            layers = list(layers)
            if len(layers) != 1:
                raise AttentionError(f"code mode measures one layer, got {layers}")
            layers = layers[0]
        chosen = [default_code_layer(num_layers) if layers is None else int(layers)]
    else:
        if isinstance(layers, int):
            layers = [layers]
        chosen = default_paper_layers(num_layers) if layers is None else sorted({int(x) for x in layers})
    if not chosen:
        raise AttentionError(f"{mode} mode: no layer to measure in a model with {num_layers} decoder layers")
    bad = [x for x in chosen if not 0 <= x < num_layers]
    if bad:
        name = "layer" if mode == "code" else "layers"
        raise AttentionError(f"{name}: {bad} outside the model's decoder layers 0..{num_layers - 1}")
    return chosen


def text_layers(model) -> Sequence[Any]:
    """The decoder layers of a Hugging Face VLM's language model (Qwen2-VL / Qwen2.5-VL layout and plain LMs)."""
    for path in ("model.language_model.layers", "language_model.layers", "model.layers", "language_model.model.layers"):
        obj = model
        for name in path.split("."):
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise AttentionError(f"{type(model).__name__}: cannot find the language model's decoder layers")


# ----------------------------------------------------------------------------------------------------- spans
@dataclass
class ImageSpan:
    """One image's tokens: ``length`` consecutive positions from ``start``, on a merged-patch ``grid`` [h, w]."""

    start: int
    length: int
    grid: tuple[int, int]
    frames: int = 1


@dataclass
class TokenSpans:
    """Where the image tokens are in prompt + response (positions are 0-based sequence indices)."""

    seq_len: int
    prompt_len: int
    image_positions: np.ndarray
    images: list[ImageSpan]

    @property
    def first_image(self) -> int:
        return int(self.image_positions[0])


def find_spans(
    input_ids: Sequence[int],
    prompt_len: int,
    image_token_id: int,
    image_grid_thw: Any = None,
    merge_size: int = 2,
) -> TokenSpans:
    """Image token positions of ``input_ids`` and each image's merged-patch grid (checked against the processor).

    Args:
        input_ids: the token ids of prompt + response.
        prompt_len: how many of them are the prompt.
        image_token_id: the model's image placeholder id (``config.image_token_id``).
        image_grid_thw: the processor's ``image_grid_thw`` ([n_images, 3] patches: t, h, w), or None.
        merge_size: the vision encoder's spatial merge size (2 for Qwen-VL).
    """
    ids = np.asarray(input_ids, dtype=np.int64).reshape(-1)
    positions = np.flatnonzero(ids == int(image_token_id))
    if positions.size == 0:
        raise AttentionError("no image token in the prompt: CMAB needs at least one image")
    if positions[-1] >= prompt_len:
        raise AttentionError("the response contains the image token id")
    # consecutive runs of image tokens
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    runs = np.split(positions, breaks)
    grids = np.asarray(image_grid_thw.tolist() if hasattr(image_grid_thw, "tolist") else image_grid_thw or [])
    images: list[ImageSpan] = []
    if grids.size:
        grids = grids.reshape(-1, 3)
        # one run per image; adjacent images (no separator) are split by their token counts
        counts = [int(t * h * w) // (merge_size * merge_size) for t, h, w in grids]
        if sum(counts) != positions.size:
            raise AttentionError(
                f"{positions.size} image tokens in the prompt but image_grid_thw {grids.tolist()} gives {sum(counts)}"
            )
        offset = 0
        for (t, h, w), n in zip(grids, counts, strict=True):
            chunk = positions[offset : offset + n]
            if chunk[-1] - chunk[0] + 1 != n:
                raise AttentionError("an image's tokens are not contiguous in the prompt")
            images.append(ImageSpan(int(chunk[0]), n, (int(h) // merge_size, int(w) // merge_size), int(t)))
            offset += n
    else:
        images = [ImageSpan(int(r[0]), int(r.size), (1, int(r.size))) for r in runs]
    return TokenSpans(seq_len=int(ids.size), prompt_len=int(prompt_len), image_positions=positions, images=images)


def query_positions(mode: str, prompt_len: int, response_len: int) -> np.ndarray:
    """The sequence positions whose attention ``mode`` measures (see the module docstring)."""
    if mode == "code":
        if response_len < 2:
            raise AttentionError(f"code mode needs a response of at least 2 tokens, got {response_len}")
        return np.arange(prompt_len, prompt_len + response_len - 1)
    if mode == "paper":
        if response_len < 1:
            raise AttentionError("paper mode needs a response of at least 1 token, got 0")
        return np.arange(prompt_len - 1, prompt_len + response_len - 1)
    raise AttentionError(f"mode must be one of {MODES}, got {mode!r}")


# ---------------------------------------------------------------------------------------------------- result
@dataclass
class AttentionBalance:
    """The measured balance of one response.

    Attributes:
        mode: ``code`` or ``paper``.
        rho: ρ̄, the sample's image / text attention balance.
        layers: the 0-based decoder layers measured.
        img: ``[len(layers), T]`` per-layer, per-measured-token image attention (code: mean over image positions;
            paper: mass on image positions).
        txt: the same for text (code: mean over positions before the first image; paper: mass on non-image).
        rho_tokens: ``[T]`` per-token balance (code: ``img_t / txt_t``; paper: ``ρ_t``).
        positions: ``[T]`` the measured query positions.
        heat: per image, the ``[h, w]`` heat map (None unless asked for).
        spans: where the image tokens are.
        response_len: response tokens ``N``.
    """

    mode: str
    rho: float
    layers: list[int]
    img: np.ndarray
    txt: np.ndarray
    rho_tokens: np.ndarray
    positions: np.ndarray
    spans: TokenSpans
    response_len: int
    heat: list[np.ndarray] | None = None
    per_layer_rho: list[float] = field(default_factory=list)


def combine(
    mode: str,
    img: np.ndarray,
    txt: np.ndarray,
    *,
    layers: Sequence[int],
    positions: np.ndarray,
    spans: TokenSpans,
    response_len: int,
    heat_sums: list[np.ndarray] | None = None,
) -> AttentionBalance:
    """ρ̄ from per-layer, per-token image / text quantities ``[n_layers, T]`` (the formulas of the module docstring).

    ``heat_sums``: per image, the attention on each of its tokens summed over measured tokens and layers.
    """
    img = np.asarray(img, dtype=np.float64)
    txt = np.asarray(txt, dtype=np.float64)
    if mode == "code":
        i, t = img[0], txt[0]
        keep = t != 0
        if not keep.any():
            raise AttentionError("no measured token attends to the text before the first image")
        rho = float(i[keep].sum() / t[keep].sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            rho_tokens = np.where(keep, i / np.where(keep, t, 1.0), np.nan)
        per_layer = [rho]
    elif mode == "paper":
        ratio = (img + EPS) / (txt + EPS)
        rho_tokens = np.exp(np.log(ratio).mean(axis=0))
        rho = float(rho_tokens.mean())
        per_layer = [float(x) for x in ratio.mean(axis=1)]
    else:
        raise AttentionError(f"mode must be one of {MODES}, got {mode!r}")
    if not math.isfinite(rho):
        raise AttentionError(f"the attention balance is not finite ({rho})")
    heat = None
    if heat_sums is not None:
        denom = float(len(layers) * len(positions))
        heat = []
        for span, sums in zip(spans.images, heat_sums, strict=True):
            values = np.asarray(sums, dtype=np.float64) / denom
            h, w = span.grid
            heat.append(values.reshape(span.frames, h, w).mean(axis=0))
    return AttentionBalance(
        mode=mode,
        rho=rho,
        layers=list(layers),
        img=img,
        txt=txt,
        rho_tokens=rho_tokens,
        positions=np.asarray(positions),
        spans=spans,
        response_len=response_len,
        heat=heat,
        per_layer_rho=per_layer,
    )


# ----------------------------------------------------------------------------------------------------- inputs
@dataclass
class ProbeInputs:
    """Model inputs for prompt + response, and where things are in them.

    ``inputs`` holds the model kwargs of the whole sequence minus the last response token (the last token is
    never a measured query nor a key a measured query sees); ``prompt_inputs`` those of the prompt alone
    (for generation); ``response_ids`` all ``N`` response token ids.
    """

    inputs: dict[str, Any]
    prompt_inputs: dict[str, Any]
    prompt_len: int
    response_ids: list[int]
    spans: TokenSpans


def image_token_id_of(model) -> int:
    config = model.config
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if value is not None:
            return int(value)
    raise AttentionError(f"{type(model).__name__}: the config has no image_token_id")


def merge_size_of(model) -> int:
    vision = getattr(model.config, "vision_config", None)
    return int(getattr(vision, "spatial_merge_size", 2) or 2)


def render_prompt(processor, messages: Sequence[Mapping[str, Any]]) -> str:
    """The chat template applied to verl-style messages (``<image>`` placeholders become image parts)."""
    from verl_difficulty.engines.base import to_chat_parts

    return processor.apply_chat_template(to_chat_parts(messages), add_generation_prompt=True, tokenize=False)


def build_probe_inputs(
    model,
    processor,
    messages: Sequence[Mapping[str, Any]],
    images: Sequence[Any],
    response: str | Sequence[int],
) -> ProbeInputs:
    """Tokenise prompt (chat template + processor, exactly as for generation) and response for a probe pass.

    Args:
        model: the Hugging Face VLM (for the image token id, merge size, device and dtype).
        processor: its processor.
        messages: chat messages in verl's format (one ``<image>`` per image) or typed parts.
        images: PIL images, one per placeholder.
        response: the response text (tokenised without special tokens) or its token ids.
    """
    import torch

    text = render_prompt(processor, messages)
    enc = processor(text=[text], images=list(images) or None, return_tensors="pt")
    prompt_ids = enc["input_ids"][0].tolist()
    if isinstance(response, str):
        response_ids = list(processor.tokenizer(response, add_special_tokens=False)["input_ids"])
    else:
        response_ids = [int(x) for x in response]
    image_id = image_token_id_of(model)
    if image_id in response_ids:
        raise AttentionError("the response contains the image token")
    full = prompt_ids + response_ids
    spans = find_spans(full, len(prompt_ids), image_id, enc.get("image_grid_thw"), merge_size_of(model))
    device = _model_device(model)
    dtype = _model_dtype(model)

    def pack(ids: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_ids": torch.tensor([ids], dtype=torch.long, device=device),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device),
        }
        # text 0 / image 1 per position: what the model's multimodal RoPE needs to place the image tokens
        mm = [1 if x == image_id else 0 for x in ids]
        out["mm_token_type_ids"] = torch.tensor([mm], dtype=torch.int32, device=device)
        for key in ("pixel_values", "image_grid_thw"):
            if enc.get(key) is not None:
                value = enc[key].to(device)
                out[key] = value.to(dtype) if value.is_floating_point() else value
        return out

    keep = len(prompt_ids) + max(0, len(response_ids) - 1)
    return ProbeInputs(
        inputs=pack(full[:keep]),
        prompt_inputs=pack(prompt_ids),
        prompt_len=len(prompt_ids),
        response_ids=response_ids,
        spans=spans,
    )


def _model_device(model):
    import torch

    device = getattr(model, "device", None)
    if device is None:
        device = next(model.parameters()).device
    return torch.device(device)


def _model_dtype(model):
    dtype = getattr(model, "dtype", None)
    if dtype is None:
        dtype = next(model.parameters()).dtype
    return dtype


# --------------------------------------------------------------------------------------- teacher-forced probe
class _StopForward(Exception):
    """Raised after the last measured layer: nothing after it is needed."""


class _ProbeConfig:
    """A view of an attention module's config that routes only that module to the probe attention function."""

    _attn_implementation = PROBE_ATTENTION

    def __init__(self, base, probe: _Probe):
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_cmab_probe", probe)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_base"), name)


class _Probe:
    """State of one teacher-forced pass: which layers to measure, the key groups, the running sums."""

    def __init__(self, layers, positions, spans, *, heatmaps: bool, chunk_size: int, original: str):
        import torch

        self.layers = list(layers)
        self.last = max(self.layers)
        self.positions = positions
        self.spans = spans
        self.heatmaps = heatmaps
        self.chunk_size = chunk_size
        self.original = original
        self.results: dict[int, tuple] = {}
        self.torch = torch

    def original_function(self, module):
        if self.original in (None, "eager"):
            fn = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
            if fn is None:
                raise AttentionError(f"{type(module).__name__}: no eager_attention_forward in its module")
            return fn
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        return ALL_ATTENTION_FUNCTIONS[self.original]

    def measure(self, module, query, key, scaling: float):
        """Per-token image / pre-image / non-image masses of the head-averaged fp32 attention of the response rows."""
        torch = self.torch
        if query.shape[0] != 1:
            raise AttentionError(f"the probe pass runs one sequence at a time, got a batch of {query.shape[0]}")
        if getattr(module, "sliding_window", None):
            raise AttentionError(
                f"layer {module.layer_idx} uses sliding-window attention, which the probe does not model"
            )
        seq = key.shape[-2]
        num_heads, kv_heads, dim = query.shape[1], key.shape[1], query.shape[-1]
        groups = num_heads // kv_heads
        device = query.device
        pos = torch.as_tensor(self.positions, device=device)
        image_pos = torch.as_tensor(self.spans.image_positions, device=device)
        # key groups: image, before the first image, not image
        kinds = torch.zeros(seq, 3, dtype=torch.float32, device=device)
        kinds[image_pos, 0] = 1.0
        kinds[: self.spans.first_image, 1] = 1.0
        kinds[:, 2] = 1.0 - kinds[:, 0]
        k = key[0].float().unsqueeze(1).transpose(-1, -2)  # [kv, 1, D, S]
        keys = torch.arange(seq, device=device)
        masses = []
        heat = torch.zeros(image_pos.numel(), dtype=torch.float32, device=device) if self.heatmaps else None
        for c0 in range(0, pos.numel(), self.chunk_size):
            rows = pos[c0 : c0 + self.chunk_size]
            q = query[0, :, rows, :].float().reshape(kv_heads, groups, rows.numel(), dim)
            scores = torch.matmul(q, k) * float(scaling)  # [kv, g, r, S]
            scores.masked_fill_((keys[None, :] > rows[:, None])[None, None], float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            del scores
            attn = probs.mean(dim=(0, 1))  # heads averaged: [r, S]
            del probs
            masses.append(attn @ kinds)
            if heat is not None:
                heat += attn[:, image_pos].sum(dim=0)
        self.results[module.layer_idx] = (torch.cat(masses).double().cpu(), heat)


def _probe_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    """Attention function registered with transformers: measures, then computes the layer's output as usual."""
    probe: _Probe = getattr(module.config, "_cmab_probe", None)
    if probe is None:  # pragma: no cover - only reachable if a config proxy leaks
        raise AttentionError("the CMAB probe attention ran outside a probe pass")
    if scaling is None:
        scaling = getattr(module, "scaling", query.shape[-1] ** -0.5)
    probe.measure(module, query, key, scaling)
    if module.layer_idx == probe.last:
        raise _StopForward
    return probe.original_function(module)(module, query, key, value, attention_mask, scaling=scaling, **kwargs)


def _register_probe() -> None:
    from transformers.modeling_utils import AttentionInterface

    if PROBE_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(PROBE_ATTENTION, _probe_attention)


def teacher_forced_balance(
    model,
    probe_inputs: ProbeInputs,
    *,
    mode: str = "code",
    layers: int | Sequence[int] | None = None,
    heatmaps: bool = False,
    chunk_size: int = 256,
) -> AttentionBalance:
    """The attention balance of ``probe_inputs``' response from one teacher-forced forward pass.

    Args:
        model: a Hugging Face Qwen2-VL / Qwen2.5-VL model (any attention implementation, any dtype/device).
        probe_inputs: from :func:`build_probe_inputs`.
        mode: ``code`` or ``paper`` (module docstring).
        layers: 0-based decoder layers (default: :func:`resolve_layers`' defaults for ``mode``).
        heatmaps: also return per-image heat maps.
        chunk_size: response query rows whose attention is materialised at once (memory vs. speed).
    """
    import torch

    all_layers = text_layers(model)
    chosen = resolve_layers(mode, len(all_layers), layers)
    if chunk_size < 1:
        raise AttentionError(f"chunk_size must be positive, got {chunk_size}")
    positions = query_positions(mode, probe_inputs.prompt_len, len(probe_inputs.response_ids))
    spans = probe_inputs.spans
    if mode == "code" and spans.first_image == 0:
        raise AttentionError("no text before the first image token (code mode's text span is empty)")
    _register_probe()
    modules = [all_layers[i].self_attn for i in chosen]
    original = modules[0].config._attn_implementation
    probe = _Probe(chosen, positions, spans, heatmaps=heatmaps, chunk_size=chunk_size, original=original)
    saved = [m.config for m in modules]
    try:
        for m in modules:
            m.config = _ProbeConfig(m.config, probe)
        with torch.inference_mode():
            try:
                model(**probe_inputs.inputs, use_cache=False)
            except _StopForward:
                pass
    finally:
        for m, config in zip(modules, saved, strict=True):
            m.config = config
    missing = [layer for layer in chosen if layer not in probe.results]
    if missing:
        raise AttentionError(f"layers {missing} were not reached by the forward pass")
    img, txt, heat_sums = [], [], None
    n_image = spans.image_positions.size
    for layer in chosen:
        masses, heat = probe.results[layer]
        masses = masses.numpy()
        if mode == "code":
            img.append(masses[:, 0] / n_image)
            txt.append(masses[:, 1] / spans.first_image)
        else:
            img.append(masses[:, 0])
            txt.append(masses[:, 2])
        if heatmaps:
            h = heat.double().cpu().numpy()
            heat_sums = h if heat_sums is None else heat_sums + h
    per_image = None
    if heatmaps:
        per_image, offset = [], 0
        for span in spans.images:
            per_image.append(heat_sums[offset : offset + span.length])
            offset += span.length
    return combine(
        mode,
        np.stack(img),
        np.stack(txt),
        layers=chosen,
        positions=positions,
        spans=spans,
        response_len=len(probe_inputs.response_ids),
        heat_sums=per_image,
    )


# ------------------------------------------------------------------------------------- generate() reference
def generate_reference_balance(
    model,
    probe_inputs: ProbeInputs,
    *,
    mode: str = "code",
    layers: int | Sequence[int] | None = None,
    heatmaps: bool = False,
) -> AttentionBalance:
    """The same balance the released code computes: ``generate(output_attentions=True)`` with eager attention.

    The response tokens are forced (a logits processor allows only the next response token), so the attentions
    are those of generating exactly ``probe_inputs.response_ids``. Keeps every layer's attention for every step:
    use it to check :func:`teacher_forced_balance` and to measure what it saves, not to score data.
    """
    steps = generate_attentions(model, probe_inputs)
    return reduce_generate_attentions(steps, probe_inputs, mode=mode, layers=layers, heatmaps=heatmaps)


def generate_attentions(model, probe_inputs: ProbeInputs):
    """``generate(output_attentions=True, eager)`` over the forced response: steps × layers × [1, H, q, keys]."""
    original = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        out = forced_generate(model, probe_inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(original)
    return out.attentions


def forced_generate(model, probe_inputs: ProbeInputs, *, output_attentions: bool = False):
    """``model.generate`` that can only emit ``probe_inputs.response_ids`` (a logits processor forces each token).

    Returns ``generate``'s dict output. With ``output_attentions=False`` and the model's own kernel this is what
    generating the response costs (the benchmark's baseline).
    """
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    response = list(probe_inputs.response_ids)
    n = len(response)
    if n < 1:
        raise AttentionError("the response is empty")

    class _Force(LogitsProcessor):
        def __call__(self, input_ids, scores):
            step = input_ids.shape[1] - probe_inputs.prompt_len
            forced = torch.full_like(scores, float("-inf"))
            forced[:, response[step]] = 0.0
            return forced

    with torch.inference_mode():
        out = model.generate(
            **probe_inputs.prompt_inputs,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            logits_processor=LogitsProcessorList([_Force()]),
            output_attentions=output_attentions,
            return_dict_in_generate=True,
            pad_token_id=getattr(model.generation_config, "pad_token_id", None) or 0,
        )
    generated = out.sequences[0, probe_inputs.prompt_len :].tolist()
    if generated != response:
        raise AttentionError("generate() did not reproduce the forced response tokens")
    return out


def reduce_generate_attentions(
    steps,
    probe_inputs: ProbeInputs,
    *,
    mode: str = "code",
    layers: int | Sequence[int] | None = None,
    heatmaps: bool = False,
) -> AttentionBalance:
    """The balance from :func:`generate_attentions`' output, the way the released code reduces it."""
    num_layers = len(steps[0])
    chosen = resolve_layers(mode, num_layers, layers)
    n = len(probe_inputs.response_ids)
    positions = query_positions(mode, probe_inputs.prompt_len, n)
    spans = probe_inputs.spans
    first_step = 1 if mode == "code" else 0
    image_pos = spans.image_positions
    img = np.zeros((len(chosen), len(positions)))
    txt = np.zeros((len(chosen), len(positions)))
    heat = np.zeros(image_pos.size) if heatmaps else None
    for j, step in enumerate(range(first_step, n)):
        for li, layer in enumerate(chosen):
            a = steps[step][layer][0, :, -1, :].double().mean(dim=0).cpu().numpy()  # heads averaged: [keys]
            on_image = a[image_pos].sum()
            if mode == "code":
                img[li, j] = on_image / image_pos.size
                txt[li, j] = a[: spans.first_image].sum() / spans.first_image
            else:
                img[li, j] = on_image
                txt[li, j] = a.sum() - on_image
            if heat is not None:
                heat += a[image_pos]
    per_image = None
    if heat is not None:
        per_image, offset = [], 0
        for span in spans.images:
            per_image.append(heat[offset : offset + span.length])
            offset += span.length
    return combine(
        mode,
        img,
        txt,
        layers=chosen,
        positions=positions,
        spans=spans,
        response_len=n,
        heat_sums=per_image,
    )
