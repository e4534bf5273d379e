#!/usr/bin/env bash
# GRPO on the full training set (every row of DATA, no difficulty selection): the paper's full-set baseline.
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/grpo_full.sh [overrides...]
#   DRY_RUN=1 DATA=/data/train.parquet bash recipes/grpo_full.sh
#
# Nothing is scored: DATA (comma-separated parquets) is what verl trains on, with the paper's GRPO settings.
set -euo pipefail
USER_ARGS=("$@")
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

vd_begin
if vd_dry; then
  train=${DATA:-DATA.parquet}
else
  vd_check_files DATA "$DATA"
  train=$DATA
fi
vd_check_system_prompt "$train"
vd_grpo_args "$train" "$OUT/checkpoints"
vd_run_grpo grpo "${GRPO_ARGS[@]}"
