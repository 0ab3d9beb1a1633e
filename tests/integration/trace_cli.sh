#!/usr/bin/env bash
# heed train --trace and heed-trace end to end: record a run, print it with
# filters, summarize it, export valid Chrome trace-event JSON (a diverging
# run's too), plot attention, read a truncated file with a warning, refuse
# garbage, hostile neuron indices, bad addresses and a full standard output
# with one line and a non-zero exit, quickly.
# Usage: trace_cli.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 1 \
  --max-steps 20 --quiet --trace "$tmp/run.trace" --trace-values \
  >/dev/null 2>"$tmp/train.err"
grep -q "messages recorded, 0 dropped" "$tmp/train.err"

# cat and its filters
"$ht" cat "$tmp/run.trace" >"$tmp/all.txt"
head -1 "$tmp/all.txt" | grep -q "^# heed-trace v1"
[ "$(grep -c ' bid ' "$tmp/all.txt")" -gt 0 ]
"$ht" cat --kind bid --layer 1 --neuron 3 "$tmp/run.trace" >"$tmp/f.txt"
[ -s "$tmp/f.txt" ]
if grep -v ' bid ' "$tmp/f.txt" | grep -q .; then
  echo "--kind bid let other kinds through" >&2; exit 1
fi
if grep -v 'neuron L1#3 ' "$tmp/f.txt" | grep -q .; then
  echo "--layer 1 --neuron 3 let other actors through" >&2; exit 1
fi
n=$("$ht" cat --batch 2-3 --kind batch "$tmp/run.trace" | wc -l)
[ "$n" -eq 2 ] || { echo "--batch 2-3 --kind batch: $n lines" >&2; exit 1; }

# stats
"$ht" stats "$tmp/run.trace" >"$tmp/stats.txt"
grep -q "training batch wall time" "$tmp/stats.txt"
grep -q "layer 1 (16 neurons" "$tmp/stats.txt"
grep -q "gini by quarter" "$tmp/stats.txt"

# Chrome export: valid JSON with the fields the trace-event format requires
"$ht" export --chrome "$tmp/run.json" "$tmp/run.trace" 2>/dev/null
python3 - "$tmp/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
assert ev, "no events"
kinds = {}
for e in ev:
    for k in ("name", "ph", "ts", "pid", "tid"):
        assert k in e, (k, e)
    assert isinstance(e["ts"], (int, float)), e
    kinds[e["ph"]] = kinds.get(e["ph"], 0) + 1
    if e["ph"] == "X":
        assert isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, e
    if e["ph"] in ("s", "f"):
        assert "id" in e, e
    if e["ph"] == "f":
        assert e.get("bp") == "e", e
named = {e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
used = {e["tid"] for e in ev if e["ph"] == "X"}
assert used <= named, "a track without a thread_name"
assert kinds.get("X", 0) > 100 and kinds.get("s") == kinds.get("f") > 0, kinds
PY

# The default export has a slice per layer, kind and batch: its counts,
# start times and per-neuron values are those of the records (read back
# with cat, not through the export's code), and no two slices overlap on
# a track. Per actor, a slice per message.
"$ht" cat --kind forward,bid,batch,labels "$tmp/run.trace" >"$tmp/msgs.txt"
"$ht" export --chrome "$tmp/actor.json" --tracks actor "$tmp/run.trace" \
  2>/dev/null
python3 - "$tmp" <<'PY'
import json, re, sys
from collections import defaultdict
tmp = sys.argv[1]
line = re.compile(r"^\s*([\d.]+) ms\s+b(\d+)\s+(\w+)\s+(.+?)\s+-> (\S+(?: \S+)?)"
                  r"\s+([\d.]+) us.*?(?:\|x\| (\S+))?(?:\s+min|$)")
want = defaultdict(lambda: {"n": 0, "t0": None, "vals": {}})
nmsg = 0
for l in open(tmp + "/msgs.txt"):
    if l.startswith("#"):
        continue
    m = line.match(l)
    assert m, l
    t, b, kind, frm, to, dur, xabs = m.groups()
    nmsg += 1
    layer = re.sub(r"neuron (L\d+)#\d+", r"neurons \1", to)
    g = want[(layer, kind, int(b))]
    g["n"] += 1
    us = float(t) * 1000
    g["t0"] = us if g["t0"] is None else min(g["t0"], us)
    if xabs is not None:
        j = re.search(r"#(\d+)", to if to.startswith("neuron") else frm)
        if j:
            g["vals"][int(j.group(1))] = xabs
d = json.load(open(tmp + "/run.json"))
assert d["metadata"]["tracks"] == "layer", d["metadata"]
ev = d["traceEvents"]
names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev
         if e["ph"] == "M" and e["name"] == "thread_name"}
got, spans = {}, defaultdict(list)
for e in ev:
    if e["ph"] != "X":
        continue
    layer = re.sub(r" \(\d+\)$", "", names[(e["pid"], e["tid"])])
    key = (layer, e["name"], e["args"]["batch"])
    assert key not in got, ("two slices for", key)
    got[key] = e
    spans[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
assert set(got) == set(want), set(got) ^ set(want)
for key, w in want.items():
    e = got[key]
    assert e["args"]["messages"] == w["n"], (key, e["args"], w["n"])
    assert abs(e["ts"] - w["t0"]) < 0.002, (key, e["ts"], w["t0"])
    bn = e["args"].get("mean_abs_by_neuron")
    if w["vals"]:
        assert isinstance(bn, list) and len(bn) == len(w["vals"]), (key, bn)
        for j, x in w["vals"].items():
            assert "%.4g" % bn[j] == x, (key, j, bn[j], x)
    else:
        assert bn is None, (key, bn)
assert sum(e["args"]["messages"] for e in got.values()) == nmsg
for tr, s in spans.items():
    s.sort()
    assert all(b[0] >= a[1] - 1e-3 for a, b in zip(s, s[1:])), ("overlap", names[tr])
cnames = {e["name"] for e in ev if e["ph"] == "C"}
assert {"loop 0 queued", "loop 0 longest mailbox"} <= cnames, cnames
a = json.load(open(tmp + "/actor.json"))
assert a["metadata"]["tracks"] == "actor"
assert sum(1 for e in a["traceEvents"] if e["ph"] == "X") == nmsg
PY

# a richer export: counters, full bid args, the header in metadata, and
# filters (--batch A..B, --kind, --layer, --neuron), tracks per loop
"$ht" export --chrome "$tmp/f.json" --batch 5..9 --kind bid,batch,metric \
  "$tmp/run.trace" 2>/dev/null
"$ht" export --chrome "$tmp/n.json" --layer 1 --neuron 3 --tracks loop \
  "$tmp/run.trace" 2>/dev/null
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
d = json.load(open(tmp + "/actor.json"))
md = d["metadata"]
assert md["run"] == 1 and md["tracks"] == "actor", md
assert md["config"].startswith("heed train --data digits"), md
ev = d["traceEvents"]
cnames = {e["name"] for e in ev if e["ph"] == "C"}
assert {"loss", "accuracy", "attention L1"} <= cnames, cnames
assert sum(1 for e in ev if e["ph"] == "C" and e["name"] == "loss") == 20
bid = [e for e in ev if e["ph"] == "X" and e["name"] == "bid"
       and "n" in e["args"]][0]["args"]
for k in ("batch", "from", "fanout", "loop", "n", "mean_abs", "mean", "min", "max"):
    assert k in bid, (k, bid)
f = json.load(open(tmp + "/f.json"))["traceEvents"]
xs = [e for e in f if e["ph"] == "X"]
assert xs and all(5 <= e["args"]["batch"] <= 9 for e in xs), "batch filter"
assert {e["name"] for e in xs} == {"bid", "batch"}, {e["name"] for e in xs}
steps = [e for e in f if e["ph"] == "C" and e["name"] == "loss"]
assert len(steps) == 5, len(steps)
n = json.load(open(tmp + "/n.json"))
assert n["metadata"]["tracks"] == "loop"
names = {e["args"]["name"] for e in n["traceEvents"] if e["name"] == "thread_name"}
assert names and all(x.startswith("loop ") for x in names), names
xs = [e for e in n["traceEvents"] if e["ph"] == "X"]
assert xs and all("neuron L1#3" in (e["args"]["from"], e["args"]["to"]) for e in xs)
PY

# attention plot
"$ht" attention --plot "$tmp/att.svg" "$tmp/run.trace" 2>/dev/null
grep -q "<svg" "$tmp/att.svg"

# A truncated file reads to its last whole record, with a warning.
size=$(stat -c %s "$tmp/run.trace")
head -c $((size - 7)) "$tmp/run.trace" >"$tmp/cut.trace"
"$ht" cat "$tmp/cut.trace" >"$tmp/cut.txt" 2>"$tmp/cut.err"
grep -q "truncated" "$tmp/cut.err"
[ "$(wc -l <"$tmp/cut.err")" -eq 1 ]
[ "$(wc -l <"$tmp/cut.txt")" -eq "$(($(wc -l <"$tmp/all.txt") - 1))" ]

# Bad input: one line on stderr, non-zero exit, no crash, within seconds
# (timeout's 124 fails the check). check_error_to OUT writes stdout to OUT.
check_error_to() {
  local out=$1
  shift
  set +e
  timeout -k 2 20 "$ht" "$@" >"$out" 2>"$tmp/err"
  local rc=$?
  set -e
  if [ "$rc" -eq 0 ] || [ "$rc" -gt 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
    echo "heed-trace $*: exit $rc, stderr:" >&2; cat "$tmp/err" >&2; exit 1
  fi
}
check_error() { check_error_to /dev/null "$@"; }
head -c 3000 /dev/urandom >"$tmp/garbage"
printf '\xc1' >"$tmp/c1"
: >"$tmp/empty"
check_error cat "$tmp/garbage"
check_error cat "$tmp/c1"
check_error stats "$tmp/empty"
check_error cat "$tmp/missing.trace"
check_error export --chrome "$tmp/x.json" "$tmp/c1"
check_error attention --plot "$tmp/x.svg" "$tmp/garbage"
check_error cat --layer x "$tmp/run.trace"
check_error frobnicate

# Neuron indices heed never writes (2^27: 2.1 GB of tables; 2^31: the
# table doubling overflowed and looped forever): refused, naming the file
# and the record. A trace is msgpack; this packs the few types it needs.
mktrace() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
def pk(o):
    if isinstance(o, int):
        return bytes([o]) if 0 <= o < 128 else b"\xce" + struct.pack(">I", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        return bytes([0xa0 | len(o)]) + o.encode()
    if isinstance(o, list):
        return bytes([0x90 | len(o)]) + b"".join(map(pk, o))
    return bytes([0x80 | len(o)]) + b"".join(pk(k) + pk(v) for k, v in o.items())
hdr = {"format": "heed-trace", "version": 1, "run": 1, "start_unix_ns": 0,
       "sample": 1.0, "kinds": 63}
bid = {"t": 1, "run": 1, "batch": 1, "kind": "bid", "from": [4, 2, 0],
       "to": [2, 1, int(sys.argv[2])], "fanout": 1, "loop": 0, "dur": 1,
       "sum": [1, 0.5, 0.5, 0.5, 0.5]}
open(sys.argv[1], "wb").write(pk(hdr) + pk(bid))
PY
}
for idx in 134217728 2147483648; do
  mktrace "$tmp/idx$idx.trace" "$idx"
  check_error stats "$tmp/idx$idx.trace"
  grep -q "idx$idx.trace: record 2: receiver neuron index $idx" "$tmp/err"
  check_error attention --plot "$tmp/x.svg" "$tmp/idx$idx.trace"
  check_error export --chrome "$tmp/x.json" "$tmp/idx$idx.trace"
done
mktrace "$tmp/max.trace" 16777215 # the largest layer heed builds: fine
"$ht" stats "$tmp/max.trace" >"$tmp/max.txt"
grep -q "most attended:  #16777215 0.5" "$tmp/max.txt"

# Addresses nng can never reach are refused at once, not waited on.
for url in tcp://256.0.0.1:1 tcp://127.0.0.1:99999 tcp://127.0.0.1 bogus://x; do
  check_error cat "$url"
  grep -q "cannot connect to $url" "$tmp/err"
  check_error tail "$url" --count 1
done

# Standard output that fails (a full disk) is an error, not exit 0.
check_error_to /dev/full cat "$tmp/run.trace"
grep -q "standard output: No space left on device" "$tmp/err"
check_error_to /dev/full stats "$tmp/run.trace"
check_error_to /dev/full --help
check_error_to /dev/full cat --help
check_error export --chrome /dev/full "$tmp/run.trace"

# A diverging run (identity activation, lr 100) carries NaN and infinite
# values; its Chrome export is still valid JSON, per layer and per actor.
# (heed train stops at the first step whose loss is not finite, exit 1.)
set +e
"$heed" train --data digits --data-dir "$data" --hidden 32 --epochs 1 \
  --max-steps 20 --activation identity --lr 100 --quiet \
  --trace "$tmp/div.trace" >/dev/null 2>"$tmp/div.err"
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q -- "--lr" "$tmp/div.err" ||
  { echo "a diverging run: exit $rc, $(cat "$tmp/div.err")" >&2; exit 1; }
"$ht" cat "$tmp/div.trace" >"$tmp/div.txt"
grep -qE " (nan|inf) " "$tmp/div.txt"
for tr in layer actor; do
  "$ht" export --chrome "$tmp/div.json" --tracks $tr "$tmp/div.trace" 2>/dev/null
  python3 -m json.tool "$tmp/div.json" >/dev/null
  grep -qE '"(mean_abs|max)":"-?(nan|inf)"' "$tmp/div.json"
done

# A trace that cannot be written (a full disk) fails the run with one line
# naming the file, and does not claim the messages were recorded fine.
set +e
"$heed" train --data digits --data-dir "$data" --hidden 16 --epochs 1 \
  --max-steps 5 --quiet --trace /dev/full >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "heed train --trace /dev/full: exit 0" >&2; exit 1; }
[ "$(grep -c "trace: cannot write /dev/full: No space left on device" \
      "$tmp/err")" -eq 1 ] || { cat "$tmp/err" >&2; exit 1; }
if grep -q "^heed train: trace: [0-9]* messages recorded" "$tmp/err"; then
  echo "heed train --trace /dev/full claims success" >&2; exit 1
fi

set +e
"$heed" train --data digits --data-dir "$data" --trace-kinds nope \
  >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
# machine-readable analysis: stats --json and attention agree with the
# text and with cat
"$ht" stats --json "$tmp/run.trace" >"$tmp/stats.json"
"$ht" attention --json "$tmp/run.trace" >"$tmp/att.json"
"$ht" attention "$tmp/run.trace" >"$tmp/att.txt"
"$ht" attention --neuron 1:3 --json "$tmp/run.trace" >"$tmp/n3.json"
"$ht" attention --neuron 1:3 "$tmp/run.trace" >"$tmp/n3.txt"
bids=$(grep -c ' bid .*-> neuron L1#3 ' "$tmp/all.txt")
records=$("$ht" stats "$tmp/run.trace" | sed -n 's/.*, \([0-9]*\) records.*/\1/p')
python3 - "$tmp" "$bids" "$records" <<'PY'
import json, sys
tmp, bids, records = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
st = json.load(open(tmp + "/stats.json"))
assert st["records"] == records, (st["records"], records)
assert st["metrics"] == 20 and st["last_metric"]["step"] == 20, st
assert st["dropped"] == 0
assert sum(k["total"] for k in st["messages"].values()) == records
att = json.load(open(tmp + "/att.json"))
l1 = [l for l in att["layers"] if l["layer"] == 1][0]
assert l1["neurons"] == 16 and len(l1["attention"]) == 16, l1
means = [a["mean"] for a in l1["attention"]]
assert means == sorted(means, reverse=True)
rows = [r for r in open(tmp + "/att.txt") if not r.startswith("#")]
assert len(rows) == sum(len(l["attention"]) for l in att["layers"])
n3 = json.load(open(tmp + "/n3.json"))
assert n3["layer"] == 1 and n3["neuron"] == 3 and len(n3["batches"]) == bids
txt = [r for r in open(tmp + "/n3.txt") if not r.startswith("#")]
assert len(txt) == bids
mean3 = [a["mean"] for a in l1["attention"] if a["neuron"] == 3][0]
avg = sum(b["mean_abs"] for b in n3["batches"]) / bids
assert abs(avg - mean3) <= 1e-6 * max(1.0, abs(mean3)), (avg, mean3)
PY
set +e
"$ht" attention --neuron 0:1 "$tmp/run.trace" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
echo "trace_cli: ok"
