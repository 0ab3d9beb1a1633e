#!/usr/bin/env bash
# One network over several processes gives bitwise the weights of one
# process: the same seed with --workers 0, 2, 3 and 8 (local ipc:// workers)
# under both placements (whole layers, neuron slices), and with --cluster
# (two workers started by hand on tcp://127.0.0.1) exports identical .npy
# files; no worker outlives its run.
# Usage: distributed_exact.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
. "$(dirname "$0")/data.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
use_data digits "$data" "$tmp"
common=("${data_args[@]}" --hidden 32,24 --batch 16 --lr 0.1
        --seed 5 --epochs 2 --quiet)
coords=() # our coordinators: other runs may share this machine
"$heed" train "${common[@]}" --checkpoint "$tmp/w0.ckpt" >/dev/null
"$heed" export "$tmp/w0.ckpt" --npy "$tmp/w0"
runs=()
for p in layers slices; do
  for w in 2 3 8; do
    "$heed" train "${common[@]}" --workers "$w" --placement "$p" \
      --checkpoint "$tmp/$p$w.ckpt" >/dev/null &
    coords+=($!)
    wait $!
    "$heed" export "$tmp/$p$w.ckpt" --npy "$tmp/$p$w"
    runs+=("$p$w")
  done
done

# Workers started by hand, reached through a cluster file (tcp).
base=$(( 20000 + RANDOM % 20000 ))
for i in 1 2; do
  "$heed" worker --listen "tcp://127.0.0.1:$((base + i))" --quiet 2>"$tmp/worker$i.log" &
  pids+=($!)
done
printf '# two local workers\ncoordinator tcp://127.0.0.1:0\nworker tcp://127.0.0.1:%d\n%s\n' \
  $((base + 1)) "tcp://127.0.0.1:$((base + 2))" >"$tmp/cluster"
"$heed" train "${common[@]}" --cluster "$tmp/cluster" --checkpoint "$tmp/c.ckpt" >/dev/null
"$heed" export "$tmp/c.ckpt" --npy "$tmp/c"
# The same workers serve a second run.
"$heed" train "${common[@]}" --cluster "$tmp/cluster" --placement layers \
  --checkpoint "$tmp/c2.ckpt" >/dev/null
"$heed" export "$tmp/c2.ckpt" --npy "$tmp/c2"
runs+=(c c2)

n=0
for f in "$tmp"/w0/*.npy; do
  b=$(basename "$f")
  for other in "${runs[@]}"; do
    cmp "$f" "$tmp/$other/$b" || { echo "$other/$b differs from one process" >&2; exit 1; }
  done
  n=$((n + 1))
done
[ "$n" -eq 6 ] || { echo "expected 6 .npy files, got $n" >&2; exit 1; }
for c in "${coords[@]}"; do
  if pgrep -f "heed worker --listen ipc://.*/heed-$c-" >/dev/null; then
    echo "local workers left behind:" >&2
    pgrep -af "heed worker --listen ipc://.*/heed-$c-" >&2
    exit 1
  fi
done
echo "--workers 2/3/8 (layers, slices) and --cluster: bitwise the weights of one process"
