#!/usr/bin/env bash
# The difficulty-prior recipe of arXiv 2505.13261 ("Unlocking the Potential of Difficulty Prior in RL-based
# Multimodal Reasoning"): offline pass-rate curation into two stages, the accuracy-weighted advantage
# (grpo_difficulty) in both, and difficulty hints for the hard prompts of stage 2 (training only).
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/grpo_difficulty_prior.sh [overrides...]
#   DRY_RUN=1 bash recipes/grpo_difficulty_prior.sh                     # print both composed configs
#
# Steps: score DATA with pass-rate (if $SCORES/passrate/scored.parquet is missing) ->
# `verl-difficulty split --metric passrate --two-stage` (stage1.parquet: medium prompts; stage2.parquet:
# medium-to-hard) -> GRPO stage 1 -> GRPO stage 2 from stage 1's export, with hints on the `hard` tier through
# the difficulty dataset class. GRPO settings are the main paper's (recipes/common.sh); the second paper does not
# publish its weighting, see docs/recipes.md for the defaults chosen.
#
# Knobs (besides recipes/common.sh): WEIGHT_FAMILY (exponential), WEIGHT_STRENGTH, WEIGHT_ACC_THRESHOLD (0.5),
# HINT_TIERS ([hard]), HINTS (1; 0 turns stage-2 hints off), STAGE1_OVERRIDES / STAGE2_OVERRIDES (space-separated
# verl overrides for one stage). Arguments go to both stages.
set -euo pipefail
USER_ARGS=("$@")
ADV_ESTIMATOR=${ADV_ESTIMATOR:-grpo_difficulty}
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HINTS=${HINTS:-1}
HINT_TIERS=${HINT_TIERS:-[hard]}
STAGE1_OVERRIDES=${STAGE1_OVERRIDES:-}
STAGE2_OVERRIDES=${STAGE2_OVERRIDES:-}
read -r -a stage1_extra <<<"$STAGE1_OVERRIDES"
read -r -a stage2_extra <<<"$STAGE2_OVERRIDES"

vd_begin
vd_ensure_scored passrate
stages="$OUT/data"
scored=$(vd_scored_path passrate)
if vd_dry; then
  vd_log "would split: verl-difficulty split $scored --metric passrate --two-stage --out $stages"
else
  mkdir -p "$stages"
  vd_cli split "$scored" --metric passrate --two-stage --out "$stages" >&2
  for f in stage1 stage2; do
    [ -f "$stages/$f.parquet" ] || vd_die "$stages/$f.parquet was not written by the two-stage split"
  done
fi

# ---- stage 1: medium prompts, weighted advantage -----------------------------------------------------------
vd_check_system_prompt "$stages/stage1.parquet"
vd_grpo_args "$stages/stage1.parquet" "$OUT/stage1/checkpoints"
vd_run_grpo stage1 "${GRPO_ARGS[@]}" "trainer.experiment_name=$EXPERIMENT-stage1" "${stage1_extra[@]}"

# ---- stage 2: medium-to-hard prompts from stage 1's export, hints on hard prompts -------------------------------
stage1_model=$(vd_latest_hf "$OUT/stage1/checkpoints" actor)
vd_check_system_prompt "$stages/stage2.parquet"
vd_grpo_args "$stages/stage2.parquet" "$OUT/stage2/checkpoints" "$stage1_model"
hint_args=()
if [ "$HINTS" = 1 ]; then
  hint_args=(
    data.custom_cls.path=pkg://verl_difficulty.trainer.dataset
    data.custom_cls.name=DifficultyDataset
    ++data.difficulty.metric=passrate
    ++data.difficulty.keep=all
    ++data.difficulty.hints.enable=true
    "++data.difficulty.hints.tiers=$HINT_TIERS"
  )
fi
vd_run_grpo stage2 "${GRPO_ARGS[@]}" "${hint_args[@]}" "trainer.experiment_name=$EXPERIMENT-stage2" \
  "${stage2_extra[@]}"
