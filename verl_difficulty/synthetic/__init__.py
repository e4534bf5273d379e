"""Synthetic perception tasks with known difficulty, and a tiny VLM that actually sees them.

- :mod:`.generator`: counting, OCR, grounding and math samples with recorded difficulty knobs (count, size,
  clutter, contrast, occlusion), seeded from the sample id, as verl multimodal rows.
- :mod:`.train`: trains a tiny Qwen2.5-VL on them on CPU (teacher-forced loss on the answer tokens).
- :mod:`.evaluate`: held-out accuracy per task, per knob and against PISM's mask ratio.
- :mod:`.seeing_model`: the trained model, built once and cached (``seeing_model()``).

``verl-difficulty synth`` and ``verl-difficulty seeing-model`` are the command-line entry points. Importing
this package is cheap: torch and transformers load only when a model is built or evaluated.
"""

from verl_difficulty.synthetic.generator import (
    GENERATOR_VERSION,
    SYNTH_TASKS,
    TASK_KNOBS,
    SynthConfig,
    SynthError,
    SynthSample,
    generate_rows,
    generate_sample,
    generate_samples,
    sample_to_row,
)
from verl_difficulty.synthetic.seeing_model import (
    EvalSettings,
    SeeingModelSpec,
    build_seeing_model,
    load_report,
    seeing_model,
    small_spec,
)
from verl_difficulty.synthetic.train import TrainSettings

__all__ = [
    "GENERATOR_VERSION",
    "SYNTH_TASKS",
    "TASK_KNOBS",
    "EvalSettings",
    "SeeingModelSpec",
    "SynthConfig",
    "SynthError",
    "SynthSample",
    "TrainSettings",
    "build_seeing_model",
    "generate_rows",
    "generate_sample",
    "generate_samples",
    "load_report",
    "sample_to_row",
    "seeing_model",
    "small_spec",
]
