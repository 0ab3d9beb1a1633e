#!/usr/bin/env bash
# A live subscriber sees the whole run: one that joins late still gets the
# header (with the run's command line) within a second or so; tail exits by
# itself when the run ends; and a subscriber that stops reading costs the
# trace file nothing (0 records dropped).
# Usage: trace_live_whole.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "trace_live_whole: $*" >&2; exit 1; }

# 1. A late subscriber gets the header.
url="ipc://$tmp/late"
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 100000 \
  --quiet --trace-sample 0.1 --trace-live "$url" >/dev/null 2>&1 &
pids+=($!)
sleep 2
timeout -s INT -k 5 6 "$ht" tail "$url" >"$tmp/late.out" 2>&1 || true
grep -q '^# heed-trace v1 run' "$tmp/late.out" ||
  fail "a late subscriber got no header: $(head -3 "$tmp/late.out")"
[ "$(grep -c '^# heed-trace' "$tmp/late.out")" -eq 1 ] ||
  fail "tail printed the header more than once"
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
pids=()

# 2. tail exits when the run ends, with the end mark as its last line.
url="ipc://$tmp/end"
"$ht" tail "$url" --kind drops >"$tmp/end.out" 2>"$tmp/end.err" &
tpid=$!
pids+=($tpid)
sleep 1
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 20 \
  --quiet --trace-live "$url" >/dev/null 2>&1
for _ in $(seq 1 100); do
  kill -0 "$tpid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$tpid" 2>/dev/null && fail "tail did not exit when the run ended"
wait "$tpid" || fail "tail exited $?"
pids=()
tail -1 "$tmp/end.out" | grep -q 'end of the run' ||
  fail "tail's last line is not the run's end: $(tail -1 "$tmp/end.out")"

# 3. A stalled subscriber (it connects, then never reads) costs the file
#    nothing.
url="ipc://$tmp/stall"
mkfifo "$tmp/fifo"
exec 3<>"$tmp/fifo" # a pipe nobody reads: tail blocks once it is full
"$ht" tail "$url" >&3 2>/dev/null &
spid=$!
pids+=($spid)
"$heed" train --data digits --data-dir "$data" --hidden 32 --epochs 30 \
  --quiet --trace-sample 0.1 --trace "$tmp/stall.trace" --trace-live "$url" \
  >/dev/null 2>"$tmp/stall.err"
kill -0 "$spid" || fail "the stalled subscriber is gone"
grep -q 'messages recorded, 0 dropped' "$tmp/stall.err" ||
  fail "file records dropped with a stalled subscriber: $(cat "$tmp/stall.err")"
"$ht" stats "$tmp/stall.trace" | sed -n 1p | grep -c ' 0 dropped of ' >/dev/null ||
  fail "the trace counts drops: $("$ht" stats "$tmp/stall.trace" | head -1)"
# a process blocked writing to a full pipe would flush into it at exit:
# this one is killed outright
kill -KILL "$spid"
wait "$spid" 2>/dev/null || true
pids=()
echo "trace_live_whole: ok"
