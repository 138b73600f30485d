"""Inputs of the staged-explain benchmarks (bench/explain_stages.sh, bench/explain_memory.sh):
n random 224x224 RGB PNG images and a responses CSV of m random neurons, half the images
of category "face". Usage: stage_inputs.py DIR N M (needs numpy)."""
import struct
import sys
import zlib

import numpy as np

d, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)


def png(path, a):  # 8-bit RGB, no dependency beyond zlib
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


rows = []
for i in range(n):
    png(f"{d}/img{i}.png", rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    rows.append([f"img{i}.png", "face" if i % 2 == 0 else "other"] + [f"{v:.6f}" for v in rng.standard_normal(m)])
with open(f"{d}/responses.csv", "w") as f:
    f.write(",".join(["image", "category"] + [f"n{j}" for j in range(m)]) + "\n")
    for r in rows:
        f.write(",".join(r) + "\n")
