# shellcheck shell=bash
# Shared parts of the verl-difficulty training recipes. Sourced by recipes/*.sh, never run directly.
#
# Every recipe reads these environment variables (defaults after ":-"):
#
#   MODEL      base checkpoint: a local folder or a hub id      Qwen/Qwen2.5-VL-7B-Instruct
#   DATA       verl RL parquet(s) to score / train on (comma-separated); needed only when scoring
#   VAL_DATA   validation parquet (default: a copy of the first VAL_MAX_SAMPLES training rows, OUT/data/val_*;
#              validation is off unless you pass trainer.test_freq=N)
#   OUT        this run's folder                                 runs/<recipe>
#   SCORES     where scored runs live, shared by recipes        runs/scores  (-> $SCORES/<metric>/scored.parquet)
#   SCORED     an existing scored.parquet (or its folder) to use instead of $SCORES/<metric>
#   NGPUS      GPUs per node         ($SLURM_GPUS_ON_NODE, else nvidia-smi's count, else 8)
#   NNODES     nodes                 ($SLURM_JOB_NUM_NODES, else 1)
#   ENGINE     scoring engine        vllm          SCORE_ARGS  extra `verl-difficulty score` flags
#   DRY_RUN=1  print the composed verl config(s) (`--cfg job`) and exit: no scoring, no training, no GPU
#   PYTHON     interpreter           python3       FREEZE_VISION  vision | vision+merger | none   (vision)
#   PROJECT / EXPERIMENT / LOGGER    trainer.project_name / experiment_name / logger
#   ROLLOUT_TP / GPU_MEM_UTIL / MICRO_BATCH / MAX_PROMPT_LENGTH / SAVE_FREQ / LR_SCHEDULER / VAL_MAX_SAMPLES
#   ADV_ESTIMATOR  grpo | grpo_difficulty (grpo); with grpo_difficulty: WEIGHT_FAMILY (exponential),
#                  WEIGHT_STRENGTH (the family's default), WEIGHT_ACC_THRESHOLD (0.5)
#
# Anything after the recipe name is passed to verl last, so it wins over the recipe's own settings:
#   bash recipes/grpo_pism_hard.sh trainer.total_epochs=2 actor_rollout_ref.actor.optim.lr=1e-6

VD_RECIPES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VD_REPO=$(dirname "$VD_RECIPES_DIR")
RECIPE=${RECIPE:-$(basename "${BASH_SOURCE[1]:-recipe}" .sh)}

PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}
DATA=${DATA:-}
VAL_DATA=${VAL_DATA:-}
OUT=${OUT:-runs/$RECIPE}
SCORES=${SCORES:-runs/scores}
SCORED=${SCORED:-}
DRY_RUN=${DRY_RUN:-0}
ENGINE=${ENGINE:-vllm}
SCORE_ARGS=${SCORE_ARGS:-}
FREEZE_VISION=${FREEZE_VISION:-vision}
PROJECT=${PROJECT:-verl-difficulty}
EXPERIMENT=${EXPERIMENT:-$RECIPE}
LOGGER=${LOGGER:-[console]}
ROLLOUT_TP=${ROLLOUT_TP:-1}
GPU_MEM_UTIL=${GPU_MEM_UTIL:-0.6}
MICRO_BATCH=${MICRO_BATCH:-4}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-4096}
SAVE_FREQ=${SAVE_FREQ:-100}
LR_SCHEDULER=${LR_SCHEDULER:-cosine}
ADV_ESTIMATOR=${ADV_ESTIMATOR:-grpo}
WEIGHT_FAMILY=${WEIGHT_FAMILY:-exponential}
WEIGHT_STRENGTH=${WEIGHT_STRENGTH:-}
WEIGHT_ACC_THRESHOLD=${WEIGHT_ACC_THRESHOLD:-0.5}
VAL_MAX_SAMPLES=${VAL_MAX_SAMPLES:-64}
NNODES=${NNODES:-${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}}

vd_log() { echo "[$RECIPE] $*" >&2; }
vd_die() {
  echo "[$RECIPE] error: $*" >&2
  exit 2
}
vd_dry() { [ "$DRY_RUN" = "1" ] || [ "$DRY_RUN" = "true" ]; }

vd_detect_gpus() {
  if [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
    echo "${SLURM_GPUS_ON_NODE%%(*}"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    nvidia-smi -L | grep -c '^GPU'
  else
    echo 8
  fi
}
NGPUS=${NGPUS:-$(vd_detect_gpus)}

case "$NGPUS$NNODES" in
  *[!0-9]*) vd_die "NGPUS=$NGPUS and NNODES=$NNODES must be whole numbers" ;;
esac
if [ "$NGPUS" -lt 1 ] || [ "$NNODES" -lt 1 ]; then
  vd_die "NGPUS=$NGPUS and NNODES=$NNODES must be at least 1"
fi
case "$FREEZE_VISION" in
  vision | vision+merger | none) ;;
  *) vd_die "FREEZE_VISION=$FREEZE_VISION: expected vision, vision+merger or none" ;;
esac

# The command line of the package (`verl-difficulty`), with this checkout importable.
vd_cli() { PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m verl_difficulty.cli "$@"; }

# MODEL must be an existing folder or look like a hub id (org/name).
vd_check_model() {
  local m=${1:-$MODEL} what=${2:-MODEL}
  if [ -d "$m" ]; then
    [ -f "$m/config.json" ] || vd_die "$what=$m: folder has no config.json (not a Hugging Face checkpoint)"
    return 0
  fi
  case "$m" in
    /* | ./* | ../* | "~"*) vd_die "$what=$m: no such folder" ;;
  esac
  if [[ "$m" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    return 0 # a hub id: verl / transformers download it
  fi
  vd_die "$what=$m: neither a local checkpoint folder nor a hub id (org/name)"
}

# Training needs accelerators; checked only when actually training.
vd_check_gpus() {
  vd_dry && return 0
  [ "${VD_SKIP_GPU_CHECK:-0}" = "1" ] && return 0
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    vd_die "no GPU found (nvidia-smi): verl's GRPO needs vLLM on GPUs. DRY_RUN=1 prints the config without one; \
VD_SKIP_GPU_CHECK=1 skips this check on other accelerators."
  fi
}

# Every file of a comma-separated list must exist.
vd_check_files() {
  local what=$1 list=$2 f
  [ -n "$list" ] || vd_die "$what is not set (a verl RL parquet, see docs/data.md)"
  IFS=',' read -r -a _files <<<"$list"
  for f in "${_files[@]}"; do
    [ -f "$f" ] || vd_die "$what: $f: no such file"
  done
}

# A comma-separated list as a Hydra list of quoted strings: a,b -> ['a','b'].
vd_hydra_list() {
  local out="" f
  IFS=',' read -r -a _items <<<"$1"
  for f in "${_items[@]}"; do
    out+="${out:+,}'$f'"
  done
  echo "[$out]"
}

# Path of the scored parquet for a metric (SCORED wins when set).
vd_scored_path() {
  local metric=$1
  if [ -n "$SCORED" ]; then
    if [ -d "$SCORED" ]; then echo "$SCORED/scored.parquet"; else echo "$SCORED"; fi
  else
    echo "$SCORES/$metric/scored.parquet"
  fi
}

# Score DATA with METRIC unless its scored parquet exists (resumable: rerunning continues).
vd_ensure_scored() {
  local metric=$1 scored
  scored=$(vd_scored_path "$metric")
  if [ -f "$scored" ]; then
    vd_log "using scored rows $scored"
    return 0
  fi
  local total=$((NGPUS * NNODES)) ray=()
  if [ -n "${RAY_ADDRESS:-}" ]; then
    ray=(--ray auto --num-workers "$total" --gpus-per-worker 1)
  elif [ "$total" -gt 1 ]; then
    ray=(--ray local --num-workers "$total" --gpus-per-worker 1)
  fi
  local dir
  dir=$(dirname "$scored")
  # shellcheck disable=SC2206
  local cmd=(score --metric "$metric" --model "$MODEL" --data "${DATA:-<DATA>}" --out "$dir" --engine "$ENGINE" "${ray[@]}" $SCORE_ARGS)
  if vd_dry; then
    vd_log "would score: verl-difficulty ${cmd[*]}"
    return 0
  fi
  [ -n "$SCORED" ] && vd_die "SCORED=$SCORED: no such scored parquet"
  vd_check_files DATA "$DATA"
  vd_check_gpus
  vd_log "scoring $DATA with $metric -> $dir"
  vd_cli "${cmd[@]}"
  [ -f "$scored" ] || vd_die "scoring finished without writing $scored"
}

# verl-difficulty split SCORED --metric M --keep TIERS --out FILE [extra flags]
vd_split_keep() {
  local metric=$1 keep=$2 out=$3
  shift 3
  local scored
  scored=$(vd_scored_path "$metric")
  if vd_dry; then
    vd_log "would split: verl-difficulty split $scored --metric $metric --keep $keep --out $out $*"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  vd_log "selecting $keep ($metric) -> $out"
  vd_cli split "$scored" --metric "$metric" --keep "$keep" --out "$out" "$@" >&2
}

# Warn when the training rows carry no system prompt (the paper's R1 prompt lives in the data).
vd_check_system_prompt() {
  vd_dry && return 0
  local file=${1%%,*}
  PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$file" >&2 <<'PY' || true
import sys

import pyarrow.parquet as pq

t = pq.ParquetFile(sys.argv[1]).read_row_group(0, columns=["prompt"]).slice(0, 1).to_pylist()
if t and not any(m.get("role") == "system" for m in t[0]["prompt"] or []):
    print(f"warning: {sys.argv[1]}: rows have no system prompt; the paper trains with the R1 "
          "<think>/<answer> prompt (the converters add it unless --no-system-prompt)")
PY
}

# verl always builds a validation set. Without VAL_DATA, the first VAL_MAX_SAMPLES rows of the (first) training file
# are copied to $OUT/data/val_<name>: a separate file, because the difficulty dataset class must tell training
# rows (filtered, hinted) from validation rows by file name. Sets VAL_FILE.
vd_val_file() {
  local first=${1%%,*}
  if [ -n "$VAL_DATA" ]; then
    VAL_FILE=$VAL_DATA
    return 0
  fi
  VAL_FILE="$OUT/data/val_$(basename "$first")"
  vd_dry && return 0
  mkdir -p "$OUT/data"
  PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$first" "$VAL_FILE" "$VAL_MAX_SAMPLES" <<'PY'
import sys

import pyarrow.parquet as pq

src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
table = pq.read_table(src)
pq.write_table(table.slice(0, n if n > 0 else table.num_rows), dst)
PY
}

# The paper's GRPO settings (PAPERS.md), as verl 0.9.1 overrides, into the array GRPO_ARGS.
#   vd_grpo_args TRAIN_FILES CKPT_DIR [MODEL]
vd_grpo_args() {
  local train=$1 ckpt=$2 model=${3:-$MODEL} val
  vd_val_file "$train"
  val=$VAL_FILE
  GRPO_ARGS=(
    "algorithm.adv_estimator=$ADV_ESTIMATOR"
    algorithm.use_kl_in_reward=False
    "data.train_files=$(vd_hydra_list "$train")"
    "data.val_files=$(vd_hydra_list "$val")"
    "data.val_max_samples=$VAL_MAX_SAMPLES"
    data.train_batch_size=8
    "data.max_prompt_length=$MAX_PROMPT_LENGTH"
    data.max_response_length=1024
    data.filter_overlong_prompts=True
    data.truncation=error
    data.image_key=images
    ++data.mm_processor_kwargs.max_pixels=1254400
    "actor_rollout_ref.model.path=$model"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.strategy=fsdp2
    actor_rollout_ref.actor.optim.lr=5e-7
    actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0.01
    "actor_rollout_ref.actor.optim.lr_scheduler_type=$LR_SCHEDULER"
    actor_rollout_ref.actor.ppo_mini_batch_size=8
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=$MICRO_BATCH"
    actor_rollout_ref.actor.use_kl_loss=True
    actor_rollout_ref.actor.kl_loss_coef=0.001
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    actor_rollout_ref.actor.entropy_coeff=0
    "actor_rollout_ref.actor.freeze_vision_tower=$([ "$FREEZE_VISION" = none ] && echo False || echo True)"
    "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]"
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.n=8
    actor_rollout_ref.rollout.temperature=1.0
    "actor_rollout_ref.rollout.tensor_model_parallel_size=$ROLLOUT_TP"
    "actor_rollout_ref.rollout.gpu_memory_utilization=$GPU_MEM_UTIL"
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=$MICRO_BATCH"
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=$MICRO_BATCH"
    reward.reward_manager.name=difficulty
    ++reward.reward_kwargs.acc_weight=1.0
    ++reward.reward_kwargs.format_weight=0.0
    "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_DIFFICULTY_FREEZE_VISION=$FREEZE_VISION"
    trainer.total_epochs=1
    "trainer.n_gpus_per_node=$NGPUS"
    "trainer.nnodes=$NNODES"
    "trainer.project_name=$PROJECT"
    "trainer.experiment_name=$EXPERIMENT"
    "trainer.logger=$LOGGER"
    "trainer.default_local_dir=$ckpt"
    "trainer.save_freq=$SAVE_FREQ"
    trainer.test_freq=-1
    trainer.val_before_train=False
  )
  if [ "$ADV_ESTIMATOR" = grpo_difficulty ]; then
    GRPO_ARGS+=(
      ++algorithm.difficulty_weight.enable=true
      "++algorithm.difficulty_weight.family=$WEIGHT_FAMILY"
      "++algorithm.difficulty_weight.acc_threshold=$WEIGHT_ACC_THRESHOLD"
    )
    [ -n "$WEIGHT_STRENGTH" ] && GRPO_ARGS+=("++algorithm.difficulty_weight.strength=$WEIGHT_STRENGTH")
  fi
  return 0
}

# The difficulty sampler over a scored parquet (branch trainer-sampler): into the array SAMPLER_ARGS.
#   vd_sampler_args METRIC KEEP WEIGHTS      e.g. pism '[mid,hard]' '{mid:1.0,hard:1.0}'
vd_sampler_args() {
  SAMPLER_ARGS=(
    ++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler
    ++data.sampler.class_name=DifficultySampler
    "++data.difficulty.metric=$1"
    "++data.difficulty.keep=$2"
    "++data.difficulty.weights=$3"
  )
}

# The stage marker printed before each composed config in DRY_RUN output.
vd_stage_marker() { echo "# ===== verl-difficulty recipe $RECIPE: stage $1 ====="; }

# Run (or, with DRY_RUN=1, compose and print) verl's PPO trainer: vd_run_grpo STAGE OVERRIDES...
# The recipe's user arguments (USER_ARGS) go last so they win.
vd_run_grpo() {
  local stage=$1
  shift
  local cmd=("$PYTHON" -m verl.trainer.main_ppo "$@" "${USER_ARGS[@]}")
  if vd_dry; then
    vd_stage_marker "$stage"
    PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}" "${cmd[@]}" --cfg job
    return
  fi
  vd_log "stage $stage: ${cmd[*]}"
  PYTHONPATH="$VD_REPO${PYTHONPATH:+:$PYTHONPATH}" "${cmd[@]}"
}

# The newest Hugging Face export under a verl checkpoint folder (global_step_N/<sub>/huggingface).
#   vd_latest_hf CKPT_DIR SUBDIR   (SUBDIR: "actor" for GRPO, "" for SFT)
vd_latest_hf() {
  local dir=$1 sub=$2 step
  if vd_dry; then
    echo "$dir/global_step_LAST${sub:+/$sub}/huggingface"
    return 0
  fi
  [ -f "$dir/latest_checkpointed_iteration.txt" ] || vd_die "$dir: no checkpoint written (latest_checkpointed_iteration.txt missing)"
  step=$(tr -d '[:space:]' <"$dir/latest_checkpointed_iteration.txt")
  local hf="$dir/global_step_$step${sub:+/$sub}/huggingface"
  [ -f "$hf/config.json" ] || vd_die "$hf: no Hugging Face export (save_contents needs hf_model)"
  echo "$hf"
}

# Start-of-recipe checks shared by every recipe.
vd_begin() {
  vd_check_model "$MODEL"
  vd_check_gpus
  if vd_dry; then
    vd_log "DRY_RUN: printing the composed verl config(s); nothing is scored or trained"
  else
    mkdir -p "$OUT"
  fi
}

# GRPO on some tiers of one metric: the body of grpo_pism_hard.sh and its siblings.
#   vd_grpo_on_tiers METRIC KEEP        (KEEP: comma-separated tiers, e.g. mid,hard)
# SELECT=split (default): train on the rows `verl-difficulty split --keep` writes (verl's own dataset and sampler);
# SELECT=sampler: train on the whole scored parquet through the difficulty sampler (WEIGHTS per tier).
vd_grpo_on_tiers() {
  local metric=$1 keep=$2 select=${SELECT:-split} train extra=()
  vd_begin
  vd_ensure_scored "$metric"
  case "$select" in
    split)
      train="$OUT/data/train_${metric}_${keep//,/_}.parquet"
      vd_split_keep "$metric" "$keep" "$train"
      ;;
    sampler)
      train=$(vd_scored_path "$metric")
      local weights="" t
      IFS=',' read -r -a _tiers <<<"$keep"
      for t in "${_tiers[@]}"; do weights+="${weights:+,}$t:1.0"; done
      if [ -n "${WEIGHTS:-}" ]; then weights=$WEIGHTS; else weights="{$weights}"; fi
      vd_sampler_args "$metric" "[$keep]" "$weights"
      extra=("${SAMPLER_ARGS[@]}")
      ;;
    *) vd_die "SELECT=$select: expected split or sampler" ;;
  esac
  vd_check_system_prompt "$train"
  vd_grpo_args "$train" "$OUT/checkpoints"
  vd_run_grpo grpo "${GRPO_ARGS[@]}" "${extra[@]}"
}
