#!/usr/bin/env bash
# A tiny real forgetting benchmark: Split MNIST task-incremental, 2 tasks,
# 784-32-10, 100 steps per task, bp and guard compared. Checks the JSON
# fields, a 2x2 matrix, bad flags (exit 2) and --help.
# Usage: continual_small.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$heed" continual --bench split-task --tasks 2 --hidden 32 \
      --max-steps 100 --data-dir "$data" --compare bp,guard --json --quiet \
      --run-dir "$tmp/run" >"$tmp/out.json"
[ "$(wc -l <"$tmp/out.json")" -eq 1 ] || { echo "want one JSON line" >&2; exit 1; }
# the run record's object (docs/runs.md): config, then one result per strategy
jq -e '.format == "heed-run" and .command == "continual" and
       .config.continual.bench == "split-task" and .config.continual.tasks == 2
       and .config.continual.compare == ["bp","guard"]
       and (.final.results | length) == 2' "$tmp/out.json" >/dev/null ||
  { cat "$tmp/out.json" >&2; exit 1; }
cmp <(jq -c . "$tmp/run/final.json") <(jq -c . "$tmp/out.json")
[ "$(jq -s 'map(select(.kind == "task")) | length' "$tmp/run/metrics.jsonl")" -eq 4 ]
[ -s "$tmp/run/curves.svg" ]
out=$(jq -c '.final.results[]' "$tmp/out.json")
echo "$out"
for f in strategy acc_mean acc_std bwt_mean bwt_std \
         forgetting_mean forgetting_std matrix; do
  printf '%s\n' "$out" | grep -q "\"$f\":" || {
    echo "no $f in output" >&2; exit 1; }
done
printf '%s\n' "$out" | head -1 | grep -q '"strategy":"bp"'
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
"$heed" continual --help | grep -c -- --compare >/dev/null
# its help lists each flag once, and not the --epochs it refuses
[ "$("$heed" continual --help | grep -c -- '--max-steps')" -eq 1 ]
if "$heed" continual --help | grep -c -- '--epochs ' >/dev/null; then exit 1; fi
echo ok
