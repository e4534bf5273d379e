"""CMAB's attention measurement: one teacher-forced pass equals what generate(output_attentions=True) gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verl_difficulty.scorers import cmab_attention as ca
from verl_difficulty.scorers.base import row_images, row_messages
from verl_difficulty.scorers.cmab import CMABSettings, probe_messages

RESPONSE = "### Step 1: The figure shows 3 triangles and the angle is 60 degrees, so x = 4. <end>"

pytest_plugins = ["cmab_testdata"]  # fixtures: real rows, tiny models, the engine


def probe_inputs(model, processor, row, response=RESPONSE, **settings):
    messages = probe_messages(row_messages(row), CMABSettings(**settings))
    return ca.build_probe_inputs(model, processor, messages, row_images(row), response)


def assert_same(a: ca.AttentionBalance, b: ca.AttentionBalance, tol: float = 1e-4):
    assert a.layers == b.layers
    assert np.array_equal(a.positions, b.positions)
    assert a.rho == pytest.approx(b.rho, abs=tol, rel=tol)
    np.testing.assert_allclose(a.img, b.img, atol=tol * 1e-2)
    np.testing.assert_allclose(a.txt, b.txt, atol=tol * 1e-2)
    np.testing.assert_allclose(a.rho_tokens, b.rho_tokens, rtol=tol, atol=tol)
    if a.heat is not None or b.heat is not None:
        assert len(a.heat) == len(b.heat) == len(a.spans.images)
        for ha, hb, span in zip(a.heat, b.heat, a.spans.images):
            assert ha.shape == hb.shape == span.grid
            np.testing.assert_allclose(ha, hb, atol=1e-6)


def test_teacher_forced_equals_generate_reference_on_mathv(tiny_vlm, mathv_rows):
    model, processor = tiny_vlm
    for row in (mathv_rows[0], mathv_rows[5]):
        inputs = probe_inputs(model, processor, row)
        steps = ca.generate_attentions(model, inputs)  # one generate(output_attentions=True), both modes
        n = len(inputs.response_ids)
        assert len(steps) == n > 10
        for mode in ("code", "paper"):
            fast = ca.teacher_forced_balance(model, inputs, mode=mode, heatmaps=True)
            ref = ca.reduce_generate_attentions(steps, inputs, mode=mode, heatmaps=True)
            assert_same(fast, ref)
            assert fast.response_len == n
            # code: every generated token but the first; paper: every generated token
            assert len(fast.positions) == (n - 1 if mode == "code" else n)
            if mode == "paper":  # attention is a distribution over the visible keys
                np.testing.assert_allclose(fast.img + fast.txt, 1.0, atol=1e-5)


def test_teacher_forced_equals_reference_two_images_as_in_row(tiny_vlm, two_image_row):
    model, processor = tiny_vlm
    inputs = probe_inputs(model, processor, two_image_row, image_layout="as_in_row")
    assert len(inputs.spans.images) == 2
    steps = ca.generate_attentions(model, inputs)
    for mode, layers in (("code", [1]), ("paper", [0, 2])):
        fast = ca.teacher_forced_balance(model, inputs, mode=mode, heatmaps=True, layers=layers)
        assert_same(fast, ca.reduce_generate_attentions(steps, inputs, mode=mode, heatmaps=True, layers=layers))
        assert fast.layers == layers


def test_teacher_forced_equals_reference_qwen2vl(tiny_qwen2vl, geo3k_rows):
    model, processor = tiny_qwen2vl
    inputs = probe_inputs(model, processor, geo3k_rows[3])
    for mode in ("code", "paper"):
        assert_same(
            ca.teacher_forced_balance(model, inputs, mode=mode, heatmaps=True),
            ca.generate_reference_balance(model, inputs, mode=mode, heatmaps=True),
        )


def test_mrope_positions_matter(tiny_vlm, mathv_rows):
    """The probe sees the model's multimodal positions: plain 1-D positions would give other numbers."""
    model, processor = tiny_vlm
    inputs = probe_inputs(model, processor, mathv_rows[2])
    right = ca.teacher_forced_balance(model, inputs, mode="paper")
    wrong_inputs = dict(inputs.inputs)
    seq_pos = torch.arange(wrong_inputs["input_ids"].shape[1]).view(1, 1, -1).expand(3, 1, -1)
    wrong_inputs["position_ids"] = seq_pos
    wrong = ca.teacher_forced_balance(
        model,
        ca.ProbeInputs(wrong_inputs, inputs.prompt_inputs, inputs.prompt_len, inputs.response_ids, inputs.spans),
        mode="paper",
    )
    # 1000x the tolerance the reference comparisons hold
    assert np.abs(right.img - wrong.img).max() > 1e-3


def test_chunking_and_model_state(tiny_vlm, mathv_rows):
    """Chunk size does not change the numbers; the model is left as it was (config, later outputs)."""
    model, processor = tiny_vlm
    inputs = probe_inputs(model, processor, mathv_rows[1])
    with torch.inference_mode():
        before = model(**inputs.inputs).logits
    configs = [layer.self_attn.config for layer in ca.text_layers(model)]
    a = ca.teacher_forced_balance(model, inputs, mode="paper", chunk_size=256)
    b = ca.teacher_forced_balance(model, inputs, mode="paper", chunk_size=3)
    np.testing.assert_allclose(a.img, b.img, atol=1e-7)
    assert a.rho == pytest.approx(b.rho, rel=1e-6)
    # the layers before the measured ones run with whatever kernel the model uses: eager gives the same
    model.set_attn_implementation("eager")
    try:
        c = ca.teacher_forced_balance(model, inputs, mode="paper")
    finally:
        model.set_attn_implementation("sdpa")
    np.testing.assert_allclose(a.img, c.img, atol=1e-6)
    assert [layer.self_attn.config for layer in ca.text_layers(model)] == configs
    assert model.config.text_config._attn_implementation == "sdpa"
    with torch.inference_mode():
        after = model(**inputs.inputs).logits
    assert torch.equal(before, after)


def test_stops_after_the_measured_layer(tiny_vlm, mathv_rows):
    """Layers after the last measured one never run (nor does the LM head)."""
    model, processor = tiny_vlm
    inputs = probe_inputs(model, processor, mathv_rows[3])
    layers = ca.text_layers(model)
    calls = {i: 0 for i in range(len(layers))}
    hooks = [
        layer.register_forward_pre_hook(lambda m, a, i=i: calls.__setitem__(i, calls[i] + 1))
        for i, layer in enumerate(layers)
    ]
    head = model.lm_head.register_forward_pre_hook(lambda m, a: calls.__setitem__("head", 1))
    try:
        ca.teacher_forced_balance(model, inputs, mode="code", layers=[1])
    finally:
        for h in [*hooks, head]:
            h.remove()
    assert calls == {0: 1, 1: 1, 2: 0, 3: 0}


def test_spans_on_real_mathv_rows(tiny_vlm, mathv_rows):
    """Image tokens: where the processor put <|image_pad|>, as many as the resized image's merged patches."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    model, processor = tiny_vlm
    tok = processor.tokenizer
    ip = processor.image_processor
    factor = ip.patch_size * ip.merge_size
    for row in mathv_rows[:8]:
        inputs = probe_inputs(model, processor, row)
        ids = inputs.inputs["input_ids"][0].tolist()
        spans = inputs.spans
        (span,) = spans.images
        width, height = row_images(row)[0].size
        h, w = smart_resize(
            height, width, factor=factor, min_pixels=ip.size.shortest_edge, max_pixels=ip.size.longest_edge
        )
        assert span.grid == (h // factor, w // factor)
        assert span.length == spans.image_positions.size == (h // factor) * (w // factor)
        assert tok.convert_ids_to_tokens(ids[span.start - 1]) == "<|vision_start|>"
        assert tok.convert_ids_to_tokens(ids[span.start + span.length]) == "<|vision_end|>"
        # after_text layout (released code): the image follows the question, so the text before it holds the
        # system prompt, the instruction and the question
        before = tok.decode(ids[: spans.first_image])
        assert before.startswith("<|im_start|>system\n")
        assert "end every step with <end>" in before
        question = row["extra_info"]["question"].split("\n")[0][:30]
        assert question.strip() in before
        # the prompt ends with the assistant header; the response follows it
        assert tok.decode(ids[spans.prompt_len - 3 : spans.prompt_len]) == "<|im_start|>assistant\n"


def test_layer_rules():
    assert ca.default_code_layer(28) == 20  # Qwen2.5-VL-7B: the released code's layer
    assert ca.default_code_layer(36) == 26  # 3B
    assert ca.default_code_layer(80) == 57  # 72B
    assert ca.default_code_layer(4) == 3
    assert ca.default_paper_layers(28) == list(range(1, 27))
    assert ca.resolve_layers("paper", 4) == [1, 2]
    with pytest.raises(ca.AttentionError, match="layer: \\[4\\] outside"):
        ca.resolve_layers("code", 4, 4)
    with pytest.raises(ca.AttentionError, match="no layer"):
        ca.resolve_layers("paper", 2)
    assert ca.resolve_layers("code", 28, [5]) == [5] and ca.resolve_layers("paper", 28, [9, 3, 9]) == [3, 9]
    with pytest.raises(ca.AttentionError, match="one layer"):
        ca.resolve_layers("code", 28, [1, 2])


def test_combine_formulas():
    spans = ca.TokenSpans(
        seq_len=10, prompt_len=6, image_positions=np.array([2, 3]), images=[ca.ImageSpan(2, 2, (1, 2))]
    )
    pos = np.array([6, 7, 8])
    # code: sums over tokens, a token with no text attention skipped
    code = ca.combine(
        "code", [[0.2, 0.4, 0.3]], [[0.1, 0.3, 0.0]], layers=[5], positions=pos, spans=spans, response_len=4
    )
    assert code.rho == pytest.approx((0.2 + 0.4) / (0.1 + 0.3))
    assert np.isnan(code.rho_tokens[2])
    # paper: geometric mean over layers of (img + eps) / (txt + eps), then the mean over tokens
    img = np.array([[0.5, 0.2, 0.1], [0.2, 0.2, 0.4]])
    txt = 1 - img
    paper = ca.combine("paper", img, txt, layers=[1, 2], positions=pos, spans=spans, response_len=3)
    r = (img + 1e-8) / (txt + 1e-8)
    assert paper.rho == pytest.approx(np.mean(np.sqrt(r[0] * r[1])))
    with pytest.raises(ca.AttentionError, match="no measured token"):
        ca.combine("code", [[0.2]], [[0.0]], layers=[1], positions=pos[:1], spans=spans, response_len=2)


def test_short_or_bad_responses(tiny_vlm, mathv_rows):
    model, processor = tiny_vlm
    one = probe_inputs(model, processor, mathv_rows[0], response=[int(processor.tokenizer.convert_tokens_to_ids("A"))])
    with pytest.raises(ca.AttentionError, match="at least 2 tokens"):
        ca.teacher_forced_balance(model, one, mode="code")
    assert np.isfinite(ca.teacher_forced_balance(model, one, mode="paper").rho)  # paper: the one step that made it
    pad = int(model.config.image_token_id)
    with pytest.raises(ca.AttentionError, match="image token"):
        probe_inputs(model, processor, mathv_rows[0], response=[pad, pad])


def test_bfloat16_model_uses_fp32_softmax(tiny_model_dir, tiny_vlm, mathv_rows):
    """Under bfloat16 the probe still softmaxes in fp32: ρ̄ stays close to the fp32 model's, and finite."""
    from transformers import AutoModelForImageTextToText

    model, processor = tiny_vlm
    bf16 = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).eval()
    for mode in ("code", "paper"):
        ref = ca.teacher_forced_balance(model, probe_inputs(model, processor, mathv_rows[7]), mode=mode)
        inputs = probe_inputs(bf16, processor, mathv_rows[7])
        assert inputs.inputs["pixel_values"].dtype == torch.bfloat16
        low = ca.teacher_forced_balance(bf16, inputs, mode=mode, heatmaps=True)
        assert low.img.dtype == np.float64 and np.isfinite(low.heat[0]).all()
        assert low.rho == pytest.approx(ref.rho, rel=2e-2)
