#!/usr/bin/env bash
# A coordinator stopped by SIGINT, SIGTERM or SIGHUP says so, stops its
# workers and removes its socket folder heed-PID-XXXXXX/; after SIGKILL
# the folder stays behind (nothing can run), and the next coordinator to
# start removes it. Runs in a temp dir of its own (TMPDIR).
# Usage: distributed_signal.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
. "$(dirname "$0")/data.sh"
coord=
cleanup() {
  [ -n "$coord" ] && kill -9 "$coord" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
use_data digits "$data" "$tmp"
export TMPDIR="$tmp/t"
mkdir "$TMPDIR"
common=("${data_args[@]}" --hidden 16 --batch 16 --seed 2 --quiet --workers 2
        --epochs 100000)

start() {
  "$heed" train "${common[@]}" >/dev/null 2>"$tmp/err" &
  coord=$!
  for _ in $(seq 100); do
    grep -q "layers on" "$tmp/err" 2>/dev/null && break
    ls "$TMPDIR"/heed-$coord-*/w2 >/dev/null 2>&1 && break
    sleep 0.05
  done
  sleep 0.3
  ls -d "$TMPDIR"/heed-$coord-* >/dev/null || { echo "no socket folder" >&2; exit 1; }
}

for sig in INT TERM HUP; do
  start
  kill -s "$sig" "$coord"
  rc=0
  wait "$coord" || rc=$?
  coord=
  [ "$rc" -ne 0 ] || { echo "SIG$sig: exit 0" >&2; exit 1; }
  grep -q "interrupted by SIG$sig; stopping the workers" "$tmp/err" ||
    { echo "SIG$sig: no line said so:" >&2; cat "$tmp/err" >&2; exit 1; }
  # one line says why, not a second one about the step it cut (issue 13)
  if grep -q "failed: peer failed" "$tmp/err"; then
    echo "SIG$sig: a second line:" >&2; cat "$tmp/err" >&2; exit 1
  fi
  if ls -d "$TMPDIR"/heed-* >/dev/null 2>&1; then
    echo "SIG$sig: socket folder left behind" >&2
    ls -la "$TMPDIR" >&2
    exit 1
  fi
  if pgrep -f "heed worker --listen ipc://$TMPDIR/heed-$coord-" >/dev/null; then
    echo "SIG$sig: workers left behind" >&2
    exit 1
  fi
  echo "SIG$sig: said so, workers stopped, folder removed (exit $rc)"
done

start
kill -9 "$coord"
wait "$coord" || true
sleep 0.3 # the workers die with it (PR_SET_PDEATHSIG)
left=$(ls -d "$TMPDIR"/heed-$coord-*)
coord=
[ -d "$left" ] || { echo "expected SIGKILL to leave the folder" >&2; exit 1; }
"$heed" train "${common[@]}" --epochs 1 --max-steps 5 >/dev/null
[ ! -e "$left" ] || { echo "the next start did not remove $left" >&2; exit 1; }
if ls -d "$TMPDIR"/heed-* >/dev/null 2>&1; then
  echo "folders left after a clean run" >&2
  exit 1
fi
echo "SIGKILL's leftover folder removed by the next start"
