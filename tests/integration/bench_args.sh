#!/usr/bin/env bash
# bench_args.sh HEED SRCDIR - heed bench net's --batch/--threads and the
# argument checks of tools/bench-vs-torch (which run before it looks for
# PyTorch, so this test does not need it): bad values are one line and a
# non-zero exit; a narrow batch trains and reports.
set -euo pipefail
heed=$1
src=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$heed" bench net --batch 2 --threads 1 --steps 5 --runs 1 --json)
echo "$out" | grep -q '"case":"bp-actors","threads":1,"batch":2' ||
  fail "bench net --batch 2 --threads 1: $out"
[ "$(echo "$out" | grep -c bp-actors)" = 1 ] || fail "--threads 1 ran other counts: $out"

out=$("$heed" bench net --batch 9 --hidden 20,12 --threads 1 --steps 3 --runs 1 --json)
echo "$out" | grep -q '"case":"bp-actors","threads":1,"batch":9,"hidden":\[20,12\]' ||
  fail "bench net --hidden 20,12: $out"

for bad in "--batch 0" "--batch 1025" "--threads 3" "--batch" "--hidden 0,5" "--spin-us x" \
    "--hidden 5" "--hidden 5,4097" "--hidden 5,5,5" "--hidden"; do
  # shellcheck disable=SC2086
  if err=$("$heed" bench net $bad 2>&1 >/dev/null); then fail "bench net $bad: exit 0"; fi
  [ "$(echo "$err" | wc -l)" = 1 ] || fail "bench net $bad: $err"
done

for bad in "--spin-us x" "--spin-us -1" "--spin-us"; do
  # shellcheck disable=SC2086
  if err=$("$heed" bench runtime $bad 2>&1 >/dev/null); then fail "bench runtime $bad: exit 0"; fi
  echo "$err" | head -n 1 | grep -q -- "--spin-us" || fail "bench runtime $bad: $err"
done

for bad in "--batches 0" "--batches 1,x" "--runs 0" "--threads 3" "--hidden 5" "--hidden 0,9"; do
  # shellcheck disable=SC2086
  if err=$(/usr/bin/python3 "$src/tools/bench-vs-torch" --build /nonexistent $bad 2>&1 >/dev/null); then
    fail "bench-vs-torch $bad: exit 0"
  fi
  # the last line names the flag (argparse prints its usage above it)
  echo "$err" | tail -n 1 | grep -q -- "${bad%% *}" || fail "bench-vs-torch $bad: $err"
done
err=$(/usr/bin/python3 "$src/tools/bench-vs-torch" --build /nonexistent 2>&1 >/dev/null) &&
  fail "bench-vs-torch without a build: exit 0"
echo "$err" | grep -q "/nonexistent/src/cli/heed: not built" || fail "no build: $err"
echo ok
