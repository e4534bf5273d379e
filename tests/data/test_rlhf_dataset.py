"""Converted rows through verl's real ``RLHFDataset`` with the tiny Qwen2.5-VL processor, as a training run reads them.

For every row: it survives ``filter_overlong_prompts=True`` (so the processor accepted its prompt and images),
``__getitem__`` builds ``raw_prompt`` with one image item per ``<image>``, and the agent loop's image path
(``RLHFDataset._process_multi_modal_info`` -> ``process_vision_info``, then the processor) gives
``pixel_values`` and one ``image_grid_thw`` row per image, with as many ``<|image_pad|>`` tokens as the grids
hold. Then verl's ``collate_fn`` batches the items.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_difficulty.data.convert import read_rows

#: Large enough for the biggest MATH-V image (2520 x 2761) at the processor's pixel cap.
MAX_PROMPT_LENGTH = 32_768


@pytest.fixture(scope="module")
def verl_stack(tiny_model_dir):
    from verl.utils import hf_processor, hf_tokenizer

    tokenizer = hf_tokenizer(str(tiny_model_dir))
    processor = hf_processor(str(tiny_model_dir))
    assert processor is not None, "hf_processor returned None: verl would treat the model as text-only"
    return tokenizer, processor


@pytest.fixture
def make_dataset(verl_stack, rlhf_config):
    """``make_dataset(files)`` -> verl's ``RLHFDataset`` over ``files`` with the tiny model's processor."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer, processor = verl_stack
    # filter_overlong_prompts=True; filtering runs in-process (see the rlhf_config fixture on forks).
    config = rlhf_config(max_prompt_length=MAX_PROMPT_LENGTH, truncation="error", return_raw_chat=True)
    assert config.filter_overlong_prompts is True

    def make(files: list[Path]):
        return RLHFDataset(data_files=[str(f) for f in files], tokenizer=tokenizer, config=config, processor=processor)

    return make


def check_items(dataset, processor, expected: dict[str, dict]) -> int:
    """Check every item against its source row (by ``extra_info.index``); return the number of images seen."""
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    pad_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = processor.image_processor.merge_size
    seen, n_images = set(), 0
    for i in range(len(dataset)):
        item = dataset[i]
        sid = item["extra_info"]["index"]
        row = expected[sid]
        seen.add(sid)
        assert item["index"] == sid and item["extra_info"]["task"] == row["extra_info"]["task"]
        messages = item["raw_prompt"]
        image_items = [
            c for m in messages if isinstance(m["content"], list) for c in m["content"] if c["type"] == "image"
        ]
        assert len(image_items) == len(row["images"]), sid

        images, videos, audios = RLHFDataset._process_multi_modal_info(
            messages, image_patch_size=dataset.image_patch_size, config=dataset.config
        )
        assert videos is None and audios is None
        assert images is not None and len(images) == len(row["images"]), sid
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        # the question survives into the rendered prompt (placeholders became vision tokens)
        assert row["prompt"][-1]["content"].split("<image>")[-1].strip()[:40] in text, sid
        inputs = build_multimodal_processor_inputs(processor, text=[text], images=images)
        grid = inputs["image_grid_thw"]
        assert tuple(grid.shape) == (len(images), 3), sid
        assert inputs["pixel_values"].shape[0] == int(grid.prod(dim=-1).sum()), sid
        n_pad = int((inputs["input_ids"][0] == pad_id).sum())
        assert n_pad == int(grid.prod(dim=-1).sum()) // merge**2, sid
        assert inputs["input_ids"].shape[1] <= MAX_PROMPT_LENGTH
        n_images += len(images)
    assert seen == set(expected), f"rows missing from the dataset: {sorted(set(expected) - seen)[:5]}"
    return n_images


@pytest.mark.slow
def test_every_mathv_row_loads_with_image_inputs(shared_parquets, verl_stack, make_dataset):
    rows = {r["extra_info"]["index"]: r for r in read_rows(shared_parquets["mathv"])}
    assert len(rows) == 304
    dataset = make_dataset([shared_parquets["mathv"]])
    assert len(dataset) == 304, "filter_overlong_prompts dropped MATH-V rows"
    assert check_items(dataset, verl_stack[1], rows) == 304


def test_other_converters_load_with_image_inputs(shared_parquets, bundled_parquets, verl_stack, make_dataset):
    files = [shared_parquets[k] for k in ("geo3k", "geo3k_free", "mmocr_words", "icdar_grounding")]
    files.append(bundled_parquets["swift_jsonl"])
    rows = {r["extra_info"]["index"]: r for f in files for r in read_rows(f)}
    assert len(rows) == 10 + 10 + 10 + 40 + 10
    dataset = make_dataset(files)
    assert len(dataset) == len(rows), "filter_overlong_prompts dropped rows"
    assert check_items(dataset, verl_stack[1], rows) == len(rows)


def test_collate_fn_batches_items(bundled_parquets, make_dataset):
    from torch.utils.data import DataLoader
    from verl.utils.dataset.rl_dataset import collate_fn

    files = list(bundled_parquets.values())
    dataset = make_dataset(files)
    assert len(dataset) == sum(len(read_rows(f)) for f in files) == 90
    loader = DataLoader(dataset, batch_size=8, shuffle=True, collate_fn=collate_fn)
    batch = next(iter(loader))
    assert tuple(batch["dummy_tensor"].shape) == (8, 1)
    for key in ("raw_prompt", "extra_info", "reward_model", "data_source", "index"):
        assert len(batch[key]) == 8, key
    for gt, info in zip(batch["reward_model"], batch["extra_info"]):
        assert gt["ground_truth"] == info["answer"] and info["task"] in {
            "math",
            "choice",
            "ocr",
            "counting",
            "grounding",
        }
        json.loads(info["meta"])
    assert len(set(batch["index"])) == 8
