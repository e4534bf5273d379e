#!/usr/bin/env bash
# GRPO on a random subset of the scored rows, as large as the mid + hard tiers: the paper's control for
# "is it the difficulty or just the smaller set?" (vs grpo_pism_mid_hard.sh the gain is small and mixed).
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/grpo_random_matched.sh [overrides...]
#   DRY_RUN=1 bash recipes/grpo_random_matched.sh
#
# METRIC (pism) and KEEP (mid,hard) say whose size to match; SEED (0) draws the subset from every scored row
# (`verl-difficulty split --random-matched`). Scores DATA first when the scored parquet is missing.
set -euo pipefail
USER_ARGS=("$@")
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

METRIC=${METRIC:-pism}
KEEP=${KEEP:-mid,hard}
SEED=${SEED:-0}

vd_begin
vd_ensure_scored "$METRIC"
train="$OUT/data/train_random_${METRIC}_${KEEP//,/_}_seed$SEED.parquet"
vd_split_keep "$METRIC" "$KEEP" "$train" --random-matched --seed "$SEED"
vd_check_system_prompt "$train"
vd_grpo_args "$train" "$OUT/checkpoints"
vd_run_grpo grpo "${GRPO_ARGS[@]}"
