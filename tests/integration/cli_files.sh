#!/usr/bin/env bash
# Hostile files and flags for heed train/strategies/continual (issue 11):
# deep checkpoints resume, empty data sets and inconsistent checkpoints are
# refused, output paths that are not regular files are refused before any
# training, out-of-range strategy parameters are refused, and a failed
# write to stdout is an error. Every refusal is one line and a non-zero
# exit. Usage: cli_files.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(--data digits --data-dir "$data" --batch 16 --lr 0.1 --quiet)

check_error() {
  local want=$1; shift
  set +e
  "$heed" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { echo "exit $rc for: $*" >&2; cat "$tmp/err" >&2; exit 1; }
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { echo "not one line for: $*" >&2; cat "$tmp/err" >&2; exit 1; }
  grep -q -F -- "$want" "$tmp/err" || { echo "missing '$want' for: $*" >&2; cat "$tmp/err" >&2; exit 1; }
}

# --- item 2: checkpoints deeper than 16 weight layers resume (up to 64)
for depth in 20 64; do
  hidden=$(printf '8%.0s,' $(seq 1 $((depth - 1)))); hidden=${hidden%,}
  "$heed" train "${small[@]}" --hidden "$hidden" --max-steps 2 \
    --checkpoint "$tmp/deep$depth.ckpt" >/dev/null
  "$heed" train "${small[@]}" --max-steps 3 --resume "$tmp/deep$depth.ckpt" \
    --json >"$tmp/out"
  grep -q '"steps":3' "$tmp/out" || { echo "deep $depth: not resumed" >&2; cat "$tmp/out" >&2; exit 1; }
  "$heed" export "$tmp/deep$depth.ckpt" --npy "$tmp/npy$depth"
  [ "$(ls "$tmp/npy$depth" | wc -l)" -eq $((2 * depth)) ]
done
check_error "--hidden wants up to 63" train "${small[@]}" --hidden "$(printf '8%.0s,' $(seq 1 64))8"

# --- item 3: IDX sets of 0 samples (and tiny ones, for item 10 below)
idx() { # DIR PREFIX N: N 8x8 images, all label 1
  local n=$1 dir=$2 prefix=$3
  mkdir -p "$dir"
  { printf '\x00\x00\x08\x03'; printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
    printf '\x00\x00\x00\x08\x00\x00\x00\x08'; head -c $((64 * n)) /dev/zero; } >"$dir/$prefix-images-idx3-ubyte"
  { printf '\x00\x00\x08\x01'; printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
    for _ in $(seq 1 "$n"); do printf '\x01'; done; } >"$dir/$prefix-labels-idx1-ubyte"
}
idx 0 "$tmp/empty_train" train; idx 5 "$tmp/empty_train" t10k
idx 5 "$tmp/empty_test" train;  idx 0 "$tmp/empty_test" t10k
idx 5 "$tmp/tiny" train;        idx 5 "$tmp/tiny" t10k
check_error "empty_train/train-images-idx3-ubyte: no samples" train --data "$tmp/empty_train" --quiet
check_error "empty_test/t10k-images-idx3-ubyte: no samples" train --data "$tmp/empty_test" --quiet
check_error "t10k-images-idx3-ubyte: no samples" continual --data "$tmp/empty_test" --quiet
"$heed" train --data "$tmp/tiny" --hidden 4 --batch 2 --quiet --json >/dev/null

# --- item 6: output paths that are not regular files, refused up front
mkfifo "$tmp/fifo"
mkdir "$tmp/dir"
check_error "--checkpoint $tmp/fifo: is a FIFO" train "${small[@]}" --checkpoint "$tmp/fifo"
check_error "--save-init $tmp/fifo: is a FIFO" train "${small[@]}" --save-init "$tmp/fifo"
check_error "--checkpoint $tmp/dir: is a directory" train "${small[@]}" --checkpoint "$tmp/dir"
[ -p "$tmp/fifo" ] && [ -d "$tmp/dir" ]
[ -z "$(ls "$tmp" | grep '\.tmp\.' || true)" ]

# --- item 10: a checkpoint's options checked like flags
# (a checkpoint resumes on its own --data, so the data set changes under
# the same name: 200 samples become 5)
idx 200 "$tmp/swap" train; idx 5 "$tmp/swap" t10k
"$heed" train --data "$tmp/swap" --hidden 4 --batch 2 --epochs 1 --quiet \
  --checkpoint "$tmp/e1.ckpt" >/dev/null
idx 5 "$tmp/swap" train
check_error "e1.ckpt: 'step' = 100 disagrees with 'epoch' = 1" \
  train --quiet --resume "$tmp/e1.ckpt"
check_error "--data $tmp/tiny contradicts $tmp/e1.ckpt" \
  train --data "$tmp/tiny" --quiet --resume "$tmp/e1.ckpt"
check_error "--lr wants a number in [1e-09, 100], got '0'" train "${small[@]}" --lr 0
check_error "--batch wants an integer in [1, 4096], got '65536'" train "${small[@]}" --batch 65536

# --- item 11: strategy parameters within their declared ranges
check_error "sparse: q=5 is out of range [0, 1]" train "${small[@]}" --strategy sparse:q=5
check_error "sparse: q=-1 is out of range [0, 1]" train "${small[@]}" --strategy sparse:q=-1
check_error "retain: lambda=-5 is out of range" train "${small[@]}" --strategy retain:lambda=-5
check_error "retain: lambda=1e+308 is out of range" train "${small[@]}" --strategy retain:lambda=1e308
# every parameter is listed with its default and range (whatever the default)
"$heed" strategies | grep -c -E "^  q=[0-9.e+-]+ in \[0, 1\]" >/dev/null
"$heed" strategies | grep -c -E "^  cov=[0-9.e+-]+ in \[0, 4096\]" >/dev/null

# --- item 9: stdout that cannot be written is an error
if [ -w /dev/full ]; then
  exec 3>/dev/full
  set +e
  "$heed" strategies >&3 2>"$tmp/err0"; rc0=$?
  "$heed" train "${small[@]}" --hidden 4 --max-steps 2 --json >&3 2>"$tmp/err"; rc1=$?
  "$heed" continual --data digits --data-dir "$data" --bench split-task --tasks 2 \
    --hidden 4 --max-steps 2 --json --quiet >&3 2>"$tmp/err2"; rc2=$?
  set -e
  [ "$rc0" -eq 1 ] && [ "$(wc -l <"$tmp/err0")" -eq 1 ] && grep -q "cannot write standard output" "$tmp/err0" || { echo "strategies >/dev/full: exit $rc0" >&2; cat "$tmp/err0" >&2; exit 1; }
  [ "$rc1" -eq 1 ] && grep -q "cannot write standard output" "$tmp/err" || { echo "train --json >/dev/full: exit $rc1" >&2; cat "$tmp/err" >&2; exit 1; }
  [ "$rc2" -eq 1 ] && grep -q "cannot write standard output" "$tmp/err2" || { echo "continual --json >/dev/full: exit $rc2" >&2; cat "$tmp/err2" >&2; exit 1; }
else
  echo "cli_files: /dev/full missing, cannot test full stdout" >&2
  exit 1
fi
# --- a run that diverges within the allowed ranges stops with one line and
# a non-zero exit, its record says so, and no final.json claims success
check_error "the loss diverged (nan)" train --data digits --data-dir "$data" \
  --lr 100 --quiet --max-steps 50 --run-dir "$tmp/div"
grep -q '"kind":"diverged"' "$tmp/div/metrics.jsonl" || { echo "no diverged record" >&2; exit 1; }
[ ! -e "$tmp/div/final.json" ] || { echo "diverged run wrote final.json" >&2; exit 1; }
echo "hostile files and flags refused"
