#!/usr/bin/env bash
# One network over several processes gives bitwise the weights of one
# process: the same seed with --workers 0, 2, 3 and 8 (local ipc:// workers)
# under both placements (whole layers, neuron slices), and with --cluster
# (two workers started by hand on tcp://127.0.0.1) exports identical .npy
# files; societies (--society, per-layer --strategy) and their resumes give
# bitwise the checkpoint of one process; no worker outlives its run.
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

# A society (per-layer and per-neuron strategies, each with its own state)
# over processes: the whole checkpoint, strategy states included, is
# bitwise that of one process; so is a resumed one.
printf '1:0-9 sparse:q=0.5\n2 guard:c=0.01\n3:3 retain\n' >"$tmp/soc"
"$heed" train "${common[@]}" --epochs 1 --society "$tmp/soc" --checkpoint "$tmp/s0.ckpt" >/dev/null
"$heed" train "${common[@]}" --epochs 2 --resume "$tmp/s0.ckpt" --checkpoint "$tmp/r0.ckpt" >/dev/null
for w in 2 3; do
  "$heed" train "${common[@]}" --epochs 1 --society "$tmp/soc" --workers "$w" \
    --checkpoint "$tmp/s$w.ckpt" >/dev/null
  cmp "$tmp/s0.ckpt" "$tmp/s$w.ckpt" || { echo "--society with --workers $w differs" >&2; exit 1; }
  "$heed" train "${common[@]}" --epochs 2 --resume "$tmp/s0.ckpt" --workers "$w" \
    --placement layers --checkpoint "$tmp/r$w.ckpt" >/dev/null
  cmp "$tmp/r0.ckpt" "$tmp/r$w.ckpt" || { echo "resumed society with --workers $w differs" >&2; exit 1; }
done
"$heed" train "${common[@]}" --epochs 1 --strategy 'bp;guard:c=0.01;retain' \
  --checkpoint "$tmp/p0.ckpt" >/dev/null
"$heed" train "${common[@]}" --epochs 1 --strategy 'bp;guard:c=0.01;retain' \
  --workers 2 --checkpoint "$tmp/p2.ckpt" >/dev/null
cmp "$tmp/p0.ckpt" "$tmp/p2.ckpt" || { echo "per-layer --strategy with --workers 2 differs" >&2; exit 1; }

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
echo "--workers 2/3/8 (layers, slices), --cluster, societies and resumed societies: bitwise one process"
