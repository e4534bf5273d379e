"""Test helpers users can reuse: the tiny offline VLM builder (``build_tiny_vlm``) and friends."""

from verl_difficulty.testing.tiny_model import TinyVLMConfig, build_tiny_vlm

#: Processor image limits that keep a tiny model fast on 2 CPU cores: 4 to 64 merged visual tokens per image.
SMALL_IMAGES = {"max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}

__all__ = ["SMALL_IMAGES", "TinyVLMConfig", "build_tiny_vlm"]
