#!/usr/bin/env bash
# GRPO on the PISM-hard tier only (perception-heavy data).
#
# The hard tier: answers break at low mask ratios (0 < lambda* <= 0.4). A tier ablation of the main paper; its
# headline recipe (GRPO on mid + hard) is grpo_pism_mid_hard.sh, and KEEP=mid,hard turns this one into it.
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/grpo_pism_hard.sh [verl overrides...]
#   DRY_RUN=1 bash recipes/grpo_pism_hard.sh            # print the composed verl config only
#
# Scores DATA with PISM first when $SCORES/pism/scored.parquet is missing (see recipes/common.sh for every knob).
# METRIC / KEEP change the tiers; SELECT=sampler trains through the difficulty sampler instead of a split file.
set -euo pipefail
USER_ARGS=("$@")
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

vd_grpo_on_tiers "${METRIC:-pism}" "${KEEP:-hard}"
