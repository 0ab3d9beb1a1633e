#!/usr/bin/env bash
# Resuming is exact: 2 epochs straight through, and 1 epoch + resume for the
# second, end with bitwise-identical weights. Also checks the one-line
# errors of bad flags and missing data. Usage: train_resume.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--data digits --data-dir "$data" --hidden 32 --batch 16 --lr 0.1
        --seed 3 --strategy retain:lambda=2 --quiet)
"$heed" train "${common[@]}" --epochs 2 --checkpoint "$tmp/straight.ckpt" >/dev/null
"$heed" train "${common[@]}" --epochs 1 --checkpoint "$tmp/resumed.ckpt" >/dev/null
"$heed" train "${common[@]}" --epochs 2 --resume "$tmp/resumed.ckpt" \
  --checkpoint "$tmp/resumed.ckpt" >/dev/null
"$heed" export "$tmp/straight.ckpt" --npy "$tmp/a"
"$heed" export "$tmp/resumed.ckpt" --npy "$tmp/b"
n=0
for f in "$tmp"/a/*.npy; do
  cmp "$f" "$tmp/b/$(basename "$f")"
  n=$((n + 1))
done
[ "$n" -eq 4 ] || { echo "expected 4 .npy files, got $n" >&2; exit 1; }

# Bad input: one line on stderr, non-zero exit, no crash.
check_error() {
  local want=$1; shift
  set +e
  "$heed" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { echo "exit $rc for: $*" >&2; exit 1; }
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { echo "not one line for: $*" >&2; cat "$tmp/err"; exit 1; }
  grep -q -- "$want" "$tmp/err" || { echo "missing '$want' for: $*" >&2; cat "$tmp/err"; exit 1; }
}
check_error "unknown option" train --bogus
check_error "wants an integer" train --epochs zero
check_error "fetch-data" train --data mnist --data-dir "$tmp/nothing"
check_error "unknown strategy" train --data digits --data-dir "$data" --strategy nope
check_error "--shuffle" train --shuffle maybe
printf 'garbage' >"$tmp/bad.ckpt"
check_error "bad.ckpt" train --data digits --data-dir "$data" --resume "$tmp/bad.ckpt"
echo "resume exact; bad input rejected"
