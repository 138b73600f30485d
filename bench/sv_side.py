"""The sharedvis Python package's side of bench/compare_torch.py ("warm": in-process, as a
Python user runs it), one workload per process so that its peak RSS is that workload's.
Needs a Python with the package installed (`pip install .`).

  PYTHON bench/sv_side.py setup --dir D [--n 8] [--k 16] [--ig-steps 32] [--ig-n 2] [--ig-k 4]
      writes the model D/r50.safetensors (resnet50, portable random weights, seed 1: the
      speed does not depend on the values) and the inputs every side reads:
      x8.npy (N,3,224,224), x1.npy, g16.npy (K,1,2048), x2.npy, g4.npy (K_ig,N_ig,2048)
  PYTHON bench/sv_side.py WORKLOAD --dir D --warm-reps R [--ig-points P] [--save OUT] [--out-dir O]
      WORKLOAD: load | features | vjp | ig | explain (the embedded default run, into O/<i>)
  PYTHON bench/sv_side.py compare A.npy B.npy
      prints the max and L2 relative error of A against B (JSON)
Prints one JSON line like torch_side.py's: import_s, load_s, first_s, warm_s, CPU-seconds."""
import argparse
import json
import os
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import sharedvis as sv  # noqa: E402
from sharedvis import _core  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def setup(a):
    os.makedirs(a.dir, exist_ok=True)
    _core.save_portable_model(os.path.join(a.dir, "r50.safetensors"), "resnet50", 1000, 3, 224, 256, 1)
    rng = np.random.default_rng(0)
    f32 = np.float32
    x8 = rng.standard_normal((a.n, 3, 224, 224)).astype(f32)
    np.save(os.path.join(a.dir, "x8.npy"), x8)
    np.save(os.path.join(a.dir, "x1.npy"), x8[:1])
    np.save(os.path.join(a.dir, "g16.npy"), rng.standard_normal((a.k, 1, 2048)).astype(f32))
    np.save(os.path.join(a.dir, "x2.npy"), x8[:a.ig_n] if a.ig_n <= a.n else
            rng.standard_normal((a.ig_n, 3, 224, 224)).astype(f32))
    np.save(os.path.join(a.dir, "g4.npy"), rng.standard_normal((a.ig_k, a.ig_n, 2048)).astype(f32))
    with open(os.path.join(a.dir, "ig_steps.txt"), "w") as f:
        f.write(str(a.ig_steps))


def compare(a_path, b_path):
    a, b = np.load(a_path).astype(np.float64), np.load(b_path).astype(np.float64)
    if a.shape != b.shape:
        print(json.dumps({"error": f"shapes differ: {a.shape} vs {b.shape}"}))
        return
    print(json.dumps({"max": float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)),
                      "l2": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)),
                      "bitwise": bool(np.array_equal(a, b))}))


def make_workload(name, m, d, a):
    ld = lambda f: np.load(os.path.join(d, f))  # noqa: E731
    if name == "features":
        x = ld("x8.npy")
        return lambda i: m.features(x, "layer4", "avg", progress=False)
    if name == "vjp":
        x, G = ld("x1.npy"), ld("g16.npy")
        return lambda i: m.vjp(x, G, "layer4", "avg", max_batch=G.shape[0], progress=False)
    if name == "ig":
        x, G = ld("x2.npy"), ld("g4.npy")
        steps = int(open(os.path.join(d, "ig_steps.txt")).read())
        return lambda i: m.integrated_gradients(x, G, "layer4", "avg", steps=steps, max_batch=a.ig_points,
                                                progress=False).attributions
    if name == "explain":
        return lambda i: sv.explain(out=os.path.join(a.out_dir, str(i)), progress=False)
    sys.exit(f"unknown workload {name}")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--ig-n", type=int, default=2)
    ap.add_argument("--ig-k", type=int, default=4)
    ap.add_argument("--ig-points", type=int, default=16)
    ap.add_argument("--warm-reps", type=int, default=2)
    ap.add_argument("--save")
    ap.add_argument("--out-dir")
    a = ap.parse_args()
    if a.workload == "setup":
        return setup(a)
    res = {"sharedvis": sv.__version__ if hasattr(sv, "__version__") else "?", "import_s": IMPORT_S}
    m = None
    if a.workload != "explain":  # explain loads its own (the bundled) model
        c0, t0 = time.process_time(), time.perf_counter()
        m = sv.load_model(os.path.join(a.dir, "r50.safetensors"), device="cpu")
        res["load_s"], res["load_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    if a.workload != "load":
        run = make_workload(a.workload, m, a.dir, a)
        times, cpus = [], []
        for i in range(1 + a.warm_reps):
            c0, t0 = time.process_time(), time.perf_counter()
            out = run(i)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            if i == 0 and a.save:
                np.save(a.save, np.asarray(out))
        res.update(first_s=times[0], first_cpu_s=cpus[0], warm_s=times[1:], warm_cpu_s=cpus[1:])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
