"""Test helpers users can reuse: the tiny offline VLM builder (``build_tiny_vlm``) and friends."""

from verl_difficulty.testing.tiny_model import TinyVLMConfig, build_tiny_vlm

__all__ = ["TinyVLMConfig", "build_tiny_vlm"]
