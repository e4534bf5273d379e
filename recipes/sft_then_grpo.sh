#!/usr/bin/env bash
# SFT on one tier with verl's SFT trainer, then GRPO from its export on another tier: the paper's SFT->GRPO
# baselines (the paper finds them all behind GRPO-only on mid + hard, grpo_pism_mid_hard.sh).
#
#   MODEL=/models/Qwen2.5-VL-7B-Instruct DATA=/data/train.parquet bash recipes/sft_then_grpo.sh [GRPO overrides...]
#   SFT_KEEP=hard GRPO_KEEP=mid bash recipes/sft_then_grpo.sh          # SFT(hard) -> GRPO(mid)
#   SFT_RANDOM=1 GRPO_RANDOM=1 bash recipes/sft_then_grpo.sh           # SFT(random) -> GRPO(random), sizes matched
#   METRIC=cmab bash recipes/sft_then_grpo.sh                          # CMAB tiers, reasoning-chain SFT targets
#   DRY_RUN=1 bash recipes/sft_then_grpo.sh                            # print both composed configs
#
# Steps: score DATA (if $SCORES/<metric>/scored.parquet is missing) -> `verl-difficulty split --keep SFT_KEEP`
# -> `verl-difficulty sft-data` (messages + images; PISM: the bare answer, CMAB: the solved chain) ->
# torchrun -m verl.trainer.sft_trainer (paper: lr 1e-6, 5 epochs, cosine, warmup 0.1, global batch 128, vision
# tower + projector frozen) -> its global_step_N/huggingface export -> GRPO on GRPO_KEEP with the paper's settings.
#
# Knobs (besides recipes/common.sh): METRIC (pism), SFT_KEEP (mid), GRPO_KEEP (hard), SFT_RANDOM / GRPO_RANDOM (0),
# SEED (0), SFT_TARGET (answer | chain; default: the metric's), SFT_FREEZE_VISION (vision+merger),
# SFT_MAX_LENGTH (4096), SFT_MICRO_BATCH (2), SFT_MAX_PIXELS (1254400), SFT_MODEL (skip SFT: GRPO from this
# checkpoint), SFT_OVERRIDES (extra verl SFT overrides, space-separated). Arguments go to the GRPO stage.
set -euo pipefail
USER_ARGS=("$@")
# shellcheck source=recipes/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

METRIC=${METRIC:-pism}
SFT_KEEP=${SFT_KEEP:-mid}
GRPO_KEEP=${GRPO_KEEP:-hard}
SFT_RANDOM=${SFT_RANDOM:-0}
GRPO_RANDOM=${GRPO_RANDOM:-0}
SEED=${SEED:-0}
SFT_TARGET=${SFT_TARGET:-}
SFT_FREEZE_VISION=${SFT_FREEZE_VISION:-vision+merger}
SFT_MAX_LENGTH=${SFT_MAX_LENGTH:-4096}
SFT_MICRO_BATCH=${SFT_MICRO_BATCH:-2}
SFT_MAX_PIXELS=${SFT_MAX_PIXELS:-1254400}
SFT_MODEL=${SFT_MODEL:-}
SFT_OVERRIDES=${SFT_OVERRIDES:-}
MASTER_PORT=${MASTER_PORT:-29500}

case "$SFT_FREEZE_VISION" in
  vision | vision+merger | none) ;;
  *) vd_die "SFT_FREEZE_VISION=$SFT_FREEZE_VISION: expected vision, vision+merger or none" ;;
esac
[ -n "$SFT_MODEL" ] && vd_check_model "$SFT_MODEL" SFT_MODEL

vd_begin
vd_ensure_scored "$METRIC"

# `verl-difficulty split` flags for a random subset of matched size (when $1 is 1), into the array RANDOM_FLAGS,
# and the file-name suffix that says so, into RANDOM_SUFFIX.
random_flags() {
  RANDOM_FLAGS=()
  RANDOM_SUFFIX=""
  if [ "$1" = 1 ]; then
    RANDOM_FLAGS=(--random-matched --seed "$SEED")
    RANDOM_SUFFIX="_random$SEED"
  fi
}

# ---- stage 1: SFT --------------------------------------------------------------------------------------------
if [ -z "$SFT_MODEL" ]; then
  random_flags "$SFT_RANDOM"
  sft_src="$OUT/data/sft_src_${METRIC}_${SFT_KEEP//,/_}$RANDOM_SUFFIX.parquet"
  vd_split_keep "$METRIC" "$SFT_KEEP" "$sft_src" "${RANDOM_FLAGS[@]}"
  sft_file="$OUT/data/sft.parquet"
  sft_cmd=(sft-data "$sft_src" --metric "$METRIC" --out "$sft_file" --max-pixels "$SFT_MAX_PIXELS")
  [ -n "$SFT_TARGET" ] && sft_cmd+=(--target "$SFT_TARGET")
  if vd_dry; then
    vd_log "would convert: verl-difficulty ${sft_cmd[*]}"
  else
    vd_cli "${sft_cmd[@]}" >&2
  fi

  SFT_ARGS=(
    "data.train_files=$sft_file"
    data.train_batch_size=128
    "data.micro_batch_size_per_gpu=$SFT_MICRO_BATCH"
    "data.max_length=$SFT_MAX_LENGTH"
    data.truncation=error
    "model.path=$MODEL"
    model.enable_gradient_checkpointing=True
    model.use_remove_padding=True
    engine.strategy=fsdp2
    optim.lr=1e-6
    optim.lr_scheduler_type=cosine
    optim.lr_warmup_steps_ratio=0.1
    trainer.total_epochs=5
    "trainer.n_gpus_per_node=$NGPUS"
    "trainer.nnodes=$NNODES"
    "trainer.project_name=$PROJECT"
    "trainer.experiment_name=$EXPERIMENT-sft"
    "trainer.logger=$LOGGER"
    "trainer.default_local_dir=$OUT/sft"
    trainer.save_freq=-1
    "checkpoint.save_contents=[model,optimizer,extra,hf_model]"
  )
  read -r -a sft_extra <<<"$SFT_OVERRIDES"
  SFT_ARGS+=("${sft_extra[@]}")
  export PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}"
  if vd_dry; then
    vd_stage_marker sft
    "$PYTHON" -m verl.trainer.sft_trainer "${SFT_ARGS[@]}" --cfg job
  else
    export VERL_DIFFICULTY_FREEZE_VISION=$SFT_FREEZE_VISION
    launcher=(torchrun --nnodes="$NNODES" --nproc_per_node="$NGPUS")
    if [ "$NNODES" -gt 1 ]; then
      [ -n "${SLURM_JOB_ID:-}" ] || vd_die "NNODES=$NNODES: multi-node SFT runs inside Slurm (recipes/slurm/train.sbatch)"
      master=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
      launcher=(srun --overlap --nodes="$NNODES" --ntasks-per-node=1 "${launcher[@]}"
        --rdzv_backend=c10d --rdzv_endpoint="$master:$MASTER_PORT" --rdzv_id="${SLURM_JOB_ID}-sft")
    else
      launcher+=(--standalone)
    fi
    vd_log "stage sft: ${launcher[*]} -m verl.trainer.sft_trainer ${SFT_ARGS[*]}"
    "${launcher[@]}" -m verl.trainer.sft_trainer "${SFT_ARGS[@]}"
    unset VERL_DIFFICULTY_FREEZE_VISION
  fi
  SFT_MODEL=$(vd_latest_hf "$OUT/sft" "")
  vd_log "SFT export: $SFT_MODEL"
fi

# ---- stage 2: GRPO from the SFT export --------------------------------------------------------------------------
random_flags "$GRPO_RANDOM"
train="$OUT/data/grpo_${METRIC}_${GRPO_KEEP//,/_}$RANDOM_SUFFIX.parquet"
vd_split_keep "$METRIC" "$GRPO_KEEP" "$train" "${RANDOM_FLAGS[@]}"
vd_check_system_prompt "$train"
vd_grpo_args "$train" "$OUT/grpo/checkpoints" "$SFT_MODEL"
vd_run_grpo grpo "${GRPO_ARGS[@]}"
