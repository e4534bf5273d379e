"""PISM's image-masking operators. Every mask is a pure function of (image, ratio, mode, seed).

Modes (``PAPERS.md``, "PISM"):

``rectangle`` (default; the authors' released code)
    One solid black axis-aligned rectangle covering a fraction ``ratio`` of the image, with the image's
    aspect ratio (w = W·√r, h = H·√r), its top-left corner uniform at random.
``pixels`` (the paper's text)
    A random fraction ``ratio`` of the pixels set to black.
``patch``
    A random fraction ``ratio`` of the cells of a ``patch_size`` grid set to black. With ``patch_size`` equal
    to the vision encoder's merged patch (28 px for Qwen2.5-VL) and the image already resized to the
    processor's size, this hides whole visual tokens.

``ratio == 0`` returns the original image unchanged. Seeds come from :func:`mask_seed` so that a sample's
masks are the same whatever the order, batch or shard it is processed in.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from verl_difficulty.utils import stable_seed

MASK_MODES = ("rectangle", "pixels", "patch")


def mask_seed(sample_id: str, ratio: float, attempt: int, base_seed: int = 0) -> int:
    """The seed of the mask for ``attempt`` at ``ratio`` of ``sample_id`` (independent of sharding)."""
    return stable_seed("pism-mask", base_seed, sample_id, round(float(ratio), 6), int(attempt))


def apply_mask(
    image: Image.Image,
    ratio: float,
    *,
    mode: str = "rectangle",
    seed: int,
    patch_size: int = 28,
    fill: tuple[int, int, int] = (0, 0, 0),
) -> Image.Image:
    """Return a masked copy of ``image`` (RGB) hiding about ``ratio`` of its area.

    Args:
        image: the input image (any mode; converted to RGB).
        ratio: fraction of the image to hide, in [0, 1].
        mode: one of :data:`MASK_MODES`.
        seed: the random seed (use :func:`mask_seed`).
        patch_size: cell size in pixels for ``mode="patch"``.
        fill: the colour of masked pixels (black in both papers).
    """
    if mode not in MASK_MODES:
        raise ValueError(f"mask mode must be one of {MASK_MODES}, got {mode!r}")
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0 or math.isnan(ratio):
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    if image.mode != "RGB":
        from verl_difficulty.data.images import to_rgb

        image = to_rgb(image)
    if ratio == 0.0:
        return image
    rng = np.random.default_rng(seed)
    width, height = image.size
    if mode == "rectangle":
        w = min(width, max(1, round(width * math.sqrt(ratio))))
        h = min(height, max(1, round(height * math.sqrt(ratio))))
        x0 = int(rng.integers(0, width - w + 1))
        y0 = int(rng.integers(0, height - h + 1))
        out = image.copy()
        out.paste(fill, (x0, y0, x0 + w, y0 + h))
        return out
    arr = np.array(image)
    if mode == "pixels":
        n = round(ratio * width * height)
        flat = rng.choice(width * height, size=n, replace=False) if n else np.empty(0, dtype=np.int64)
        ys, xs = np.divmod(flat, width)
        arr[ys, xs] = fill
        return Image.fromarray(arr)
    # patch
    if patch_size <= 0:
        raise ValueError(f"patch_size must be positive, got {patch_size}")
    cols, rows = math.ceil(width / patch_size), math.ceil(height / patch_size)
    n = round(ratio * cols * rows)
    for cell in rng.choice(cols * rows, size=n, replace=False) if n else []:
        r, c = divmod(int(cell), cols)
        arr[r * patch_size : (r + 1) * patch_size, c * patch_size : (c + 1) * patch_size] = fill
    return Image.fromarray(arr)


def masked_fraction(original: Image.Image, masked: Image.Image, fill: tuple[int, int, int] = (0, 0, 0)) -> float:
    """Fraction of pixels that were not ``fill`` in ``original`` and are ``fill`` in ``masked``."""
    a = np.asarray(original.convert("RGB"))
    b = np.asarray(masked.convert("RGB"))
    colour = np.asarray(fill, dtype=a.dtype)
    return float((np.all(b == colour, axis=-1) & ~np.all(a == colour, axis=-1)).mean())
