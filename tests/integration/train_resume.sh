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

# A resumed run says what its neurons play (issue 13): the header, --json
# and the next checkpoint's options all say retain, not the default bp.
base=(--data digits --data-dir "$data" --hidden 16 --batch 32 --quiet)
"$heed" train "${base[@]}" --epochs 1 --strategy retain:lambda=10 \
  --checkpoint "$tmp/r.ckpt" >/dev/null
"$heed" train --data-dir "$data" --epochs 2 --resume "$tmp/r.ckpt" --json \
  --checkpoint "$tmp/r2.ckpt" >"$tmp/r.json" 2>"$tmp/r.err"
grep -q "strategy retain:lambda=10," "$tmp/r.err" ||
  { echo "header does not say retain:" >&2; cat "$tmp/r.err" >&2; exit 1; }
[ "$(jq -r .strategy "$tmp/r.json")" = retain:lambda=10 ] ||
  { echo "--json does not say retain:" >&2; cat "$tmp/r.json" >&2; exit 1; }
[ "$(jq -r .dataset "$tmp/r.json")" = digits ] ||
  { echo "--data not taken from the checkpoint" >&2; exit 1; }
grep -aq -- "--strategy retain:lambda=10 " "$tmp/r2.ckpt" ||
  { echo "the next checkpoint's args do not say retain" >&2; exit 1; }
grep -aq -- "--hidden 16 " "$tmp/r2.ckpt" ||
  { echo "the next checkpoint's args lack the sizes" >&2; exit 1; }
# Flags that contradict the checkpoint: one line each, before any training.
res=(train --data-dir "$data" --epochs 2 --resume "$tmp/r.ckpt")
check_error "--strategy bp contradicts" "${res[@]}" --strategy bp
check_error "retain:lambda=10" "${res[@]}" --strategy retain:lambda=3
check_error "--lr 0.5 contradicts" "${res[@]}" --lr 0.5
check_error "--hidden 32 contradicts" "${res[@]}" --hidden 32
check_error "--activation tanh contradicts" "${res[@]}" --activation tanh
check_error "--batch 16 contradicts" "${res[@]}" --batch 16
check_error "--seed 9 contradicts" "${res[@]}" --seed 9
check_error "--data mnist contradicts" "${res[@]}" --data mnist
check_error "--init he contradicts" "${res[@]}" --init he
# Flags that agree with it are fine (the canonical spec is compared).
"$heed" "${res[@]}" --strategy retain:lambda=10.0 --hidden 16 --batch 32 \
  --quiet >/dev/null
# A per-layer society resumes as one.
"$heed" train "${base[@]}" --hidden 8,8 --epochs 1 \
  --strategy 'bp;retain:lambda=3;bp' --checkpoint "$tmp/m.ckpt" >/dev/null
"$heed" train --data-dir "$data" --epochs 2 --resume "$tmp/m.ckpt" --json \
  --quiet >"$tmp/m.json"
[ "$(jq -r .strategy "$tmp/m.json")" = "bp;retain:lambda=3;bp" ] ||
  { echo "per-layer society lost:" >&2; cat "$tmp/m.json" >&2; exit 1; }
check_error "names 2 layers" train "${base[@]}" --hidden 8,8 --strategy 'bp;bp'
# A society file: per-layer and per-neuron strategies, described as such,
# really played (the checkpoint says so on resume), errors with line numbers.
printf '# a mixed society\n2 retain:lambda=3\n1:0-7 sparse:q=0.5\n' >"$tmp/soc"
"$heed" train "${base[@]}" --hidden 16,16 --epochs 1 --society "$tmp/soc" \
  --checkpoint "$tmp/soc.ckpt" --run-dir "$tmp/socrun" --json >"$tmp/soc.json"
[ "$(jq -r .strategy "$tmp/soc.json")" = "mixed;retain:lambda=3;bp" ] ||
  { echo "society described as:" >&2; cat "$tmp/soc.json" >&2; exit 1; }
jq -e '.strategies == ["mixed","retain:lambda=3","bp"] and
       (.options.society | endswith("/soc"))' "$tmp/socrun/config.json" >/dev/null
"$heed" train --data-dir "$data" --epochs 2 --resume "$tmp/soc.ckpt" --json \
  --quiet --no-record >"$tmp/soc2.json"
[ "$(jq -r .strategy "$tmp/soc2.json")" = "mixed;retain:lambda=3;bp" ]
printf '4 bp\n' >"$tmp/s1"; printf '1:0-99 bp\n' >"$tmp/s2"
printf '\n\n1:x bp\n' >"$tmp/s3"; printf '1 sparse:q=2\n' >"$tmp/s4"
check_error "s1:1: layer 4, the network has 3 weight layers" \
  train "${base[@]}" --hidden 16,16 --society "$tmp/s1"
check_error "s2:1: neuron 99, layer 1 has 16" \
  train "${base[@]}" --hidden 16,16 --society "$tmp/s2"
check_error "s3:3: want LAYER" train "${base[@]}" --hidden 16,16 --society "$tmp/s3"
check_error "s4:1: strategy sparse: q=2 is out of range" \
  train "${base[@]}" --hidden 16,16 --society "$tmp/s4"
check_error "--society $tmp/soc contradicts" train --data-dir "$data" \
  --resume "$tmp/soc.ckpt" --society "$tmp/soc"
check_error "nosuch" train "${base[@]}" --society "$tmp/nosuch"

# Output paths are checked before training starts.
check_error "directory /nonexistent does not exist" train "${base[@]}" \
  --checkpoint /nonexistent/x.ckpt
check_error "directory /nonexistent does not exist" train "${base[@]}" \
  --plot /nonexistent/x.svg
# Mistakes named as such, with a suggestion when one is close (issue 13).
check_error "--data no/such/dir: no such directory" train --data no/such/dir
check_error "did you mean 'mnist'" train --data minst
check_error "did you mean '--hidden'" train --hiden 3
check_error "did you mean '--epochs-per-task'" continual --epochs-per-tsk 3
check_error "did you mean 'guard'" train --data digits --data-dir "$data" \
  --strategy gaurd:c=1
check_error "did you mean 'guard'" continual --compare bp,gaurd
check_error "q=2 is out of range" train --strategy sparse:q=2
# Data found from any directory: $XDG_DATA_HOME/heed, else
# ~/.local/share/heed (tools/fetch-data --user), when no ./data and no
# $HEED_DATA (issue 13).
abs_heed=$(cd "$(dirname "$heed")" && pwd)/$(basename "$heed")
abs_data=$(cd "$data" && pwd)
mkdir -p "$tmp/elsewhere" "$tmp/xdg/heed" "$tmp/home/.local/share/heed"
ln -s "$abs_data/digits" "$tmp/xdg/heed/digits"
ln -s "$abs_data/digits" "$tmp/home/.local/share/heed/digits"
(cd "$tmp/elsewhere" && env -u HEED_DATA XDG_DATA_HOME="$tmp/xdg" \
  "$abs_heed" train --data digits --hidden 8 --max-steps 2 --no-record --quiet) >/dev/null
(cd "$tmp/elsewhere" && env -u HEED_DATA -u XDG_DATA_HOME HOME="$tmp/home" \
  "$abs_heed" train --data digits --hidden 8 --max-steps 2 --no-record --quiet) >/dev/null
set +e
(cd "$tmp/elsewhere" && env -u HEED_DATA -u XDG_DATA_HOME HOME="$tmp/nohome" \
  "$abs_heed" train --data digits --no-record --quiet) 2>"$tmp/err" >/dev/null
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "data/digits: no such directory; run tools/fetch-data" "$tmp/err" ||
  { echo "no data anywhere: exit $rc" >&2; cat "$tmp/err" >&2; exit 1; }

# heed strategies: every parameter's help starts in one column (issue 13)
"$heed" strategies | python3 -c '
import re, sys
lines = [l.rstrip("\n") for l in sys.stdin if l.startswith("  ")]
cols = set()
for l in lines:
    m = re.match(r"  \S+=\S+ in \[[^\]]*\]\s+(\S)", l)
    if not m:
        sys.exit("no help text: " + l)
    cols.add(m.start(1))
sys.exit(0 if len(lines) > 5 and len(cols) == 1 else "misaligned: %s" % cols)'
echo "resume exact; resume tells the truth; bad input rejected"
