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
# a sweep: k=v1|v2 in --compare is one strategy per value, in order
small=(--tasks 2 --hidden 16 --max-steps 20 --data-dir "$data" --quiet
       --no-record --threads 1)
"$heed" continual --bench split-task "${small[@]}" --json \
      --compare 'bp,guard:c=0.1|0.3,auto=0|2' >"$tmp/sweep.json"
jq -e '[.final.results[].strategy] == ["bp", "guard:c=0.1,auto=0",
       "guard:c=0.1,auto=2", "guard:c=0.3,auto=0", "guard:c=0.3,auto=2"]
       and .config.continual.compare[2] == "guard:c=0.1,auto=2"' \
      "$tmp/sweep.json" >/dev/null || { cat "$tmp/sweep.json" >&2; exit 1; }
# --tune names its pick: permuted, the highest mean ACC on V1
"$heed" continual --bench permuted "${small[@]}" --json --tune 0.1 \
      --compare 'bp,guard:c=0|1' >"$tmp/tune.json"
jq -e '.final.tune_pick == (.final.results | max_by(.acc_mean) | .strategy)
       and (.final.results | length) == 3' "$tmp/tune.json" >/dev/null ||
  { cat "$tmp/tune.json" >&2; exit 1; }
# split under --tune: the lowest mean score
"$heed" continual --bench split-task "${small[@]}" --json --tune 0.1 \
      --compare 'bp,guard:c=0.1' >"$tmp/tune2.json"
jq -e '.final.tune_pick == (.final.results | min_by(.score_mean) | .strategy)' \
      "$tmp/tune2.json" >/dev/null || { cat "$tmp/tune2.json" >&2; exit 1; }
# the text names the data set the benchmark is built from
"$heed" continual --bench split-class "${small[@]}" --data fashion \
  | grep -q '^bp on split-class (fashion), 2 task' ||
  { echo "want the data set named in the table" >&2; exit 1; }
set +e
for bad in 'guard:c=0.1|' 'guard:c=|0.1' 'guard:c=0.1||0.3' 'bp|guard' \
           'guard:c|xi=1' 'guard:c=1|2|3|4|5|6,xi=1|2|3|4|5|6'; do
  msg=$("$heed" continual --compare "$bad" 2>&1); rc=$?
  [ $rc -eq 2 ] && [ "$(printf '%s\n' "$msg" | wc -l)" -eq 1 ] || {
    echo "--compare '$bad': want one line and exit 2, got $rc: $msg" >&2
    exit 1; }
done
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
