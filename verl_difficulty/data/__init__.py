"""The verl multimodal parquet schema, image decoding and the converters' shared helpers."""

from verl_difficulty.data.images import ImageLoadError, encode_image, image_entry, load_image, open_image, to_rgb
from verl_difficulty.data.schema import (
    DEFAULT_SYSTEM_PROMPT,
    IMAGE_PLACEHOLDER,
    TASKS,
    arrow_schema,
    make_row,
    row_meta,
    sample_id,
    validate_row,
)

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "IMAGE_PLACEHOLDER",
    "TASKS",
    "ImageLoadError",
    "arrow_schema",
    "encode_image",
    "image_entry",
    "load_image",
    "make_row",
    "open_image",
    "row_meta",
    "sample_id",
    "to_rgb",
    "validate_row",
]
