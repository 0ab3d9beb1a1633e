#!/usr/bin/env bash
# Launchers: `mpirun -np 3 heed train ... --launcher mpi` (Debian's
# openmpi-bin, as root: --allow-run-as-root, --oversubscribe) runs rank 0
# as the coordinator and ranks 1-2 as workers, through the rendezvous file
# and through --join; three processes given Slurm's environment by hand
# do the same with --launcher slurm. Every run ends with weights bitwise
# equal to one process; no rendezvous file or process is left.
# Usage: distributed_launcher.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
command -v mpirun >/dev/null ||
  { echo "mpirun not found: tools/setup installs openmpi-bin" >&2; exit 1; }
tmp=$(mktemp -d)
. "$(dirname "$0")/data.sh"
trap 'rm -rf "$tmp"' EXIT
use_data digits "$data" "$tmp"
heed=$(realpath "$heed")
common=("${data_args[@]}" --hidden 64 --batch 16 --lr 0.1 --seed 4
        --epochs 2 --quiet)
mpi=(mpirun --oversubscribe --allow-run-as-root -np 3)
cd "$tmp" # the rendezvous file lands here

"$heed" train "${common[@]}" --checkpoint one.ckpt >/dev/null
"${mpi[@]}" "$heed" train "${common[@]}" --launcher mpi --checkpoint mpi.ckpt >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
"${mpi[@]}" "$heed" train "${common[@]}" --launcher mpi \
  --join "tcp://127.0.0.1:$port" --checkpoint join.ckpt >/dev/null
pids=()
for rank in 2 1 0; do
  SLURM_PROCID=$rank SLURM_NTASKS=3 SLURM_NNODES=1 SLURM_JOB_ID=77$$ \
    SLURM_STEP_ID=0 "$heed" train "${common[@]}" --launcher slurm \
    --checkpoint slurm.ckpt >"slurm$rank.out" 2>"slurm$rank.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || { echo "a Slurm rank failed:" >&2; cat slurm*.err >&2; exit 1; }
done

"$heed" export one.ckpt --npy one
n=0
for run in mpi join slurm; do
  "$heed" export "$run.ckpt" --npy "$run"
  for f in one/*.npy; do
    cmp "$f" "$run/$(basename "$f")" ||
      { echo "$run: $(basename "$f") differs from one process" >&2; exit 1; }
    n=$((n + 1))
  done
done
[ "$n" -eq 12 ] || { echo "expected 12 .npy comparisons, got $n" >&2; exit 1; }
if ls ./*.rendezvous >/dev/null 2>&1; then
  echo "rendezvous file left behind" >&2
  exit 1
fi
echo "mpirun (rendezvous and --join) and Slurm's environment: bitwise one process"
