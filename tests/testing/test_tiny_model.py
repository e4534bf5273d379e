"""The tiny offline VLM loads like a real checkpoint and survives verl's multimodal data path."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from verl_difficulty.testing import build_tiny_vlm


def _digest(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_qwen2vl_dir"])
def test_loads_with_auto_classes_and_generates(fixture, request):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = request.getfixturevalue(fixture)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    expected = {"tiny_model_dir": "Qwen2_5_VL", "tiny_qwen2vl_dir": "Qwen2VL"}[fixture]
    assert type(processor).__name__ == f"{expected}Processor"
    assert type(model).__name__ == f"{expected}ForConditionalGeneration"
    assert type(processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")

    image = Image.new("RGB", (320, 240), (200, 30, 30))
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Count."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    grid = inputs["image_grid_thw"][0]
    n_pad = int((inputs["input_ids"][0] == model.config.image_token_id).sum())
    assert n_pad == int(grid.prod()) // processor.image_processor.merge_size**2 > 0

    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5 or int(out[0, -1]) in model.generation_config.eos_token_id


def test_chat_template_is_qwen_format(tiny_model_dir):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "user", "content": [{"type": "image", "image": "x.png"}, {"type": "text", "text": "Hi"}]},
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    tok = processor.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|endoftext|>"):
        ids = tok.encode(special, add_special_tokens=False)
        assert len(ids) == 1, special
    # Special tokens are never produced by plain text that merely looks similar.
    assert tok.convert_tokens_to_ids("<|image_pad|>") not in tok.encode("<|image pad|>", add_special_tokens=False)


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path, tiny_model_dir):
    a = build_tiny_vlm(tmp_path / "a", seed=0)
    assert _digest(a) == _digest(tiny_model_dir)
    b = build_tiny_vlm(tmp_path / "b", seed=1)
    da, db = _digest(a), _digest(b)
    assert da["model.safetensors"] != db["model.safetensors"]
    assert da["tokenizer.json"] == db["tokenizer.json"]


def test_cli_writes_a_loadable_folder(tmp_path):
    out = tmp_path / "cli-model"
    proc = subprocess.run(
        [sys.executable, "-m", "verl_difficulty.testing.tiny_model", "--out", str(out), "--arch", "qwen2_vl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(out).model_type == "qwen2_vl"


def test_verl_hf_processor_sees_a_multimodal_model(tiny_model_dir):
    from verl.utils import hf_processor, hf_tokenizer

    processor = hf_processor(str(tiny_model_dir))
    tokenizer = hf_tokenizer(str(tiny_model_dir))
    # verl returns None (text-only!) when the processor fails to load, e.g. without torchvision.
    assert processor is not None and type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert hasattr(processor, "get_rope_index")
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"


def test_rlhf_dataset_keeps_multimodal_rows(tmp_path, tiny_model_dir, rlhf_config):
    """verl's RLHFDataset with filter_overlong_prompts=True keeps the row and yields image inputs."""
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_difficulty.data import encode_image, image_entry, make_row
    from verl_difficulty.data.convert import write_parquet

    rows = []
    for i, size in enumerate([(640, 480), (97, 1300), (1280, 720)]):
        img = Image.new("RGB", size, (i * 60, 120, 200))
        rows.append(
            make_row(
                data_source="synthetic",
                sample_id=str(i),
                task="counting",
                question="How many?",
                user_content="<image>How many shapes are there?",
                images=[image_entry(encode_image(img), f"{i}.png")],
                ground_truth="3",
                ability="perception",
            )
        )
    path = write_parquet(rows, tmp_path / "rows.parquet")
    tokenizer = hf_tokenizer(str(tiny_model_dir))
    processor = hf_processor(str(tiny_model_dir))
    config = rlhf_config(max_prompt_length=1024)
    ds = RLHFDataset(str(path), tokenizer, config, processor)
    assert len(ds) == 3
    for i in range(len(ds)):
        item = ds[i]
        images, videos, _ = RLHFDataset._process_multi_modal_info(item["raw_prompt"], ds.image_patch_size, config)
        assert images is not None and len(images) == 1
        text = processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=images, return_tensors="pt")
        assert inputs["pixel_values"].numel() > 0
        assert inputs["image_grid_thw"].shape == (1, 3)
        assert item["extra_info"]["index"] == f"synthetic/{i}"
