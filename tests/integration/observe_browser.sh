#!/usr/bin/env bash
# The observer in a real browser: heed train --observe serves its page
# while it trains; Debian's headless chromium loads it twice during the
# run (its numbers, rendered by the page's own script from /state.json,
# must have grown) and once after (they must match the run's own counts
# and its trace file), and takes a screenshot. Then heed-trace serve shows
# the finished trace file with the same numbers.
# Usage: observe_browser.sh HEED HEED_TRACE DATA_DIR
# chromium missing is a failure, not a skip: tools/setup installs it.
set -euo pipefail
heed=$1 ht=$2 data=$3
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || {
  echo "observe_browser: chromium is missing (tools/setup installs it)" >&2
  exit 1
}
tmp=$(mktemp -d)
pid= spid=
cleanup() {
  for p in $pid $spid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Flags for a machine without a network and without a display: no
# sandbox (containers), no GPU, no QUIC or background connections that
# would hang on a closed network.
load() { # URL OUT [extra chromium flags...]: the DOM after the script ran
  local url=$1 out=$2
  shift 2
  local prof
  prof=$(mktemp -d "$tmp/prof.XXXX")
  timeout -k 5 120 "$browser" --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$prof" \
    --virtual-time-budget=3000 --window-size=1400,1100 "$@" "$url" \
    >"$out" 2>"$out.err" || {
    echo "observe_browser: chromium failed on $url" >&2
    tail -5 "$out.err" >&2
    exit 1
  }
}
field() { # FILE ID: the text of the element with that id
  sed -n "s/.*id=\"$2\">\([^<]*\)<.*/\1/p" "$1" | head -1
}
rendered() { # FILE: the page's script drew it at least once
  local n
  n=$(sed -n 's/.*data-renders="\([0-9]*\)".*/\1/p' "$1" | head -1)
  [ -n "$n" ] && [ "$n" -ge 1 ] || {
    echo "observe_browser: the page's script did not render ($1)" >&2
    exit 1
  }
}

observer_url() { # ERRFILE: wait for heed's "observer at URL" line
  local u=
  for _ in $(seq 1 300); do
    u=$(grep -o 'observer at http://[^ ]*' "$1" | cut -d' ' -f3 || true)
    [ -n "$u" ] && break
    sleep 0.1
  done
  [ -n "$u" ] || { echo "no observer URL" >&2; cat "$1" >&2; exit 1; }
  echo "$u"
}

# 1. While a run goes (one that would go on for hours; stopped below):
#    two loads, and the numbers grow.
"$heed" train --data digits --data-dir "$data" --hidden 32 --epochs 100000 \
  --trace-sample 0.05 --observe 127.0.0.1:0 \
  >/dev/null 2>"$tmp/long.err" &
pid=$!
url=$(observer_url "$tmp/long.err")
sleep 1
load "$url" "$tmp/a.html" --dump-dom
sleep 1
load "$url" "$tmp/b.html" --dump-dom
kill -0 "$pid" || { echo "observe_browser: the run stopped" >&2; exit 1; }
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
rendered "$tmp/a.html"
rendered "$tmp/b.html"
for id in records events step; do
  a=$(field "$tmp/a.html" $id) b=$(field "$tmp/b.html" $id)
  [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || {
    echo "observe_browser: #$id is '$a' then '$b', not numbers" >&2; exit 1; }
  [ "$b" -gt "$a" ] || {
    echo "observe_browser: #$id did not grow between loads ($a, $b)" >&2; exit 1; }
done
grep -q 'id="status"[^>]*>live<' "$tmp/b.html" || {
  echo "observe_browser: the page does not say live" >&2; exit 1; }

# 2. A run to its end, kept on the page (--observe-keep): the page's
#    figures are the run's and its trace file's.
"$heed" train --data digits --data-dir "$data" --hidden 32 --epochs 20 \
  --trace-sample 0.05 \
  --observe 127.0.0.1:0 --observe-keep --trace "$tmp/run.trace" \
  >"$tmp/train.out" 2>"$tmp/train.err" &
pid=$!
url=$(observer_url "$tmp/train.err")

# After the run: the page's figures are the run's.
for _ in $(seq 1 1200); do
  grep -q 'the run is over' "$tmp/train.err" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grep -q 'the run is over' "$tmp/train.err" || {
  echo "observe_browser: the run did not finish" >&2; cat "$tmp/train.err" >&2; exit 1; }
load "$url" "$tmp/c.html" --dump-dom
load "$url" "$tmp/c.png.out" --screenshot="$tmp/c.png"
rendered "$tmp/c.html"
grep -q 'id="status"[^>]*>run over<' "$tmp/c.html" || {
  echo "observe_browser: the page does not say the run is over" >&2; exit 1; }
steps=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' "$tmp/train.out")
recorded=$(sed -n 's/.*trace: \([0-9]*\) messages recorded, \([0-9]*\) dropped.*/\1 \2/p' "$tmp/train.err")
stats=$("$ht" stats "$tmp/run.trace")
events=$(echo "$stats" | sed -n 's/.*, \([0-9]*\) records.*/\1/p' | head -1)
metrics=$(echo "$stats" | sed -n 's/^metrics: \([0-9]*\) .*/\1/p')
[ "$(field "$tmp/c.html" step)" = "$steps" ] || {
  echo "observe_browser: page step $(field "$tmp/c.html" step), run $steps" >&2; exit 1; }
[ "$(field "$tmp/c.html" events)" = "$events" ] || {
  echo "observe_browser: page messages $(field "$tmp/c.html" events), trace $events" >&2; exit 1; }
[ "$metrics" = "$steps" ] || {
  echo "observe_browser: $metrics metric records for $steps steps" >&2; exit 1; }
# every record the tracer queued: the messages and one metric per step
[ "$recorded" = "$((events + metrics)) 0" ] || {
  echo "observe_browser: run says '$recorded', trace $events + $metrics" >&2; exit 1; }
[ "$(field "$tmp/c.html" dropped)" = 0 ]
head -c 8 "$tmp/c.png" | od -An -c | grep -q 'P   N   G' || {
  echo "observe_browser: no PNG screenshot" >&2; exit 1; }
kill -INT "$pid"
wait "$pid" || { echo "heed train exited $?" >&2; exit 1; }
pid=

# heed-trace serve FILE: the finished trace, the same numbers.
"$ht" serve --http 127.0.0.1:0 "$tmp/run.trace" 2>"$tmp/serve.err" &
spid=$!
surl=
for _ in $(seq 1 200); do
  surl=$(grep -o 'at http://[^ ]*' "$tmp/serve.err" | cut -d' ' -f2 || true)
  [ -n "$surl" ] && break
  sleep 0.1
done
[ -n "$surl" ] || { echo "no serve URL" >&2; cat "$tmp/serve.err" >&2; exit 1; }
load "$surl" "$tmp/d.html" --dump-dom
rendered "$tmp/d.html"
[ "$(field "$tmp/d.html" events)" = "$events" ] &&
  [ "$(field "$tmp/d.html" step)" = "$steps" ] &&
  grep -q 'id="status"[^>]*>file<' "$tmp/d.html" || {
  echo "observe_browser: heed-trace serve shows other numbers" >&2; exit 1; }
kill -INT "$spid"
wait "$spid" || { echo "heed-trace serve exited $?" >&2; exit 1; }
spid=
echo "observe_browser: ok (steps $steps, messages $events)"
