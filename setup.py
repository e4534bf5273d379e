"""verl-difficulty: difficulty-aware data selection for multimodal GRPO in verl."""

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "verl_difficulty" / "version.py").read_text()).group(1)

# The stack verl 0.9.1 is tested with (see requirements/lock-cpu.txt for the full lock used by CI).
INSTALL_REQUIRES = [
    "verl[verl-core]==0.9.1",
    "torch==2.11.0",
    "torchvision==0.26.0",
    "transformers==5.9.0",
    "datasets>=3.0",
    "pillow>=10.0",
    "pyarrow>=15.0",
    "pandas>=2.0",
    "ray[default]>=2.40",
    "math-verify>=0.7",
    "mathruler>=0.1",
    "qwen-vl-utils>=0.0.10",
    "matplotlib>=3.8",
    "tqdm>=4.60",
    "pyyaml>=6.0",
    "tokenizers>=0.21",
    "safetensors>=0.4",
]

EXTRAS = {
    "gpu": ["vllm==0.24.0", "flash-attn"],
    "test": [
        "pytest>=8.0",
        "pytest-timeout>=2.3",
        "hypothesis>=6.100",
        "ruff>=0.6",
    ],
}

setup(
    name="verl-difficulty",
    version=VERSION,
    description="Difficulty-aware data selection (PISM, CMAB, pass-rate) for multimodal GRPO in verl",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["verl_difficulty", "verl_difficulty.*"]),
    include_package_data=True,
    package_data={"verl_difficulty": ["configs/*.yaml"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["verl-difficulty=verl_difficulty.cli:main"],
        # verl >= 0.9 imports every module in this group at `import verl`, in every Ray process.
        "verl.plugins": ["verl_difficulty=verl_difficulty.plugin"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
