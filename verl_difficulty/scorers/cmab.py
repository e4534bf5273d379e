"""CMAB: Cross-Modality Attention Balance (AAAI 2026, arXiv 2511.06722), the reasoning-heavy data's difficulty.

For each row the scorer

1. runs the correctness **gate** (default: pass@k with the rule-based verifier on the row's own prompt; ``none``;
   or your callable). A row that fails it is ``unsolved`` and gets no ρ̄;
2. samples one **probe** response through the engine (any backend): the row's question behind an instruction to
   answer one reasoning step at a time, each step ending in ``<end>``; generation stops at the first ``<end>``
   (temperature 0.5, top-p 0.9, as the authors' released code);
3. measures the response's **attention balance** ρ̄ (image vs. text attention) in one teacher-forced forward
   pass of a Hugging Face model (:mod:`.cmab_attention`): the engine's own model when it has one (the
   ``transformers`` engine), else one loaded from ``attention_model``;
4. maps ρ̄ to a tier with :class:`~verl_difficulty.tiers.CMABTiers` (easy: ρ̄ < 0.1 or > 1.9; mid: [0.1, 0.4)
   or (1.6, 1.9]; hard: [0.4, 1.6]).

Settings (``settings.cmab`` in the scoring YAML, ``--set cmab.KEY=VALUE``; unknown keys are errors):

=====================  ==================  ===================================================================
key                    default             meaning
=====================  ==================  ===================================================================
mode                   ``code``            ``code`` (released code: one layer, ρ̄ = Σ img / Σ txt) or ``paper``
                                           (geometric mean over layers, mean over tokens); docs/cmab.md
layer                  null                code mode's 0-based layer; null: round(20 · L / 28) (20 for 28 layers)
layers                 null                paper mode's 0-based layers; null: 1 .. L-2 (the paper's 2..L-1)
probe_prompt           (built in)          text put before the question; null: the question alone
image_layout           ``after_text``      ``after_text``: images after the question text (released code);
                                           ``as_in_row``: the row's own placeholder positions
keep_system_prompt     false               keep the row's system message in the probe (released code: none)
temperature, top_p     0.5, 0.9            probe sampling
max_new_tokens         2048                probe length cap
stop                   [``<end>``]         probe stop strings (the measured text ends before the first one)
gate                   ``pass@k``          ``pass@k``, ``none``, or ``package.module:function`` (docs/cmab.md)
gate_k                 8                   attempts of the pass@k gate
gate_temperature ...   0.5, 0.9, 1024      gate sampling (``gate_temperature``, ``gate_top_p``,
                                           ``gate_max_new_tokens``)
verify                 {}                  verifier settings for the gate (:class:`VerifySettings` fields)
heatmaps               false               store ``details.heatmap`` (and ``heatmaps`` for several images)
per_token              false               store ``details.per_token`` (one entry per measured token)
attention_model        null                checkpoint for the attention pass; null: the engine's model
device, dtype          ``auto``            where / how to load ``attention_model`` (auto: cuda + bfloat16 when
                                           available, else cpu + float32); ignored when the engine's model is used
attn_implementation    ``sdpa``            attention kernel of a loaded ``attention_model`` (any works)
processor_kwargs       {}                  ``AutoProcessor.from_pretrained`` arguments for ``attention_model``
                                           (e.g. the engine's ``max_pixels``: the image must get the same tokens)
chunk_size             256                 response rows whose attention is materialised at once
seed                   0                   base seed; every request's seed derives from it and the sample id
=====================  ==================  ===================================================================
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verl_difficulty.difficulty import MetricRecord
from verl_difficulty.scorers.base import (
    RowError,
    Scorer,
    ScorerConfigError,
    judge,
    row_images,
    row_messages,
    sample_id,
)

IMAGE = "<image>"
MODES = ("code", "paper")
LAYOUTS = ("after_text", "as_in_row")
DEVICES_DTYPES = ("auto", "bfloat16", "float16", "float32")

#: The probe instruction (the released code asks for steps ending in <end> and a boxed final answer, with two
#: worked examples; this is the package's own wording of that request, with one example).
DEFAULT_PROBE_PROMPT = (
    "Solve the question step by step. Write one reasoning step at a time, end every step with <end>, and give "
    "the final answer as \\boxed{} in the last step. For example:\n"
    "Question: A box holds 4 rows of 6 eggs. How many eggs are in the box?\n"
    "### Step 1: Each row holds 6 eggs and there are 4 rows, so I multiply 4 by 6. <end>\n"
    "### Step 2: 4 times 6 is 24. <end>\n"
    "### Final Answer: The answer is \\boxed{24}. <end>\n"
    "Now answer this question step by step:\n"
)


@dataclass(frozen=True)
class CMABSettings:
    """CMAB scorer settings (see the module docstring for each)."""

    mode: str = "code"
    layer: int | None = None
    layers: tuple[int, ...] | None = None
    probe_prompt: str | None = DEFAULT_PROBE_PROMPT
    image_layout: str = "after_text"
    keep_system_prompt: bool = False
    temperature: float = 0.5
    top_p: float = 0.9
    max_new_tokens: int = 2048
    stop: tuple[str, ...] = ("<end>",)
    gate: str = "pass@k"
    gate_k: int = 8
    gate_temperature: float = 0.5
    gate_top_p: float = 0.9
    gate_max_new_tokens: int = 1024
    verify: dict = field(default_factory=dict)
    heatmaps: bool = False
    per_token: bool = False
    attention_model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = "sdpa"
    processor_kwargs: dict = field(default_factory=dict)
    chunk_size: int = 256
    seed: int = 0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d


def _fail(name: str, expected: str, value: Any):
    raise ScorerConfigError(f"cmab.{name}: expected {expected}, got {value!r}")


def _int(name: str, value: Any, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        _fail(name, f"an integer >= {lo}", value)
    return value


def _number(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        _fail(name, "a number", value)
    if value > hi or value < lo or (lo_open and value == lo):
        _fail(name, f"a number in {'(' if lo_open else '['}{lo}, {hi}]", value)
    return float(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(name, "true or false", value)
    return value


def parse_cmab_settings(raw: Mapping[str, Any]) -> CMABSettings:
    """Validate ``raw`` into :class:`CMABSettings`; :class:`ScorerConfigError` names the bad key."""
    raw = dict(raw)
    allowed = {f.name for f in dataclasses.fields(CMABSettings)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ScorerConfigError(f"cmab: unknown setting(s) {unknown}; expected some of {sorted(allowed)}")
    s = {k: v for k, v in raw.items()}
    if "mode" in s and s["mode"] not in MODES:
        _fail("mode", f"one of {list(MODES)}", s["mode"])
    if s.get("layer") is not None:
        _int("layer", s["layer"])
    if s.get("layers") is not None:
        layers = s["layers"]
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
            _fail("layers", "a non-empty list of layer indices", layers)
        s["layers"] = tuple(sorted({_int("layers", x) for x in layers}))
    mode = s.get("mode", "code")
    if mode == "code" and s.get("layers") is not None:
        raise ScorerConfigError("cmab.layers: only for mode: paper; code mode measures one `layer`")
    if mode == "paper" and s.get("layer") is not None:
        raise ScorerConfigError("cmab.layer: only for mode: code; paper mode takes a list of `layers`")
    if s.get("probe_prompt") is not None and not isinstance(s["probe_prompt"], str):
        _fail("probe_prompt", "a string or null", s["probe_prompt"])
    if "image_layout" in s and s["image_layout"] not in LAYOUTS:
        _fail("image_layout", f"one of {list(LAYOUTS)}", s["image_layout"])
    for name in ("keep_system_prompt", "heatmaps", "per_token"):
        if name in s:
            _bool(name, s[name])
    for name in ("temperature", "gate_temperature"):
        if name in s:
            _number(name, s[name], 0.0, 100.0)
    for name in ("top_p", "gate_top_p"):
        if name in s:
            _number(name, s[name], 0.0, 1.0, lo_open=True)
    for name in ("max_new_tokens", "gate_max_new_tokens", "gate_k", "chunk_size"):
        if name in s:
            _int(name, s[name], 1)
    if "seed" in s:
        _int("seed", s["seed"])
    if "stop" in s:
        stop = s["stop"]
        if stop is None:
            stop = ()
        if isinstance(stop, str):
            stop = (stop,)
        if not all(isinstance(x, str) and x for x in stop):
            _fail("stop", "a list of non-empty strings", s["stop"])
        s["stop"] = tuple(stop)
    if "gate" in s:
        gate = s["gate"]
        if not isinstance(gate, str) or not gate:
            _fail("gate", "'pass@k', 'none' or 'package.module:function'", gate)
        if gate.startswith("pass@") and gate != "pass@k":
            raise ScorerConfigError(f"cmab.gate: write `gate: pass@k` and set `gate_k` (got {gate!r})")
        if gate not in ("pass@k", "none") and "." not in gate and ":" not in gate:
            _fail("gate", "'pass@k', 'none' or a dotted path to a callable", gate)
    if "verify" in s:
        verify = s["verify"] or {}
        if not isinstance(verify, Mapping):
            _fail("verify", "a mapping of verifier settings", verify)
        from verl_difficulty.verify.settings import VerifySettings

        bad = sorted(set(verify) - set(VerifySettings.field_names()))
        if bad:
            raise ScorerConfigError(
                f"cmab.verify: unknown setting(s) {bad}; expected {list(VerifySettings.field_names())}"
            )
        try:
            VerifySettings.from_kwargs(verify)
        except ValueError as e:
            raise ScorerConfigError(f"cmab.verify: {e}") from e
        s["verify"] = dict(verify)
    if s.get("attention_model") is not None and not isinstance(s["attention_model"], str):
        _fail("attention_model", "a checkpoint path or null", s["attention_model"])
    if "device" in s and (not isinstance(s["device"], str) or not s["device"]):
        _fail("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", s["device"])
    if "dtype" in s and s["dtype"] not in DEVICES_DTYPES:
        _fail("dtype", f"one of {list(DEVICES_DTYPES)}", s["dtype"])
    if "attn_implementation" in s and (not isinstance(s["attn_implementation"], str) or not s["attn_implementation"]):
        _fail(
            "attn_implementation",
            "an attention implementation name (sdpa, eager, flash_attention_2)",
            s["attn_implementation"],
        )
    if "processor_kwargs" in s:
        if not isinstance(s["processor_kwargs"], Mapping):
            _fail("processor_kwargs", "a mapping of AutoProcessor.from_pretrained arguments", s["processor_kwargs"])
        s["processor_kwargs"] = dict(s["processor_kwargs"])
    return CMABSettings(**s)


def probe_messages(messages: Sequence[Mapping[str, Any]], settings: CMABSettings) -> list[dict]:
    """The probe's chat messages built from a row's ``messages`` (see :class:`CMABSettings`).

    The last user turn becomes ``probe_prompt`` + its text; with ``image_layout: after_text`` its ``<image>``
    placeholders move after the text (the released code's order: text, then image). System messages are
    dropped unless ``keep_system_prompt`` (the chat template then adds its default system prompt).
    """
    out = [dict(m) for m in messages if settings.keep_system_prompt or m.get("role") != "system"]
    users = [i for i, m in enumerate(out) if m.get("role") == "user"]
    if not users:
        raise RowError("row prompt has no user message")
    u = users[-1]
    content = out[u].get("content")
    prefix = settings.probe_prompt or ""
    if isinstance(content, str):
        if settings.image_layout == "after_text":
            n = content.count(IMAGE)
            text = content.replace(IMAGE, "").strip()
            out[u]["content"] = prefix + text + IMAGE * n
        else:
            out[u]["content"] = prefix + content
        return out
    parts = [dict(p) for p in content or []]
    if settings.image_layout == "after_text":
        images = [p for p in parts if p.get("type") == "image"]
        parts = [p for p in parts if p.get("type") != "image"] + images
    if prefix:
        parts.insert(0, {"type": "text", "text": prefix})
    out[u]["content"] = parts
    return out


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` before the earliest stop string (what every engine returns; a no-op when it is already cut)."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i >= 0:
            cut = min(cut, i)
    return text[:cut]


def load_callable(path: str) -> Callable:
    """``package.module:function`` or ``package.module.function`` → the function (a clear error otherwise)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ScorerConfigError(f"cmab.gate: cannot import {path!r} ({type(e).__name__}: {e})") from e
    if not callable(fn):
        raise ScorerConfigError(f"cmab.gate: {path!r} is not callable")
    return fn


@dataclass
class _Row:
    row: Mapping[str, Any]
    sid: str = ""
    messages: list = field(default_factory=list)
    images: list = field(default_factory=list)
    probe: list = field(default_factory=list)
    error: str | None = None
    gate: str = "none"
    gate_correct: int | None = None
    gate_attempts: int = 0
    gate_details: dict = field(default_factory=dict)
    response: str | None = None
    solved_response: str | None = None  # the first gate answer judged correct (the SFT "chain" target)


class CMABScorer(Scorer):
    """The CMAB difficulty of rows (module docstring): gate, probe, teacher-forced attention balance, tier.

    Args:
        engine: generates gate attempts and the probe (any backend). When it exposes a transformers ``model`` and
            ``processor`` (the transformers engine), they also run the attention pass.
        settings: see :class:`CMABSettings`.
        tiers: tier thresholds (``tiers.cmab``).
    """

    metric = "cmab"

    def __init__(self, engine, settings=None, tiers=None):
        super().__init__(engine, settings, tiers)
        s = self.settings
        self._gate_fn = load_callable(s.gate) if s.gate not in ("pass@k", "none") else None
        self._model = None
        self._processor = None
        self._attention_source: str | None = None

    def parse_settings(self, settings: dict[str, Any]) -> CMABSettings:
        return parse_cmab_settings(settings)

    # ------------------------------------------------------------------------------------------- interface
    def estimate(self, num_rows: int) -> dict[str, Any]:
        s = self.settings
        gate_gens = s.gate_k if s.gate == "pass@k" else 0
        return {
            "rows": num_rows,
            "generations_max": num_rows * (gate_gens + 1),
            "gate_generations_max": num_rows * gate_gens,
            "probe_generations_max": num_rows,
            "attention_forward_passes_max": num_rows,
            "probe_tokens_max": num_rows * s.max_new_tokens,
        }

    def provenance(self) -> dict[str, Any]:
        prov = super().provenance()
        prov["attention_model"] = self.settings.attention_model or "engine"
        return prov

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[MetricRecord]:
        from verl_difficulty.engines.base import SamplingSettings

        s = self.settings
        prov = self.provenance()
        states = [self._prepare(row) for row in rows]
        if any(st.error is None for st in states):
            self.attention_backend()  # a model that cannot be measured fails here, before any generation
        self._run_gate([st for st in states if st.error is None])
        todo = [st for st in states if st.error is None and st.gate in ("passed", "none")]
        if todo:
            sampling = SamplingSettings(
                temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens, stop=s.stop
            )
            outs = self._generate(todo, "probe", [st.probe for st in todo], sampling, n=1)
            for st, out in zip(todo, outs, strict=True):
                if not out:
                    st.error = "engine error: no probe completion returned"
                else:
                    st.response = cut_at_stop(out[0], s.stop)
        return [self._record(st, prov) for st in states]

    # ------------------------------------------------------------------------------------------- stages
    def _generate(self, states: list[_Row], stage: str, messages: list, sampling, n: int) -> list[list[str]]:
        """One request per row (seeded from the row's id and ``stage``), completions in row order."""
        from verl_difficulty.engines.base import GenerationRequest, request_seed

        requests = [
            GenerationRequest(
                sample_id=st.sid,
                messages=msgs,
                images=st.images,
                sampling=sampling,
                n=n,
                seed=request_seed(self.settings.seed, f"cmab-{stage}", st.sid),
                meta={"metric": "cmab", "stage": stage},
            )
            for st, msgs in zip(states, messages, strict=True)
        ]
        outs = self.engine.generate(requests)
        if len(outs) != len(requests):
            raise RuntimeError(f"engine returned {len(outs)} results for {len(requests)} {stage} requests")
        return outs

    def _prepare(self, row: Mapping[str, Any]) -> _Row:
        st = _Row(row=row)
        try:
            st.sid = sample_id(row)
            st.messages = row_messages(row)
            st.images = row_images(row)
            if not st.images:
                raise RowError("row has no image: CMAB measures the attention paid to image tokens")
            from verl_difficulty.engines.base import count_image_placeholders

            n = count_image_placeholders(st.messages)
            if n != len(st.images):
                raise RowError(f"{n} '<image>' placeholder(s) in the prompt but {len(st.images)} image(s)")
            st.probe = probe_messages(st.messages, self.settings)
        except (RowError, KeyError, TypeError, ValueError) as e:  # a malformed row, not a failure of the run
            st.error = f"{type(e).__name__}: {e}"
        return st

    def _run_gate(self, states: list[_Row]) -> None:
        s = self.settings
        if s.gate == "none":
            return
        if self._gate_fn is not None:
            for st in states:
                self._custom_gate(st)
            return
        from verl_difficulty.engines.base import SamplingSettings
        from verl_difficulty.verify.settings import VerifySettings

        if not states:
            return
        verify = VerifySettings.from_kwargs(s.verify)
        sampling = SamplingSettings(
            temperature=s.gate_temperature, top_p=s.gate_top_p, max_new_tokens=s.gate_max_new_tokens
        )
        outs = self._generate(states, "gate", [st.messages for st in states], sampling, n=s.gate_k)
        for st, completions in zip(states, outs, strict=True):
            try:
                verdicts = [judge(st.row, c, verify).get("acc", 0.0) >= 1.0 for c in completions]
            except RowError as e:
                st.error = f"RowError: {e}"
                continue
            correct = sum(verdicts)
            st.gate_attempts = len(completions)
            st.gate_correct = correct
            st.gate = "passed" if correct > 0 else "failed"
            st.solved_response = next((c for c, ok in zip(completions, verdicts) if ok), None)

    def _custom_gate(self, st: _Row) -> None:
        try:
            verdict = self._gate_fn(st.row, self.engine)
        except RowError as e:
            st.error = f"RowError: {e}"
            return
        except Exception as e:
            st.error = f"gate error: {type(e).__name__}: {e}"
            return
        if isinstance(verdict, bool):
            verdict = {"passed": verdict}
        if not isinstance(verdict, Mapping) or not isinstance(verdict.get("passed"), bool):
            st.error = (
                f"gate error: {self.settings.gate} must return a bool or a mapping with 'passed', got {verdict!r}"
            )
            return
        st.gate = "passed" if verdict["passed"] else "failed"
        st.gate_correct = verdict.get("correct")
        st.gate_attempts = int(verdict.get("attempts", 0) or 0)
        st.gate_details = {k: v for k, v in verdict.items() if k not in ("passed", "correct", "attempts")}

    def _record(self, st: _Row, prov: dict) -> MetricRecord:
        s = self.settings
        if st.error is not None:
            return MetricRecord.failed(st.error, prov)
        details: dict[str, Any] = {"mode": s.mode, "gate": st.gate, "gate_correct": st.gate_correct}
        if s.gate == "pass@k":
            details["gate_k"] = s.gate_k
        if st.gate_details:
            details["gate_details"] = st.gate_details
        if st.solved_response is not None:
            details["solved_response"] = st.solved_response
        if st.gate == "failed":
            return MetricRecord("unsolved", None, None, st.gate_attempts, st.gate_correct or 0, [], details, prov)
        from verl_difficulty.scorers.cmab_attention import AttentionError

        try:
            balance, tokens = self._measure(st)
        except AttentionError as e:
            return MetricRecord.failed(f"AttentionError: {e}", prov)
        except (ValueError, RuntimeError) as e:  # the processor or the forward pass refused this row
            return MetricRecord.failed(f"attention pass: {type(e).__name__}: {e}", prov)
        details.update(self._details(balance, tokens, st.response))
        tier = self.tiers.cmab.tier(balance.rho)
        return MetricRecord(tier, balance.rho, None, st.gate_attempts + 1, st.gate_correct or 0, [], details, prov)

    # ------------------------------------------------------------------------------------------- attention
    def attention_backend(self):
        """The (model, processor) of the attention pass: the engine's own, else ``attention_model`` loaded once."""
        if self._model is not None:
            return self._model, self._processor
        import torch

        s = self.settings
        model = getattr(self.engine, "model", None)
        processor = getattr(self.engine, "processor", None)
        if s.attention_model is None and isinstance(model, torch.nn.Module) and processor is not None:
            self._check_layers(model)
            self._model, self._processor, self._attention_source = model, processor, "engine"
            return model, processor
        path = s.attention_model
        if path is None:
            desc = self.engine.describe() if self.engine is not None else {}
            path = desc.get("model") or getattr(self.engine, "model_path", None)
            if not isinstance(path, str) or not path:
                name = desc.get("engine", type(self.engine).__name__)
                raise ScorerConfigError(
                    f"cmab.attention_model: the {name} engine has no local model for the attention pass; "
                    "set cmab.attention_model to a Hugging Face checkpoint folder"
                )
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = s.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = s.dtype
        if dtype == "auto":
            dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                path, dtype=getattr(torch, dtype), attn_implementation=s.attn_implementation
            )
            processor = AutoProcessor.from_pretrained(path, **s.processor_kwargs)
        except (OSError, ValueError) as e:
            raise ScorerConfigError(f"cmab.attention_model: cannot load {path!r} ({type(e).__name__}: {e})") from e
        self._model = model.to(device).eval()
        self._processor = processor
        self._attention_source = path
        self._check_layers(self._model)
        return self._model, self._processor

    def _layers_setting(self):
        s = self.settings
        return s.layer if s.mode == "code" else (None if s.layers is None else list(s.layers))

    def _check_layers(self, model) -> None:
        """Fail at once (not row by row) when ``layer`` / ``layers`` do not fit the model's depth."""
        from verl_difficulty.scorers.cmab_attention import AttentionError, resolve_layers, text_layers

        try:
            resolve_layers(self.settings.mode, len(text_layers(model)), self._layers_setting())
        except AttentionError as e:
            raise ScorerConfigError(f"cmab.{e}") from e

    def _measure(self, st: _Row):
        from verl_difficulty.scorers.cmab_attention import build_probe_inputs, teacher_forced_balance

        s = self.settings
        model, processor = self.attention_backend()
        inputs = build_probe_inputs(model, processor, st.probe, st.images, st.response or "")
        balance = teacher_forced_balance(
            model, inputs, mode=s.mode, layers=self._layers_setting(), heatmaps=s.heatmaps, chunk_size=s.chunk_size
        )
        tokens = None
        if s.per_token:
            tokens = processor.tokenizer.convert_ids_to_tokens(inputs.response_ids)
        return balance, tokens

    def _details(self, balance, tokens, response: str | None) -> dict[str, Any]:
        s = self.settings
        spans = balance.spans
        d: dict[str, Any] = {
            "generated_tokens": balance.response_len,
            "measured_tokens": int(len(balance.positions)),
            "image_tokens": int(spans.image_positions.size),
            "images": len(spans.images),
            "probe_response": (response or "")[:2000],
        }
        if s.mode == "code":
            d["layer"] = balance.layers[0]
            d["text_tokens"] = spans.first_image
            d["img_attention"] = _round(float(balance.img[0].sum()))
            d["txt_attention"] = _round(float(balance.txt[0].sum()))
        else:
            d["layers"] = balance.layers
            d["per_layer_rho"] = [_round(x) for x in balance.per_layer_rho]
            d["img_mass"] = _round(float(balance.img.mean()))
        if balance.heat is not None:
            maps = [
                {
                    "grid": [int(h.shape[0]), int(h.shape[1])],
                    "values": [_round(float(v)) for v in h.ravel()],
                    "image": i,
                }
                for i, h in enumerate(balance.heat)
            ]
            d["heatmap"] = maps[0]
            if len(maps) > 1:
                d["heatmaps"] = maps
        if tokens is not None:
            first = 1 if s.mode == "code" else 0  # generated token index of the first measured step
            rows = []
            for j in range(len(balance.positions)):
                t = first + j
                entry = {"t": t, "token": tokens[t], "rho": _round(float(balance.rho_tokens[j]))}
                if s.mode == "code":
                    entry["img"] = _round(float(balance.img[0, j]))
                    entry["txt"] = _round(float(balance.txt[0, j]))
                rows.append(entry)
            d["per_token"] = rows
        return d


def _round(x: float) -> float | None:
    if not math.isfinite(x):
        return None
    return float(f"{x:.6g}")
