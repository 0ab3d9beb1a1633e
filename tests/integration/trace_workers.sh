#!/usr/bin/env bash
# A traced run over several processes records every process's actors: the
# per-layer message counts of `heed-trace stats` equal those of the same run
# in one process (every batch, one batch in three sampled, sliced and
# whole-layer placement, workers on tcp:// serving two runs); the
# records carry processes 0, 1 and 2, the workers' on process 0's clock
# (each batch's first-layer neurons start after the input handed the batch
# on); `export --chrome` has one process group per process; the live
# stream carries the workers' records too; under mpirun (--launcher mpi)
# the same. Generated data when digits is absent. With data/mnist present (CI
# fetches it), also the acceptance command of issue 12: MNIST 784-256-256-10,
# 200 steps.
# Usage: trace_workers.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
pid=
wpids=()
cleanup() {
  for p in "${wpids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/data.sh"
use_data digits "$data" "$tmp"
command -v mpirun >/dev/null ||
  { echo "mpirun not found: tools/setup installs openmpi-bin" >&2; exit 1; }

# The "messages handled" table of heed-trace stats.
counts() {
  "$ht" stats "$1" | sed -n '/^messages handled/,/^$/p'
}

# traced OUT ARGS...: heed train ARGS traced into OUT with nothing dropped.
# A tracer drops (and counts) what it cannot keep up with, by design; on a
# machine loaded enough to starve its writer thread the counts cannot be
# compared, so such a run is made again (at most three times, said on
# stdout).
traced() {
  local out=$1
  shift
  for attempt in 1 2 3; do
    "$heed" train "$@" --quiet --trace "$out" >/dev/null 2>"$out.err"
    if "$ht" stats "$out" | sed -n 1p | grep -c ' 0 dropped of ' >/dev/null; then
      return 0
    fi
    echo "trace_workers: $(basename "$out"): records dropped (a loaded machine), run $attempt of 3"
  done
  echo "$out: records dropped in three runs" >&2
  exit 1
}

# compare NAME ARGS...: the same run traced in one process and over 2
# workers, the same per-layer counts.
compare() {
  local name=$1
  shift
  traced "$tmp/$name.1.trace" "$@"
  traced "$tmp/$name.2.trace" "$@" --workers 2
  counts "$tmp/$name.1.trace" >"$tmp/$name.1.counts"
  counts "$tmp/$name.2.trace" >"$tmp/$name.2.counts"
  grep -q '^  forward' "$tmp/$name.1.counts"
  if ! cmp -s "$tmp/$name.1.counts" "$tmp/$name.2.counts"; then
    echo "$name: per-layer counts differ (one process, then --workers 2):" >&2
    cat "$tmp/$name.1.counts" "$tmp/$name.2.counts" >&2
    exit 1
  fi
}

digits=("${data_args[@]}" --hidden 32,24 --batch 16 --seed 3 --epochs 1
        --max-steps 60)
compare digits "${digits[@]}"
compare sampled "${digits[@]}" --trace-sample 0.34
compare layers "${digits[@]}" --placement layers

# Workers started by hand on tcp:// (--cluster) serve two traced runs, with
# the counts of one process each time.
base=$(( 20000 + RANDOM % 20000 ))
for i in 1 2; do
  "$heed" worker --listen "tcp://127.0.0.1:$((base + i))" --quiet 2>"$tmp/worker$i.log" &
  wpids+=($!)
done
printf 'coordinator tcp://127.0.0.1:0\nworker tcp://127.0.0.1:%d\nworker tcp://127.0.0.1:%d\n' \
  $((base + 1)) $((base + 2)) >"$tmp/cluster"
for k in 1 2; do
  traced "$tmp/tcp$k.trace" "${digits[@]}" --cluster "$tmp/cluster"
  counts "$tmp/tcp$k.trace" >"$tmp/tcp$k.counts"
  cmp -s "$tmp/digits.1.counts" "$tmp/tcp$k.counts" ||
    { echo "--cluster run $k: per-layer counts differ" >&2; cat "$tmp/tcp$k.counts" >&2; exit 1; }
done
kill "${wpids[@]}"
wait "${wpids[@]}" 2>/dev/null || true
wpids=()

# Launched by mpirun (--launcher mpi): the same counts.
heed_abs=$(realpath "$heed")
(cd "$tmp" && mpirun --oversubscribe --allow-run-as-root -np 3 "$heed_abs" \
   train "${digits[@]}" --launcher mpi --quiet --trace "$tmp/mpi.trace" \
   >/dev/null 2>"$tmp/mpi.err")
counts "$tmp/mpi.trace" >"$tmp/mpi.counts"
cmp -s "$tmp/digits.1.counts" "$tmp/mpi.counts" ||
  { echo "mpirun run: per-layer counts differ" >&2; cat "$tmp/mpi.counts" >&2; exit 1; }
"$ht" stats "$tmp/mpi.trace" | grep -c '^processes: 3' >/dev/null

# Every process is in the trace, marked with its index.
t="$tmp/digits.2.trace"
"$ht" stats "$t" >"$tmp/stats"
grep -q '^processes: 3' "$tmp/stats"
"$ht" cat "$t" >"$tmp/cat"
head -1 "$tmp/cat" | grep -q 'processes 3'
for p in 0 1 2; do
  grep -q " proc $p\$" "$tmp/cat" || { echo "no record of process $p" >&2; exit 1; }
done

# One clock: the workers' records of a batch start after the coordinator's
# input handed it on (allowing 1 ms: the offset is within half a round trip).
python3 - "$tmp/cat" <<'PY'
import re, sys
batch_at, first_neuron = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+) ms  b(\d+)\s+(\w+)\s+(.+?)\s+->\s+(.+?)\s{2,}", line)
    if not m:
        continue
    t, b, kind, frm, to = float(m[1]), int(m[2]), m[3], m[4], m[5]
    if kind == "batch":
        batch_at[b] = t
    elif kind == "forward" and to.startswith("neuron L1#"):
        first_neuron[b] = min(t, first_neuron.get(b, t))
assert batch_at and first_neuron, "no batch or layer-1 records"
late = [(b, batch_at[b], t) for b, t in first_neuron.items()
        if b in batch_at and t < batch_at[b] - 1.0]
assert not late, f"layer 1 handled batches before they were handed on: {late[:3]}"
PY

# Chrome export: valid JSON, one process group per heed process.
"$ht" export --chrome "$tmp/run.json" "$t" 2>/dev/null
python3 -m json.tool "$tmp/run.json" >/dev/null
python3 - "$tmp/run.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
pids = {e["pid"] for e in ev if e["ph"] == "X"}
named = {e["pid"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
assert pids == {1, 2, 3}, pids
assert named == pids, (named, pids)
tracks = {(e["pid"], e["tid"]) for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
assert {(e["pid"], e["tid"]) for e in ev if e["ph"] == "X"} <= tracks
assert any(e["ph"] == "s" for e in ev), "no flow arrows"
PY

# The live stream carries the workers' records too.
url="ipc://$tmp/live"
"$heed" train "${data_args[@]}" --hidden 16 --epochs 100000 \
  --quiet --workers 2 --trace-live "$url" >/dev/null 2>&1 &
pid=$!
timeout -k 5 60 "$ht" tail "$url" --kind forward --layer 1 --count 200 >"$tmp/live.out"
grep -q ' proc 1$' "$tmp/live.out" || { echo "no worker record on the live stream" >&2; exit 1; }
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

# The acceptance command of issue 12, when MNIST is here.
if [ -f "$data/mnist/train-images-idx3-ubyte" ] || [ -f "$data/mnist/train-images-idx3-ubyte.gz" ]; then
  compare mnist --data mnist --data-dir "$data" --hidden 256,256 --max-steps 200
  echo "trace_workers: MNIST 784-256-256-10, 200 steps: per-layer counts equal"
  cat "$tmp/mnist.2.counts"
else
  echo "trace_workers: $data/mnist absent: the MNIST acceptance run was not made"
fi
echo "trace_workers: ok"
