"""``python -m verl_difficulty.data.converters <name> --input ... --out ...``"""

import sys

from verl_difficulty.data.converters import main

sys.exit(main(prog="python -m verl_difficulty.data.converters"))
