#!/usr/bin/env python3
"""gen_data.py DIR [TRAIN] [TEST] [SIDE] - writes a small generated data set
in MNIST's IDX format (train-/t10k- images and labels) for the tests that
must run without a download: ten classes of SIDE x SIDE images, each a
class's stripe pattern plus seeded noise. Deterministic."""
import os
import random
import struct
import sys


def images(rng, labels, side):
    out = bytearray()
    for c in labels:
        for r in range(side):
            for k in range(side):
                v = 200 if (r + 2 * k + c) % 10 < 3 else 20
                out.append(max(0, min(255, v + rng.randint(-40, 40))))
    return bytes(out)


def write(d, name, magic, dims, body):
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack(">I", magic))
        for n in dims:
            f.write(struct.pack(">I", n))
        f.write(body)


def main():
    d = sys.argv[1]
    ntrain = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    ntest = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    side = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    os.makedirs(d, exist_ok=True)
    rng = random.Random(12345)
    for prefix, n in (("train", ntrain), ("t10k", ntest)):
        labels = [rng.randrange(10) for _ in range(n)]
        write(d, prefix + "-images-idx3-ubyte", 0x803, (n, side, side),
              images(rng, labels, side))
        write(d, prefix + "-labels-idx1-ubyte", 0x801, (n,), bytes(labels))


main()
