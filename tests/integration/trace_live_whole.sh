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
    kill -CONT "$p" 2>/dev/null || true # a stopped one takes TERM now
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

# 2. tail exits when the run ends, with the end mark as its last line (or,
#    when it read slower than the run wrote, a line saying the stream
#    closed before the end mark reached it: the publisher's close drops
#    what it still had queued for a slow subscriber).
ended() {
  tail -1 "$1" | grep -Eq 'end of the run$|closed before its end record' ||
    fail "tail's last line is not the run's end: $(tail -1 "$1")"
}
wait_exit() { # PID: tail must exit by itself within 10 s
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null && fail "tail did not exit when the run ended ($2)"
  wait "$1" || fail "tail exited $? ($2)"
}
url="ipc://$tmp/end"
"$ht" tail "$url" --kind drops >"$tmp/end.out" 2>"$tmp/end.err" &
tpid=$!
pids+=($tpid)
sleep 1
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 20 \
  --quiet --trace-live "$url" >/dev/null 2>&1
wait_exit "$tpid" "a reader that keeps up"
pids=()
ended "$tmp/end.out"

# 2b. The same for a reader that falls far behind: tail is stopped while
#     the run writes (its socket buffers fill, the publisher queues the
#     rest, end records included) and goes on after the run ended. It used
#     to wait forever for an end record the publisher's close threw away.
url="ipc://$tmp/slow"
"$ht" tail "$url" >"$tmp/slow.out" 2>"$tmp/slow.err" &
tpid=$!
pids+=($tpid)
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 100 \
  --quiet --trace-live "$url" >/dev/null 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 1 200); do # until tail has printed records (4 KB buffered)
  [ -s "$tmp/slow.out" ] && break
  kill -0 "$rpid" 2>/dev/null || fail "the run ended before tail read it"
  sleep 0.05
done
[ -s "$tmp/slow.out" ] || fail "tail printed nothing of a running run"
kill -STOP "$tpid"
wait "$rpid" || fail "the run failed"
kill -CONT "$tpid"
wait_exit "$tpid" "a reader stopped during the run"
pids=()
ended "$tmp/slow.out"

# 3. A stalled subscriber (connected and reading, then stopped: it never
#    reads again while the run goes on) costs the file nothing. Stopped,
#    not blocked on a full pipe: a live stream that sheds under load may
#    carry too little to fill one, and such a reader would just keep up.
url="ipc://$tmp/stall"
"$ht" tail "$url" >"$tmp/stall.out" 2>/dev/null &
spid=$!
pids+=($spid)
"$heed" train --data digits --data-dir "$data" --hidden 32 --epochs 60 \
  --quiet --trace-sample 0.1 --trace "$tmp/stall.trace" --trace-live "$url" \
  >/dev/null 2>"$tmp/stall.err" &
rpid=$!
pids+=($rpid)
for _ in $(seq 1 400); do # until tail has printed records (4 KB buffered)
  [ -s "$tmp/stall.out" ] && break
  kill -0 "$rpid" 2>/dev/null || break
  sleep 0.05
done
[ -s "$tmp/stall.out" ] || fail "the subscriber read nothing of a running run"
kill -STOP "$spid"
wait "$rpid" || fail "the run with a stalled subscriber failed: $(cat "$tmp/stall.err")"
grep -q 'messages recorded, 0 dropped' "$tmp/stall.err" ||
  fail "file records dropped with a stalled subscriber: $(cat "$tmp/stall.err")"
"$ht" stats "$tmp/stall.trace" | sed -n 1p | grep -q ' 0 dropped of ' ||
  fail "the trace counts drops: $("$ht" stats "$tmp/stall.trace" | head -1)"
kill -CONT "$spid"
wait_exit "$spid" "a reader stalled during the run"
pids=()
ended "$tmp/stall.out"
echo "trace_live_whole: ok"
