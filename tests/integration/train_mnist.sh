#!/usr/bin/env bash
# Real MNIST, end to end: bp, 1 epoch, 784-128-10, batch 32, lr 0.05 must
# reach at least 92% test accuracy. Usage: train_mnist.sh HEED DATA_DIR
set -euo pipefail
heed=$1 data=$2
out=$("$heed" train --data mnist --data-dir "$data" --hidden 128 --epochs 1 \
      --batch 32 --lr 0.05 --seed 1 --json --quiet)
echo "$out"
acc=$(printf '%s\n' "$out" | sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p')
[ -n "$acc" ] || { echo "no test_accuracy in output" >&2; exit 1; }
awk -v a="$acc" 'BEGIN { exit !(a >= 0.92) }' || {
  echo "test accuracy $acc is below 0.92" >&2; exit 1; }
