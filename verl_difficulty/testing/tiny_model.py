"""Build a tiny, random, fully offline Qwen2.5-VL (or Qwen2-VL) checkpoint folder.

The folder looks exactly like a real Hugging Face checkpoint: ``config.json``, ``model.safetensors``,
``generation_config.json``, a byte-level BPE tokenizer trained locally (Qwen2 pre-tokenisation, the Qwen
special tokens ``<|im_start|>``, ``<|vision_start|>``, ``<|image_pad|>`` ... and a Qwen-style chat template),
the ``Qwen2VLImageProcessor``, the video processor and the ``Qwen2_5_VLProcessor``. It loads with
``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained`` and with verl's ``hf_tokenizer`` /
``hf_processor``, so tests and demos run verl's real multimodal code path on CPU without any download.

The same ``seed`` and settings always give byte-identical weights and tokenizer files.

Command line::

    python -m verl_difficulty.testing.tiny_model --out /tmp/tiny-qwen25vl
    python -m verl_difficulty.testing.tiny_model --out /tmp/tiny-qwen2vl --arch qwen2_vl --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ARCHES = ("qwen2_5_vl", "qwen2_vl")

#: Qwen's special tokens, in Qwen's own order (their ids follow the BPE vocabulary here).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: A Qwen-VL style chat template: a default system turn, images and videos as
#: ``<|vision_start|><|image_pad|><|vision_end|>``, ``<|im_start|>role ... <|im_end|>`` turns.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}"
    "{{- message['content'] }}"
    "{%- else %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in content %}"
    "{{- content['text'] }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


@dataclass
class TinyVLMConfig:
    """Sizes of the tiny model. The defaults give ~0.4 M parameters and run a forward pass in milliseconds."""

    arch: str = "qwen2_5_vl"
    seed: int = 0
    vocab_size: int = 2048  # BPE vocabulary (the special tokens come on top)
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vision_depth: int = 2
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_num_heads: int = 2
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    #: Images are resized so that (pixels / 28**2) lies in [min_pixels, max_pixels] / 28**2 visual tokens.
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 256 * 28 * 28
    max_position_embeddings: int = 4096
    extra_corpus: list[str] = field(default_factory=list)


def _corpus(extra: list[str]) -> list[str]:
    """Deterministic text the BPE vocabulary is trained on: English, math/LaTeX, OCR-ish words, chat markup."""
    words = (
        "the a an of to in is are was be and or not what which how many where when who why find value answer "
        "question image picture shown figure diagram below above left right top bottom center middle text word "
        "read write box bounding count number total sum difference product ratio area perimeter length width "
        "height angle triangle circle square rectangle polygon line segment point radius diameter chord tangent "
        "degree degrees measure side sides equal parallel perpendicular similar congruent opposite adjacent "
        "hypotenuse sin cos tan log sqrt frac pi theta alpha beta gamma x y z m n k a b c d e f g h "
        "red green blue yellow black white orange purple gray shape shapes circles squares triangles star stars "
        "object objects there it its this that these those each every all some none one two three four five six "
        "seven eight nine ten eleven twelve hundred thousand first second third last option options choose "
        "correct incorrect true false yes no please think step reasoning final output format coordinates "
        "street sign shop store hotel road exit open close sale price total receipt date time tel "
        "system user assistant helpful reasoning process enclosed within tags respectively here mind provide"
    ).split()
    latex = [
        r"\frac{1}{2}",
        r"\sqrt{3}",
        r"\pi",
        r"\angle",
        r"\triangle",
        r"\circ",
        r"^{\circ}",
        r"\boxed{",
        r"\left(",
        r"\right)",
        r"\cdot",
        r"\times",
        r"\leq",
        r"\geq",
        r"\neq",
        r"\infty",
        r"\overline{AB}",
        r"\text{cm}",
    ]
    markup = [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "[x1, y1, x2, y2]",
        '{"bbox_2d": [10, 20, 30, 40]}',
        "A.",
        "B.",
        "C.",
        "D.",
        "E.",
        "(A)",
        "(B)",
        "Answer:",
        "The answer is",
    ]
    lines: list[str] = []
    for i, w in enumerate(words):
        lines.append(f"{w} {words[(i * 7 + 3) % len(words)]} {w.capitalize()} {w.upper()} {i} {i * 13 % 100}.")
    for i, t in enumerate(latex):
        lines.append(f"$x = {t} {i}$ and {t}")
    lines.extend(" ".join(markup[j:] + markup[:j]) for j in range(len(markup)))
    lines.extend(" ".join(str(d) for d in range(k, k + 10)) for k in range(0, 100, 10))
    lines.extend(extra)
    return lines * 4


def _train_tokenizer(cfg: TinyVLMConfig, out: Path):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_corpus(cfg.extra_corpus), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]

    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
        model_max_length=cfg.max_position_embeddings,
        clean_up_tokenization_spaces=False,
        errors="replace",
        split_special_tokens=False,
    )
    # Qwen's ids: every special token after the regular vocabulary, in Qwen's order.
    specials = [AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS]
    tokenizer.add_tokens(specials, special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return tokenizer


def _model_config(cfg: TinyVLMConfig, token_ids: dict[str, int], vocab_size: int):
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    half = head_dim // 2
    # Multimodal RoPE splits each head's rotary half between time, height and width.
    t = half // 4 if half >= 4 else 1
    hw = half - t
    mrope_section = [t, hw // 2, hw - hw // 2]
    text = dict(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=token_ids["<|im_end|>"],
        pad_token_id=token_ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    ids = dict(
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
    )
    if cfg.arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = dict(
            depth=cfg.vision_depth,
            hidden_size=cfg.vision_hidden_size,
            intermediate_size=cfg.vision_intermediate_size,
            num_heads=cfg.vision_num_heads,
            patch_size=cfg.patch_size,
            spatial_merge_size=cfg.spatial_merge_size,
            temporal_patch_size=cfg.temporal_patch_size,
            window_size=cfg.patch_size * cfg.spatial_merge_size * 4,
            out_hidden_size=cfg.hidden_size,
            fullatt_block_indexes=[cfg.vision_depth - 1],
        )
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    if cfg.arch == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = dict(
            depth=cfg.vision_depth,
            embed_dim=cfg.vision_hidden_size,
            mlp_ratio=max(1, cfg.vision_intermediate_size // cfg.vision_hidden_size),
            num_heads=cfg.vision_num_heads,
            patch_size=cfg.patch_size,
            spatial_merge_size=cfg.spatial_merge_size,
            temporal_patch_size=cfg.temporal_patch_size,
            hidden_size=cfg.hidden_size,
        )
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    raise ValueError(f"arch must be one of {ARCHES}, got {cfg.arch!r}")


def build_tiny_vlm(out_dir: str | os.PathLike, config: TinyVLMConfig | None = None, **overrides) -> Path:
    """Write a tiny random VLM checkpoint folder to ``out_dir`` and return its path.

    Args:
        out_dir: folder to create (replaced atomically if it exists).
        config: sizes and settings; keyword ``overrides`` replace single fields (``seed=1, arch="qwen2_vl"``).

    Returns:
        ``Path(out_dir)``, loadable with ``AutoProcessor.from_pretrained`` and
        ``AutoModelForImageTextToText.from_pretrained``.
    """
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    cfg = TinyVLMConfig(**{**asdict(config or TinyVLMConfig()), **overrides})
    if cfg.arch not in ARCHES:
        raise ValueError(f"arch must be one of {ARCHES}, got {cfg.arch!r}")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tokenizer = _train_tokenizer(cfg, tmp)
        token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
        vocab_size = ((len(tokenizer) + 63) // 64) * 64
        model_config = _model_config(cfg, token_ids, vocab_size)

        # Deterministic initialisation: fork the global RNG so callers' random state is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = AutoModelForImageTextToText.from_config(model_config, dtype=torch.float32)
        model.generation_config = GenerationConfig(
            bos_token_id=token_ids["<|endoftext|>"],
            eos_token_id=[token_ids["<|im_end|>"], token_ids["<|endoftext|>"]],
            pad_token_id=token_ids["<|endoftext|>"],
            do_sample=False,
        )
        model.save_pretrained(tmp, safe_serialization=True)
        _save_processor(cfg, tmp, tokenizer)
        (tmp / "tiny_vlm.json").write_text(json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _save_processor(cfg: TinyVLMConfig, out: Path, tokenizer) -> None:
    from transformers import Qwen2VLImageProcessor

    image_processor = Qwen2VLImageProcessor(
        min_pixels=cfg.min_pixels,
        max_pixels=cfg.max_pixels,
        patch_size=cfg.patch_size,
        temporal_patch_size=cfg.temporal_patch_size,
        merge_size=cfg.spatial_merge_size,
    )
    video_processor = None
    try:
        from transformers import Qwen2VLVideoProcessor

        video_processor = Qwen2VLVideoProcessor(
            min_pixels=cfg.min_pixels,
            max_pixels=cfg.max_pixels,
            patch_size=cfg.patch_size,
            temporal_patch_size=cfg.temporal_patch_size,
            merge_size=cfg.spatial_merge_size,
        )
    except ImportError:  # pragma: no cover - video processing needs torchvision
        pass
    if cfg.arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor as Processor
    else:
        from transformers import Qwen2VLProcessor as Processor
    processor = Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verl_difficulty.testing.tiny_model",
        description="Write a tiny random Qwen2.5-VL / Qwen2-VL checkpoint folder (offline, deterministic).",
    )
    parser.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    parser.add_argument("--arch", choices=ARCHES, default="qwen2_5_vl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden-size", type=int, default=TinyVLMConfig.hidden_size)
    parser.add_argument("--layers", type=int, default=TinyVLMConfig.num_hidden_layers)
    parser.add_argument("--max-pixels", type=int, default=TinyVLMConfig.max_pixels)
    args = parser.parse_args(argv)
    path = build_tiny_vlm(
        args.out,
        arch=args.arch,
        seed=args.seed,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        max_pixels=args.max_pixels,
    )
    print(f"wrote {args.arch} tiny model to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
