# shellcheck shell=bash
# Start a Ray cluster over the nodes of the current Slurm job; sourced by score.sbatch and train.sbatch.
#
#   source recipes/slurm/ray_cluster.sh
#   vd_ray_start            # head on the first node, one worker per other node; waits until all have joined
#   srun --overlap --nodes=1 --ntasks=1 -w "$HEAD_NODE" env RAY_ADDRESS="$RAY_ADDRESS" <command>
#
# Sets HEAD_NODE, HEAD_IP, RAY_ADDRESS (ip:port), GPUS_PER_NODE and CPUS_PER_NODE. Settings: RAY_PORT (6379),
# GPUS_PER_NODE ($SLURM_GPUS_ON_NODE, else 8), CPUS_PER_NODE ($SLURM_CPUS_PER_TASK, else nproc),
# RAY_START_TIMEOUT (300 s for every node to join).

RAY_PORT=${RAY_PORT:-6379}
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
GPUS_PER_NODE=${GPUS_PER_NODE%%(*}
CPUS_PER_NODE=${CPUS_PER_NODE:-${SLURM_CPUS_PER_TASK:-$(nproc)}}
RAY_START_TIMEOUT=${RAY_START_TIMEOUT:-300}

vd_ray_start() {
  if [ -z "${SLURM_JOB_NODELIST:-}" ]; then
    echo "[ray_cluster] error: not inside a Slurm allocation (SLURM_JOB_NODELIST is unset)" >&2
    exit 2
  fi
  local nodes node n_nodes
  nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
  n_nodes=$(echo "$nodes" | wc -l)
  HEAD_NODE=$(echo "$nodes" | head -n 1)
  HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD_NODE" hostname --ip-address | awk '{print $1}')
  RAY_ADDRESS="$HEAD_IP:$RAY_PORT"
  export HEAD_NODE HEAD_IP RAY_ADDRESS GPUS_PER_NODE CPUS_PER_NODE
  echo "[ray_cluster] Ray head $HEAD_NODE ($RAY_ADDRESS); nodes: $(echo "$nodes" | tr '\n' ' ')" >&2

  srun --nodes=1 --ntasks=1 -w "$HEAD_NODE" \
    ray start --head --node-ip-address="$HEAD_IP" --port="$RAY_PORT" \
    --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE" --block &
  sleep 10
  for node in $(echo "$nodes" | tail -n +2); do
    srun --nodes=1 --ntasks=1 -w "$node" \
      ray start --address="$RAY_ADDRESS" --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE" --block &
  done

  # Wait until every node has joined (instead of a fixed sleep): a half-built cluster fails later and obscurely.
  srun --overlap --nodes=1 --ntasks=1 -w "$HEAD_NODE" python3 - "$RAY_ADDRESS" "$n_nodes" "$RAY_START_TIMEOUT" <<'PY'
import sys
import time

import ray

address, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.time() + timeout
while True:
    try:
        ray.init(address=address, logging_level="ERROR")
        break
    except Exception:
        if time.time() > deadline:
            sys.exit(f"[ray_cluster] error: no Ray head at {address} after {timeout:.0f} s")
        time.sleep(5)
while (alive := sum(1 for n in ray.nodes() if n["Alive"])) < want:
    if time.time() > deadline:
        sys.exit(f"[ray_cluster] error: only {alive} of {want} nodes joined within {timeout:.0f} s")
    time.sleep(5)
print(f"[ray_cluster] {alive} nodes up: {ray.cluster_resources()}", file=sys.stderr)
PY
}
