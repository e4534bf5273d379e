#!/usr/bin/env bash
# GRPO on CMAB mid + hard: the main paper's best recipe for reasoning-heavy data.
#
# Paper finding: GRPO-only on mid+hard (attention-balance tiers) beats SFT->GRPO and full-set training.
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/grpo_cmab_mid_hard.sh [verl overrides...]
#   DRY_RUN=1 bash recipes/grpo_cmab_mid_hard.sh            # print the composed verl config only
#
# Scores DATA with CMAB first when $SCORES/cmab/scored.parquet is missing (see recipes/common.sh for every knob).
# METRIC / KEEP change the tiers; SELECT=sampler trains through the difficulty sampler instead of a split file.
set -euo pipefail
USER_ARGS=("$@")
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

vd_grpo_on_tiers "${METRIC:-cmab}" "${KEEP:-mid,hard}"
