"""PISM masking operators: coverage, determinism, independence from order."""

from __future__ import annotations

import pytest
from PIL import Image

from verl_difficulty.scorers.masks import MASK_MODES, apply_mask, mask_seed, masked_fraction


def _image(w=200, h=120):
    img = Image.new("RGB", (w, h), (250, 240, 10))
    return img


@pytest.mark.parametrize("mode", MASK_MODES)
@pytest.mark.parametrize("ratio", [0.1, 0.4, 0.9])
def test_masks_hide_the_requested_fraction(mode, ratio):
    img = _image()
    out = apply_mask(img, ratio, mode=mode, seed=mask_seed("s/1", ratio, 0), patch_size=20)
    frac = masked_fraction(img, out)
    tolerance = {"rectangle": 0.02, "pixels": 0.001, "patch": 0.02}[mode]
    assert abs(frac - ratio) <= tolerance, (mode, ratio, frac)


def test_ratio_zero_is_the_original_image():
    img = _image()
    assert apply_mask(img, 0.0, seed=1) is img


def test_rectangle_keeps_aspect_ratio_and_moves_between_attempts():
    img = _image(300, 100)
    boxes = set()
    for attempt in range(5):
        out = apply_mask(img, 0.25, seed=mask_seed("s/2", 0.25, attempt))
        bbox = Image.eval(out, lambda v: 255 - v).convert("L").point(lambda v: 255 if v == 255 else 0).getbbox()
        x0, y0, x1, y1 = bbox
        assert (x1 - x0, y1 - y0) == (150, 50)  # W·√r × H·√r
        boxes.add(bbox)
    assert len(boxes) > 1


def test_seeds_depend_only_on_sample_ratio_attempt():
    assert mask_seed("a/1", 0.3, 2) == mask_seed("a/1", 0.30000000001, 2)
    assert len({mask_seed("a/1", 0.3, k) for k in range(10)}) == 10
    assert mask_seed("a/1", 0.3, 0) != mask_seed("a/2", 0.3, 0)
    img = _image()
    a = apply_mask(img, 0.5, mode="pixels", seed=mask_seed("a/1", 0.5, 3))
    b = apply_mask(img, 0.5, mode="pixels", seed=mask_seed("a/1", 0.5, 3))
    assert a.tobytes() == b.tobytes()


def test_rgba_input_and_bad_arguments():
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))
    out = apply_mask(rgba, 0.5, seed=0)
    assert out.mode == "RGB"
    with pytest.raises(ValueError, match="ratio"):
        apply_mask(_image(), 1.5, seed=0)
    with pytest.raises(ValueError, match="mode"):
        apply_mask(_image(), 0.5, mode="blur", seed=0)
