#!/usr/bin/env bash
# A tiny real forgetting benchmark: Split MNIST task-incremental, 2 tasks,
# 784-32-10, 100 steps per task, bp and guard compared. Checks the JSON
# fields, a 2x2 matrix, bad flags (exit 2) and --help.
# Usage: continual_small.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
out=$("$heed" continual --bench split-task --tasks 2 --hidden 32 \
      --max-steps 100 --data-dir "$data" --compare bp,guard --json --quiet)
echo "$out"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] || {
  echo "want one JSON line per strategy" >&2; exit 1; }
for f in strategy bench tasks seeds acc_mean acc_std bwt_mean bwt_std \
         forgetting_mean forgetting_std matrix; do
  printf '%s\n' "$out" | grep -q "\"$f\":" || {
    echo "no $f in output" >&2; exit 1; }
done
printf '%s\n' "$out" | head -1 | grep -q '"strategy":"bp","bench":"split-task"'
printf '%s\n' "$out" | grep -q '"matrix":\[\[[0-9.]*,[0-9.]*\],\[[0-9.]*,[0-9.]*\]\]'
acc=$(printf '%s\n' "$out" | head -1 | sed -n 's/.*"acc_mean":\([0-9.]*\).*/\1/p')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.8) }' || {
  echo "acc_mean $acc below 0.8" >&2; exit 1; }
set +e
"$heed" continual --bench nope 2>/dev/null; [ $? -eq 2 ] || exit 1
"$heed" continual --bench split-task --tasks 6 2>/dev/null; [ $? -eq 2 ] || exit 1
msg=$("$heed" continual --data-dir /nonexistent --quiet 2>&1)
[ $? -eq 1 ] && printf '%s\n' "$msg" | grep -q fetch-data || {
  echo "missing data: want exit 1 and a hint to run tools/fetch-data" >&2
  exit 1; }
set -e
"$heed" continual --help | grep -q -- --compare
echo ok
