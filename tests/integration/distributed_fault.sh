#!/usr/bin/env bash
# A worker killed with SIGKILL is reported (which worker, where, at which
# batch) within 5 s, the run exits non-zero and leaves no worker behind;
# --resume from the last --checkpoint-every checkpoint then finishes the
# run with bitwise the weights of a run that was never interrupted.
# Usage: distributed_fault.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
. "$(dirname "$0")/data.sh"
trap 'rm -rf "$tmp"' EXIT
use_data mnist "$data" "$tmp"
common=("${data_args[@]}" --hidden 64 --batch 32 --lr 0.05
        --seed 9 --quiet --workers 2 --epochs 1000)
steps=1500

"$heed" train "${common[@]}" --max-steps 1000000 --checkpoint "$tmp/k.ckpt" \
  --checkpoint-every 50 >/dev/null 2>"$tmp/err" &
coord=$!
# Wait for the first checkpoint, then kill worker 2.
for _ in $(seq 200); do
  [ -f "$tmp/k.ckpt" ] && break
  sleep 0.1
done
[ -f "$tmp/k.ckpt" ] || { echo "no checkpoint written" >&2; cat "$tmp/err" >&2; exit 1; }
victim=$(pgrep -f "heed worker --listen ipc:///tmp/heed-$coord-.*/w2")
t0=$(date +%s%N)
kill -9 "$victim"
set +e
wait "$coord"
rc=$?
set -e
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -ne 0 ] || { echo "the run exited 0 after a worker died" >&2; exit 1; }
[ "$ms" -lt 5000 ] || { echo "took $ms ms to stop (limit 5000)" >&2; exit 1; }
grep -E "worker 2 \(ipc://[^)]*/w2\) died at batch [0-9]+" "$tmp/err" >/dev/null ||
  { echo "no report naming the worker:" >&2; cat "$tmp/err" >&2; exit 1; }
if grep -q "failed: peer failed" "$tmp/err"; then
  echo "a second line after the worker's:" >&2; cat "$tmp/err" >&2; exit 1
fi
sleep 0.2
if pgrep -f "heed worker --listen ipc:///tmp/heed-$coord-" >/dev/null; then
  echo "workers of the dead run left behind" >&2
  exit 1
fi
# The survivor drops the dead run's late frames without a word (issue 11
# item 14: it used to log "no run in progress").
if grep -q "no run in progress" "$tmp/err"; then
  echo "a worker logged a misleading line after the run ended:" >&2
  cat "$tmp/err" >&2
  exit 1
fi
echo "worker death reported in $ms ms, exit $rc, no orphans"

# The last checkpoint is valid and the run continues from it.
at=$(sed -n 's/.*died at batch \([0-9]*\).*/\1/p' "$tmp/err")
[ "$at" -lt "$steps" ] || { echo "killed too late (batch $at)" >&2; exit 1; }
"$heed" train "${common[@]}" --max-steps "$steps" --resume "$tmp/k.ckpt" \
  --checkpoint "$tmp/k.ckpt" >/dev/null
"$heed" train "${common[@]}" --max-steps "$steps" --checkpoint "$tmp/s.ckpt" >/dev/null
"$heed" export "$tmp/k.ckpt" --npy "$tmp/a"
"$heed" export "$tmp/s.ckpt" --npy "$tmp/b"
for f in "$tmp"/a/*.npy; do
  cmp "$f" "$tmp/b/$(basename "$f")"
done
echo "resumed after batch $at: bitwise the uninterrupted run"
