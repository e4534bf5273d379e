"""Image decoding for every place that reads a row's images, with guards against hostile files.

Rows hold images the way verl's ``RLHFDataset`` reads them: ``{"bytes": b"...", "path": "name.png"}``
dicts (the Hugging Face ``Image`` layout), bare paths, or PIL images. :func:`load_image` accepts all of
them, refuses decompression bombs *before* decoding pixels, and returns an RGB image (transparent pixels
composited on white, as ``qwen_vl_utils`` does, so RGBA diagrams do not turn black).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile

#: Largest image (width x height) decoded anywhere in the package. Qwen2.5-VL's processor caps images far
#: below this (the paper uses 1,254,400 pixels), so anything bigger is a mistake or an attack.
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
#: Largest encoded image file accepted.
DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024


class ImageLoadError(ValueError):
    """An image could not be read: the message names the source and the reason.

    ``kind`` says which: ``"missing"`` (no such file), ``"too_large"`` (over the byte or pixel limit, including
    decompression bombs), ``"unsupported"`` (a value that is not an image source) or ``"corrupt"`` (anything
    that fails to decode: truncated, not an image, empty).
    """

    KINDS = ("missing", "too_large", "unsupported", "corrupt")

    def __init__(self, message: str, kind: str = "corrupt"):
        super().__init__(message)
        self.kind = kind if kind in self.KINDS else "corrupt"


def _describe(src: Any) -> str:
    if isinstance(src, dict):
        if src.get("path"):
            return str(src["path"])
        if src.get("bytes") is not None:
            return f"<{len(src['bytes'])} bytes>"
        return "<empty image dict>"
    if isinstance(src, (bytes, bytearray)):
        return f"<{len(src)} bytes>"
    return str(src)


def open_image(
    src: Any,
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    base_dir: str | os.PathLike | None = None,
) -> Image.Image:
    """Open and fully decode ``src`` (bytes, path, ``{"bytes"|"path"}`` dict or PIL image), without conversion.

    Raises :class:`ImageLoadError` naming the source for a missing, truncated, corrupt or oversized image.
    The pixel count is checked from the header before any pixel is decoded.
    """
    if isinstance(src, Image.Image):
        _check_size(src, max_pixels, _describe(src))
        return src
    data: bytes | None = None
    path: Path | None = None
    if isinstance(src, dict):
        if src.get("bytes") is not None:
            data = bytes(src["bytes"])
        elif src.get("path"):
            path = Path(src["path"])
        elif src.get("image") is not None:
            return open_image(src["image"], max_pixels=max_pixels, max_bytes=max_bytes, base_dir=base_dir)
        else:
            raise ImageLoadError("image dict has neither 'bytes' nor 'path'", "unsupported")
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        s = os.fspath(src)
        path = Path(s[7:] if s.startswith("file://") else s)
    else:
        raise ImageLoadError(f"unsupported image value of type {type(src).__name__}", "unsupported")

    name = _describe(src)
    if path is not None:
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        name = str(path)
        data = read_image_bytes(path, max_bytes=max_bytes)
    assert data is not None
    if len(data) == 0:
        raise ImageLoadError(f"{name}: empty image data")
    if len(data) > max_bytes:
        raise ImageLoadError(f"{name}: {len(data)} bytes exceeds the {max_bytes}-byte limit", "too_large")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img, max_pixels, name)
            # Refuse truncated files instead of silently padding them with grey.
            prev = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            try:
                img.load()
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = prev
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(f"{name}: decompression bomb refused ({e})", "too_large") from e
    except Exception as e:  # PIL raises many types for corrupt data
        raise ImageLoadError(f"{name}: cannot decode image ({type(e).__name__}: {e})") from e
    return img


def read_image_bytes(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> bytes:
    """Read an image file's bytes, refusing missing, unreadable, empty and oversized files (no decoding)."""
    path = Path(os.fspath(path))
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError as e:
        raise ImageLoadError(f"{name}: file not found", "missing") from e
    except OSError as e:
        raise ImageLoadError(f"{name}: {e}", "missing") from e
    if not path.is_file():
        raise ImageLoadError(f"{name}: not a regular file", "missing")
    if size > max_bytes:
        raise ImageLoadError(f"{name}: {size} bytes exceeds the {max_bytes}-byte limit", "too_large")
    data = path.read_bytes()
    if not data:
        raise ImageLoadError(f"{name}: empty image file", "corrupt")
    return data


def _check_size(img: Image.Image, max_pixels: int, name: str) -> None:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageLoadError(f"{name}: invalid image size {w}x{h}", "corrupt")
    if w * h > max_pixels:
        raise ImageLoadError(f"{name}: {w}x{h} = {w * h} pixels exceeds the {max_pixels}-pixel limit", "too_large")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert to RGB; transparency is composited on white (as ``qwen_vl_utils.to_rgb`` does)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.split()[3])
        return background
    return img.convert("RGB")


def load_image(src: Any, **kwargs: Any) -> Image.Image:
    """:func:`open_image` followed by :func:`to_rgb`: what scorers and engines feed to a model."""
    return to_rgb(open_image(src, **kwargs))


def encode_image(img: Image.Image, fmt: str = "PNG", **save_kwargs: Any) -> bytes:
    """Encode a PIL image (``PNG`` lossless by default; ``JPEG`` for photos)."""
    buf = io.BytesIO()
    if fmt.upper() in ("JPEG", "JPG"):
        img = to_rgb(img)
        save_kwargs.setdefault("quality", 95)
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def downscale_to_max_pixels(img: Image.Image, max_pixels: int) -> Image.Image:
    """Return ``img`` resized (Lanczos, aspect ratio kept) so that width x height <= ``max_pixels``.

    Returns ``img`` itself when it is already small enough. The new size is rounded down, never below 1x1.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    w, h = img.size
    if w * h <= max_pixels:
        return img
    scale = (max_pixels / (w * h)) ** 0.5
    new_w, new_h = max(1, int(w * scale)), max(1, int(h * scale))
    while new_w * new_h > max_pixels:  # guard against float rounding up
        if new_w >= new_h:
            new_w -= 1
        else:
            new_h -= 1
    return img.resize((new_w, new_h), Image.Resampling.LANCZOS)


def image_entry(data: bytes, path: str | None = None) -> dict:
    """The row entry verl's ``RLHFDataset`` reads: ``{"bytes": ..., "path": ...}``."""
    return {"bytes": data, "path": path}
