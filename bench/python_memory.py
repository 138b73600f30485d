#!/usr/bin/env python3
"""Peak memory of a K = 16 vjp on ResNet-50 at 224x224: the CLI (`sharedvis vjp`) against the
Python module (`model.vjp`), each in its own process, same model, inputs and --max-batch.

  build/pyenv/bin/python bench/python_memory.py [--cli build/sharedvis] [--runs 3]

The model has the portable pseudo-random weights (sv::init_portable, seed 1; no download):
the memory of a vjp does not depend on the weights' values. Peak RSS is the child's
ru_maxrss (getrusage). The Python figure includes the interpreter and numpy (their own
baseline, `import sharedvis, numpy` alone, is printed too). Results: bench/README.md."""
import argparse
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np

from sharedvis import _core

CHILD = """
import sys, numpy as np, sharedvis as sv
model, x, g, out = sys.argv[1:5]
m = sv.load_model(model, device="cpu")
S = m.vjp(np.load(x), np.load(g), "layer4", max_batch=16, progress=False)
np.save(out, S)
"""
BASELINE = "import numpy, sharedvis"


def measured(cmd):
    """Peak RSS (MiB) of cmd alone: measured from a fresh Python wrapper process."""
    wrap = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    p = subprocess.run([sys.executable, "-c", wrap, *cmd], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    return int(p.stdout.split()[-1]) / 1024


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default=os.path.join(root, "build", "sharedvis"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "resnet50.safetensors")
        _core.save_portable_model(model, "resnet50", 1000, 3, 224, 256, 1)
        rng = np.random.default_rng(3)
        x, g = os.path.join(d, "x.npy"), os.path.join(d, "G.npy")
        np.save(x, rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
        np.save(g, rng.standard_normal((16, 1, 2048)).astype(np.float32))
        cli = [a.cli, "vjp", "--model", model, "--layer", "layer4", "--device", "cpu", "--max-batch", "16",
               "--input", x, "--cotangent", g, "--out", os.path.join(d, "S_cli.npy")]
        py = [sys.executable, "-c", CHILD, model, x, g, os.path.join(d, "S_py.npy")]
        rows = {"cli": [], "python": [], "python baseline": []}
        for _ in range(a.runs):
            rows["cli"].append(measured(cli))
            rows["python"].append(measured(py))
            rows["python baseline"].append(measured([sys.executable, "-c", BASELINE]))
        same = np.array_equal(np.load(os.path.join(d, "S_cli.npy")), np.load(os.path.join(d, "S_py.npy")))
    print(f"resnet50 224x224, layer4 avg, K = 16, max-batch 16, CPU; peak RSS in MiB over {a.runs} runs")
    for k, v in rows.items():
        print(f"  {k:<16} min {min(v):7.1f}  max {max(v):7.1f}")
    c, p, b = min(rows["cli"]), min(rows["python"]), min(rows["python baseline"])
    print(f"  python / cli: {p / c:.3f}; (python - its baseline) / cli: {(p - b) / c:.3f}")
    print(f"  results bitwise equal: {same}")
    with open("/proc/loadavg") as f:
        print("  load average:", " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
