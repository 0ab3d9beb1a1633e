#!/usr/bin/env bash
# Plots people can trust (issue 13): every plot kind heed draws is rendered
# to PNG with rsvg-convert, and its SVG is read back: round ticks (1, 2 or 5
# times a power of ten, evenly spaced, no 1.9e+03), accuracy within
# [0, 100], loss never below 0, whole steps and tasks as integers, every
# label inside the picture, legends under the axes, test accuracy drawn
# after --max-steps and --resume, the configuration in a subtitle.
# Usage: plots.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HEED_RUNS=$tmp/runs
d=(--data digits --data-dir "$data" --hidden 16 --quiet)
"$heed" train "${d[@]}" --epochs 3 --run-name a --plot "$tmp/train.svg" >/dev/null
"$heed" train "${d[@]}" --epochs 3 --lr 0.2 --run-name b >/dev/null
"$heed" train "${d[@]}" --epochs 3 --max-steps 70 --no-record \
  --plot "$tmp/maxsteps.svg" >/dev/null
"$heed" train "${d[@]}" --epochs 1 --no-record --checkpoint "$tmp/r.ckpt" >/dev/null
"$heed" train --data-dir "$data" --quiet --epochs 2 --resume "$tmp/r.ckpt" \
  --no-record --plot "$tmp/resumed.svg" >/dev/null
c=(--bench split-task --tasks 3 --hidden 16 --max-steps 40 --data-dir "$data"
   --quiet --no-record)
"$heed" continual "${c[@]}" --plot "$tmp/continual.svg" >/dev/null
"$heed" continual "${c[@]}" --compare bp,guard --plot "$tmp/compare.svg" >/dev/null
"$heed" runs compare a b --plot "$tmp/runs.svg" >/dev/null
# the run record's own plot
cp "$HEED_RUNS"/*-b/curves.svg "$tmp/record.svg"

for f in train maxsteps resumed continual compare runs record; do
  rsvg-convert "$tmp/$f.svg" -o "$tmp/$f.png"
  [ -s "$tmp/$f.png" ] || { echo "$f: no PNG" >&2; exit 1; }
done

python3 - "$tmp" <<'PY'
import math, re, sys, xml.etree.ElementTree as ET
tmp = sys.argv[1]
NS = "{http://www.w3.org/2000/svg}"
bad = []

def round_step(s):
    p = 10 ** math.floor(math.log10(s) + 1e-9)
    return any(abs(s - m * p) < 1e-6 * p for m in (1, 2, 5, 10))

def check(name, want_test=False, want_subtitle=True):
    root = ET.parse(f"{tmp}/{name}.svg").getroot()
    width, height = float(root.get("width")), float(root.get("height"))
    texts = list(root.iter(NS + "text"))
    sub = [t for t in texts if t.get("class") == "subtitle"]
    if want_subtitle and not (sub and sub[0].text and "lr" in sub[0].text):
        bad.append(f"{name}: no configuration subtitle")
    for t in texts:  # inside the picture (the panel groups shift y only)
        x = float(t.get("x", 0))
        if not (0 <= x <= width):
            bad.append(f"{name}: text '{t.text}' at x={x} outside 0..{width}")
    legends = [t.text for t in texts if t.get("class") == "legend"]
    if want_test and "test accuracy" not in legends:
        bad.append(f"{name}: no test accuracy curve (legend: {legends})")
    for g in root.iter(NS + "g"):
        if g.get("class") != "panel":
            continue
        labels = [t.text for t in g.iter(NS + "text")]
        ylabel = labels[2] if len(labels) > 2 else ""
        frame = [r for r in g.iter(NS + "rect") if r.get("stroke") == "#444"]
        for axis in "xy":
            ticks = [t.text for t in g.iter(NS + "text")
                     if t.get("class") == axis + "tick"]
            if not ticks:
                if list(g.iter(NS + "polyline")):
                    bad.append(f"{name}: a line panel without {axis} ticks")
                continue
            if any("e" in v for v in ticks):
                bad.append(f"{name}: {axis} tick in e-notation: {ticks}")
                continue
            vals = [float(v) for v in ticks]
            steps = {round(b - a, 9) for a, b in zip(vals, vals[1:])}
            if len(steps) != 1 or not round_step(steps.pop()):
                bad.append(f"{name}: {axis} ticks not evenly round: {ticks}")
            if axis == "x" and any("." in v for v in ticks):
                bad.append(f"{name}: fractional steps/tasks: {ticks}")
            if axis == "y" and ylabel == "%" and (min(vals) < 0 or max(vals) > 100):
                bad.append(f"{name}: accuracy axis {vals[0]}..{vals[-1]}")
            if axis == "y" and ylabel == "cross-entropy" and min(vals) < 0:
                bad.append(f"{name}: loss axis below 0: {vals[0]}")
            if axis == "y" and ylabel == "%" and vals[-1] - vals[0] < 10:
                bad.append(f"{name}: accuracy axis only {vals[-1] - vals[0]} points tall")
        if frame:  # legends under the axes, not over the data
            bottom = float(frame[0].get("y")) + float(frame[0].get("height"))
            for t in g.iter(NS + "text"):
                if t.get("class") == "legend" and float(t.get("y")) <= bottom + 10:
                    bad.append(f"{name}: legend '{t.text}' over the axes")

check("train", want_test=True)
check("record", want_test=True)
check("maxsteps", want_test=True)
check("resumed", want_test=True)
check("continual")
check("compare")
check("runs", want_subtitle=False)
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "plots ok"
