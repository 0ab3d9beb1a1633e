#!/usr/bin/env bash
# heed train --trace and heed-trace end to end: record a run, print it with
# filters, summarize it, export valid Chrome trace-event JSON, plot
# attention, read a truncated file with a warning, refuse garbage with one
# line. Usage: trace_cli.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 1 \
  --max-steps 20 --quiet --trace "$tmp/run.trace" --trace-values \
  >/dev/null 2>"$tmp/train.err"
grep -q "messages recorded, 0 dropped" "$tmp/train.err"

# cat and its filters
"$ht" cat "$tmp/run.trace" >"$tmp/all.txt"
head -1 "$tmp/all.txt" | grep -q "^# heed-trace v1"
[ "$(grep -c ' bid ' "$tmp/all.txt")" -gt 0 ]
"$ht" cat --kind bid --layer 1 --neuron 3 "$tmp/run.trace" >"$tmp/f.txt"
[ -s "$tmp/f.txt" ]
if grep -v ' bid ' "$tmp/f.txt" | grep -q .; then
  echo "--kind bid let other kinds through" >&2; exit 1
fi
if grep -v 'neuron L1#3 ' "$tmp/f.txt" | grep -q .; then
  echo "--layer 1 --neuron 3 let other actors through" >&2; exit 1
fi
n=$("$ht" cat --batch 2-3 --kind batch "$tmp/run.trace" | wc -l)
[ "$n" -eq 2 ] || { echo "--batch 2-3 --kind batch: $n lines" >&2; exit 1; }

# stats
"$ht" stats "$tmp/run.trace" >"$tmp/stats.txt"
grep -q "training batch wall time" "$tmp/stats.txt"
grep -q "layer 1 (16 neurons" "$tmp/stats.txt"
grep -q "gini by quarter" "$tmp/stats.txt"

# Chrome export: valid JSON with the fields the trace-event format requires
"$ht" export --chrome "$tmp/run.json" "$tmp/run.trace" 2>/dev/null
python3 - "$tmp/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
assert ev, "no events"
kinds = {}
for e in ev:
    for k in ("name", "ph", "ts", "pid", "tid"):
        assert k in e, (k, e)
    assert isinstance(e["ts"], (int, float)), e
    kinds[e["ph"]] = kinds.get(e["ph"], 0) + 1
    if e["ph"] == "X":
        assert isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, e
    if e["ph"] in ("s", "f"):
        assert "id" in e, e
    if e["ph"] == "f":
        assert e.get("bp") == "e", e
named = {e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
used = {e["tid"] for e in ev if e["ph"] == "X"}
assert used <= named, "a track without a thread_name"
assert kinds.get("X", 0) > 100 and kinds.get("s") == kinds.get("f") > 0, kinds
PY

# attention plot
"$ht" attention --plot "$tmp/att.svg" "$tmp/run.trace" 2>/dev/null
grep -q "<svg" "$tmp/att.svg"

# A truncated file reads to its last whole record, with a warning.
size=$(stat -c %s "$tmp/run.trace")
head -c $((size - 7)) "$tmp/run.trace" >"$tmp/cut.trace"
"$ht" cat "$tmp/cut.trace" >"$tmp/cut.txt" 2>"$tmp/cut.err"
grep -q "truncated" "$tmp/cut.err"
[ "$(wc -l <"$tmp/cut.err")" -eq 1 ]
[ "$(wc -l <"$tmp/cut.txt")" -eq "$(($(wc -l <"$tmp/all.txt") - 1))" ]

# Bad input: one line on stderr, non-zero exit, no crash.
check_error() {
  set +e
  "$ht" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  set -e
  if [ "$rc" -eq 0 ] || [ "$rc" -gt 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
    echo "heed-trace $*: exit $rc, stderr:" >&2; cat "$tmp/err" >&2; exit 1
  fi
}
head -c 3000 /dev/urandom >"$tmp/garbage"
printf '\xc1' >"$tmp/c1"
: >"$tmp/empty"
check_error cat "$tmp/garbage"
check_error cat "$tmp/c1"
check_error stats "$tmp/empty"
check_error cat "$tmp/missing.trace"
check_error export --chrome "$tmp/x.json" "$tmp/c1"
check_error attention --plot "$tmp/x.svg" "$tmp/garbage"
check_error cat --layer x "$tmp/run.trace"
check_error frobnicate
set +e
"$heed" train --data digits --data-dir "$data" --trace-kinds nope \
  >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
echo "trace_cli: ok"
