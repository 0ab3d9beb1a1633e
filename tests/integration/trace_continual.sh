#!/usr/bin/env bash
# heed continual --trace and --observe: one trace for the command, each
# task's start marked (in order, at the step it starts), the CONSOLIDATE
# control messages between tasks, one metric record per training step;
# the observer's state has the same marks.
# Usage: trace_continual.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "trace_continual: $*" >&2; exit 1; }
"$heed" continual --data digits --data-dir "$data" --bench permuted --tasks 3 \
  --max-steps 30 --hidden 16 --quiet --no-record --trace "$tmp/c.trace" \
  --observe 127.0.0.1:0 --observe-keep >/dev/null 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q 'the run is over' "$tmp/err" && break
  kill -0 "$pid" 2>/dev/null || fail "heed continual stopped: $(cat "$tmp/err")"
  sleep 0.1
done
grep -q 'messages recorded, 0 dropped' "$tmp/err" || fail "$(cat "$tmp/err")"
url=$(grep -o 'observer at http://[^ ]*' "$tmp/err" | cut -d' ' -f3)
"$ht" cat --kind mark "$tmp/c.trace" | sed 's/.* mark *//' >"$tmp/marks"
printf 'seed 1 at step 0\ntask 1 at step 0\ntask 2 at step 30\ntask 3 at step 60\n' |
  diff - "$tmp/marks" || fail "marks differ"
# CONSOLIDATE after tasks 1 and 2: control records between the marks
ctl=$("$ht" cat --kind control,mark "$tmp/c.trace" | awk '
  / mark /{ if ($0 ~ /task 2/) seen2=1; if ($0 ~ /task 3/) seen3=1; next }
  / control /{ if (seen2 && !seen3) a++; else if (seen3) b++; else c++ }
  END { print c+0, a+0, b+0 }')
set -- $ctl
[ "$1" -gt 0 ] && [ "$2" -gt 0 ] && [ "$3" -eq 0 ] ||
  fail "CONSOLIDATE records before task 2, before task 3, after: $ctl"
"$ht" stats "$tmp/c.trace" | grep -c '^metrics: 90 (after step 90' >/dev/null ||
  fail "not one metric per step: $("$ht" stats "$tmp/c.trace" | sed -n 2p)"
python3 - "$url" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "state.json", timeout=30))
marks = [(m["name"], m["value"], m["step"]) for m in s["marks"]]
assert marks == [("seed", 1, 0), ("task", 1, 0), ("task", 2, 30), ("task", 3, 60)], marks
assert s["done"] and s["step"] == 90 and s["by_kind"]["control"] > 0, s["step"]
PY
kill -INT "$pid"
wait "$pid" || fail "heed continual exited $?"
pid=
echo "trace_continual: ok"
