"""The verl multimodal parquet schema, image decoding and the converters' shared helpers."""

from verl_difficulty.data.images import (
    ImageLoadError,
    downscale_to_max_pixels,
    encode_image,
    image_entry,
    load_image,
    open_image,
    read_image_bytes,
    to_rgb,
)
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
    "downscale_to_max_pixels",
    "encode_image",
    "image_entry",
    "load_image",
    "make_row",
    "open_image",
    "read_image_bytes",
    "row_meta",
    "sample_id",
    "to_rgb",
    "validate_row",
]
