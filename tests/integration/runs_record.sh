#!/usr/bin/env bash
# Run records and `heed runs` (issue 13): two runs that differ only in --lr
# compare as exactly that option plus both final accuracies; the overlay
# plot renders; the record and --json hold one schema; a resumed retain
# run's record says retain. Usage: runs_record.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HEED_RUNS=$tmp/runs
common=(--data digits --data-dir "$data" --hidden 16 --epochs 2 --quiet)
"$heed" train "${common[@]}" --lr 0.05 --run-name slow --json >"$tmp/slow.json"
"$heed" train "${common[@]}" --lr 0.2 --run-name fast --json >"$tmp/fast.json"

# The record: config.json, metrics.jsonl, final.json, the checkpoint, the plot.
dir=$(jq -r .run_dir "$tmp/slow.json")
case $dir in "$HEED_RUNS"/*-slow) ;; *) echo "run_dir $dir" >&2; exit 1;; esac
for f in config.json metrics.jsonl final.json checkpoint.ckpt curves.svg; do
  [ -s "$dir/$f" ] || { echo "missing $dir/$f" >&2; exit 1; }
done
cmp <(jq -c . "$dir/final.json") <(jq -c . "$tmp/slow.json")
jq -e '.format == "heed-run" and .version == 1 and .command == "train"
       and .options.lr == 0.05 and .options.hidden == [16]
       and .strategies == ["bp","bp"] and (.heed_version | length > 0)
       and (.data.train_checksum | startswith("fnv1a64:"))' \
  "$dir/config.json" >/dev/null || { cat "$dir/config.json" >&2; exit 1; }
jq -e '.config.options.lr == 0.05 and .final.steps == 90 and
       (.final.test_accuracy > 0)' "$tmp/slow.json" >/dev/null
# every metrics line is JSON; per step, per epoch, final
jq -s -e '(map(select(.kind == "epoch")) | length) == 2 and
          (map(select(.kind == "final")) | length) == 1 and
          (map(select(.kind == "step")) | length) > 10' \
  "$dir/metrics.jsonl" >/dev/null

# heed runs ls: both, with their final accuracies
"$heed" runs ls >"$tmp/ls"
for r in slow fast; do
  acc=$(jq -r '.final.test_accuracy * 100 | . * 100 | round / 100' "$tmp/$r.json")
  grep -- "-$r " "$tmp/ls" | grep -q "$(printf '%.2f%%' "$acc")" ||
    { echo "ls lacks $r at $acc%:" >&2; cat "$tmp/ls" >&2; exit 1; }
done

# heed runs compare: exactly the differing option, and both accuracies
"$heed" runs compare slow fast --plot "$tmp/cmp.svg" >"$tmp/cmp"
opts=$(awk 'NR > 1 && $1 !~ /^final\./ {print $1}' "$tmp/cmp")
[ "$opts" = options.lr ] ||
  { echo "compare shows '$opts', not just options.lr:" >&2; cat "$tmp/cmp" >&2; exit 1; }
grep -q '^options.lr  *0.05  *0.2 *$' "$tmp/cmp" || { cat "$tmp/cmp" >&2; exit 1; }
line=$(grep '^final.test_accuracy' "$tmp/cmp")
for r in slow fast; do
  acc=$(jq -r .final.test_accuracy "$tmp/$r.json")
  grep -q -- " $acc" <<<"$line" || { echo "no $acc in: $line" >&2; exit 1; }
done
rsvg-convert "$tmp/cmp.svg" -o "$tmp/cmp.png"
[ -s "$tmp/cmp.png" ]
grep -q -- '-slow' "$tmp/cmp.svg" && grep -q -- '-fast' "$tmp/cmp.svg"

# show; rm; errors
"$heed" runs show fast | grep -c '^  options.lr  *0.2$' >/dev/null
"$heed" runs rm fast >/dev/null
[ ! -e "$(jq -r .run_dir "$tmp/fast.json")" ]
if "$heed" runs show fast 2>"$tmp/err"; then exit 1; fi
grep -q "no such run" "$tmp/err"
mkdir "$HEED_RUNS/junk" && echo '{"format":"other"}' >"$HEED_RUNS/junk/config.json"
"$heed" runs ls | grep -c 'junk .*not a heed run record' >/dev/null
if "$heed" runs rm junk 2>"$tmp/err"; then exit 1; fi
[ -d "$HEED_RUNS/junk" ]

# --run-dir and --no-record
"$heed" train "${common[@]}" --run-dir "$tmp/here" >/dev/null
[ -s "$tmp/here/config.json" ]
n=$(ls "$HEED_RUNS" | wc -l)
"$heed" train "${common[@]}" --no-record --json >"$tmp/none.json"
[ "$(ls "$HEED_RUNS" | wc -l)" -eq "$n" ]
jq -e '.run_dir == null' "$tmp/none.json" >/dev/null

# A resumed retain run: its record says retain, and so does its --json.
"$heed" train "${common[@]}" --epochs 1 --strategy retain:lambda=10 \
  --checkpoint "$tmp/r.ckpt" --no-record >/dev/null
"$heed" train --data-dir "$data" --epochs 2 --resume "$tmp/r.ckpt" --quiet \
  --run-dir "$tmp/resumed" --json >"$tmp/r.json"
jq -e '.options.strategy == "retain:lambda=10" and
       .strategies == ["retain:lambda=10","retain:lambda=10"]' \
  "$tmp/resumed/config.json" >/dev/null || { cat "$tmp/resumed/config.json" >&2; exit 1; }
jq -e '.strategy == "retain:lambda=10" and
       .config.options.strategy == "retain:lambda=10"' "$tmp/r.json" >/dev/null
# --version anywhere, with the version config.json records
v=$(jq -r .heed_version "$tmp/resumed/config.json")
for args in "--version" "train --version" "runs --version" "continual --version"; do
  # shellcheck disable=SC2086
  "$heed" $args | grep -q "^heed $v" || { echo "heed $args: no version" >&2; exit 1; }
done
echo "run records and heed runs ok"
