#!/usr/bin/env bash
# heed-trace tail sees the records of a running heed train published on an
# nng PUB socket, and reports a standard output it cannot write. Usage: trace_live.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
url="ipc://$tmp/live"
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 100000 \
  --quiet --trace-live "$url" >/dev/null 2>&1 &
pid=$!
timeout -k 5 40 "$ht" tail "$url" --count 50 >"$tmp/out"
n=$(wc -l <"$tmp/out")
[ "$n" -eq 50 ] || { echo "tail printed $n lines, not 50" >&2; exit 1; }
grep -qE ' (forward|bid|batch|labels) ' "$tmp/out"
# with a filter
timeout -k 5 40 "$ht" tail "$url" --kind bid --count 5 >"$tmp/bid"
[ "$(grep -c ' bid ' "$tmp/bid")" -eq 5 ]
# standard output that fails is an error (one line, exit 1), not exit 0
set +e
timeout -k 5 40 "$ht" tail "$url" --count 5 >/dev/full 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -q "standard output" "$tmp/err" ||
  { echo "tail >/dev/full: exit $rc" >&2; cat "$tmp/err" >&2; exit 1; }
kill -0 "$pid" || { echo "the trainer stopped early" >&2; exit 1; }
echo "trace_live: ok"
