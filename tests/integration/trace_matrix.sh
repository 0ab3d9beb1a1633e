#!/usr/bin/env bash
# attention --matrix (who pays attention to whom) against an independent
# computation: the trace read with Python's msgpack, each entry worked out
# from the stored g values and coefficients of the bids; and the
# coefficients are the real ones: for every receiver and sample, the sum
# over senders of g_k[s] c_ki is the beta_i[s] its hub delivered to it.
# Without stored values there is no matrix: one line, exit 1.
# Usage: trace_matrix.sh HEED HEED_TRACE DATA_DIR
set -euo pipefail
heed=$1 ht=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "trace_matrix: $*" >&2; exit 1; }
# Debian's python3-msgpack (tools/setup), also when another python3 comes
# first on PATH
py=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import msgpack' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || fail "python3-msgpack is missing (tools/setup installs it)"

"$heed" train --data digits --data-dir "$data" --hidden 16,12 --epochs 1 \
  --max-steps 20 --quiet --trace "$tmp/run.trace" --trace-values \
  >/dev/null 2>"$tmp/train.err"
grep -q "messages recorded, 0 dropped" "$tmp/train.err" ||
  fail "the run dropped records: $(cat "$tmp/train.err")"
"$ht" attention --matrix --json "$tmp/run.trace" >"$tmp/all.json"
"$ht" attention --matrix --json --batch 3..5 "$tmp/run.trace" >"$tmp/b35.json"
"$ht" attention --matrix --top 3 "$tmp/run.trace" >"$tmp/top.txt"

"$py" - "$tmp" <<'PY'
import json, sys
from collections import defaultdict
import msgpack
tmp = sys.argv[1]
recs = list(msgpack.Unpacker(open(tmp + "/run.trace", "rb"), raw=False))
assert recs[0]["format"] == "heed-trace" and recs[0]["values"] is True

def matrix(lo, hi):
    s, n = defaultdict(float), defaultdict(int)
    for r in recs:
        if (r.get("kind") != "bid" or r["to"][0] != 3 or r["from"][0] != 2
                or "coef" not in r or not lo <= r["batch"] <= hi):
            continue
        l, k = r["from"][1], r["from"][2]
        g = r["values"]
        assert len(g) == r["sum"][0], "a bid's g was not stored whole"
        mg = sum(abs(x) for x in g) / len(g)
        for i, c in enumerate(r["coef"]):
            s[(l, k, i)] += abs(c) * mg
            n[(l, k, i)] += 1
    return {key: s[key] / n[key] for key in s}

def check(path, want):
    got = json.load(open(path))
    seen = 0
    for L in got["layers"]:
        l = L["senders_layer"]
        assert L["receivers_layer"] == l - 1
        for row, k in zip(L["matrix"], L["senders"]):
            for i, v in enumerate(row):
                w = want.get((l, k, i))
                if w is None:
                    assert v is None, (l, k, i, v)
                    continue
                assert abs(v - w) <= 1e-5 * abs(w) + 1e-12, (path, l, k, i, v, w)
                seen += 1
    assert seen == len(want) and seen > 0, (path, seen, len(want))
    return got

got = check(tmp + "/all.json", matrix(0, 1 << 62))
assert [L["senders_layer"] for L in got["layers"]] == [2, 3], got["layers"]
shape = [(len(L["senders"]), L["receivers"]) for L in got["layers"]]
assert shape == [(12, 16), (10, 12)], shape
check(tmp + "/b35.json", matrix(3, 5))

# The coefficients are the ones the hub used: sum_k g_k[s] c_ki = beta_i[s].
g = defaultdict(dict)     # (layer, batch) -> k -> (g, coef)
beta = defaultdict(dict)  # (layer, batch) -> i -> beta
for r in recs:
    if r.get("kind") != "bid" or "values" not in r:
        continue
    if r["to"][0] == 3 and "coef" in r:
        g[(r["to"][1], r["batch"])][r["from"][2]] = (r["values"], r["coef"])
    elif r["to"][0] == 2 and r["from"][0] == 3:
        beta[(r["from"][1], r["batch"])][r["to"][2]] = r["values"]
checked = 0
for key, senders in g.items():
    for i, b in beta[key].items():
        for s, bs in enumerate(b):
            x = sum(gv[s] * c[i] for gv, c in senders.values())
            assert abs(x - bs) <= 1e-4 * max(abs(bs), 1e-3), (key, i, s, x, bs)
            checked += 1
assert checked > 1000, checked
PY

# the text: the strongest edges of each layer, strongest first
[ "$(grep -c '^  L2#' "$tmp/top.txt")" -eq 3 ] || fail "text: $(cat "$tmp/top.txt")"
[ "$(grep -c '^  L3#' "$tmp/top.txt")" -eq 3 ] || fail "text: $(cat "$tmp/top.txt")"
awk '/^  L2#/ {print $4}' "$tmp/top.txt" | sort -g -r -c ||
  fail "text: not strongest first: $(cat "$tmp/top.txt")"

# Without stored values: no matrix, one line, exit 1.
"$heed" train --data digits --data-dir "$data" --hidden 16,12 --epochs 1 \
  --max-steps 5 --quiet --trace "$tmp/plain.trace" >/dev/null 2>&1
set +e
"$ht" attention --matrix "$tmp/plain.trace" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -q -- "--trace-values" "$tmp/err" ||
  fail "a trace without values: exit $rc, $(cat "$tmp/err")"
echo "trace_matrix: ok"
