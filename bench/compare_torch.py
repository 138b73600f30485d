#!/usr/bin/python3
"""sharedvis vs PyTorch on the same machine, in the same run: model loading, features and a
K-cotangent VJP on resnet50 at 224x224 (portable random weights: the speed does not
depend on the values).

  /usr/bin/python3 bench/compare_torch.py [--cli build/sharedvis] [--n 8] [--k 16] [--repeats 3]

What is timed (best of --repeats, wall clock):
  load      sharedvis: `sharedvis info` (process start, reading the model file, layer shapes)
            PyTorch:   torchvision.models.resnet50() + load_state_dict from the same file
  features  sharedvis: `sharedvis features --layer layer4 --pool avg` on N images, minus the
            load time above (what the command spends on the forward pass)
            PyTorch:   the forward pass under torch.no_grad()
  vjp       K cotangents G (K, 1, 2048) at layer4 (avg) for one image.
            sharedvis: `sharedvis vjp` minus the load time (one forward, multi-output backward)
            PyTorch (a): one forward, K calls of autograd.grad(..., retain_graph=True)
            PyTorch (b): one forward, autograd.grad(..., is_grads_batched=True) (vmap)
Both sides use every core of the machine (torch.set_num_threads); PyTorch's parameters are
frozen (requires_grad False) so that its backward computes input gradients only.
Both use OpenMP (libgomp): on a machine busy with other work, its default spin-waiting
dominates the timings (PyTorch's backward most of all), so also run with
OMP_WAIT_POLICY=passive and report both; a quiet machine is the fair comparison. Results are checked
against each other before anything is timed; the ratios are PyTorch time / sharedvis time
(> 1: sharedvis is faster), against the faster PyTorch method for vjp.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "weights"))


def find_cli(explicit):
    for c in [explicit, os.path.join(ROOT, "build", "sharedvis"), os.path.join(ROOT, "build-b2", "sharedvis")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    sys.exit("sharedvis binary not found: build it (cmake --build build) or pass --cli")


def make_model_file(path):
    """resnet50 with portable random weights: weights/convert.py --random if present."""
    convert = os.path.join(ROOT, "weights", "convert.py")
    if os.path.exists(convert):
        subprocess.run([sys.executable, convert, "--arch", "resnet50", "--random", "--seed", "1", "--out", path],
                       check=True, stdout=subprocess.DEVNULL)
        return
    # Fallback: torch's random init written as safetensors by hand.
    model = torchvision.models.resnet50().eval()
    tensors = [(k, v.detach().float().contiguous().numpy()) for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")]
    header, off = {"__metadata__": {"arch": "resnet50", "num_classes": "1000", "input_size": "224",
                                    "resize_size": "256"}}, 0
    for k, a in tensors:
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, a in tensors:
            f.write(a.tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy())
    return out


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_cli(cli, args):
    r = subprocess.run([cli] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sharedvis {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli")
    ap.add_argument("--n", type=int, default=8, help="images for features")
    ap.add_argument("--k", type=int, default=16, help="cotangents for vjp")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="sharedvis --device (PyTorch runs on the CPU)")
    args = ap.parse_args()
    cli = find_cli(args.cli)
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    tmp = tempfile.mkdtemp(prefix="sv_bench_")
    p = lambda name: os.path.join(tmp, name)  # noqa: E731
    print(f"machine: {threads} cores; torch {torch.__version__} ({torch.get_num_threads()} threads); {cli}")
    make_model_file(p("r50.safetensors"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, 3, 224, 224)).astype(np.float32)
    np.save(p("x.npy"), x)
    np.save(p("x1.npy"), x[:1])
    G = rng.standard_normal((args.k, 1, 2048)).astype(np.float32)
    np.save(p("G.npy"), G)
    dev = ["--device", args.device]

    # ---- PyTorch model (loaded from the same file) and its hooks
    def torch_load():
        m = torchvision.models.resnet50()
        m.load_state_dict(read_safetensors(p("r50.safetensors")), strict=False)
        return m.eval()

    model = torch_load()
    for prm in model.parameters():  # only d/dx is wanted: no weight gradients (faster backward)
        prm.requires_grad_(False)

    def phi(xt):
        out = []
        h = model.layer4.register_forward_hook(lambda mod, i, o: out.append(o))
        model(xt)
        h.remove()
        return out[0].mean((2, 3))

    def torch_features():
        with torch.no_grad():
            return phi(torch.from_numpy(x)).numpy()

    def torch_vjp_loop():
        xt = torch.from_numpy(x[:1]).requires_grad_(True)
        f = phi(xt)
        return np.stack([torch.autograd.grad(f, xt, torch.from_numpy(G[k]), retain_graph=k + 1 < args.k)[0].numpy()
                         for k in range(args.k)])

    def torch_vjp_batched():
        xt = torch.from_numpy(x[:1]).requires_grad_(True)
        f = phi(xt)
        return torch.autograd.grad(f, xt, torch.from_numpy(G), is_grads_batched=True)[0].numpy()

    # ---- validate before timing
    run_cli(cli, ["features", "--model", p("r50.safetensors"), "--layer", "layer4", "--input", p("x.npy"),
                  "--out", p("f.npy")] + dev)
    run_cli(cli, ["vjp", "--model", p("r50.safetensors"), "--layer", "layer4", "--input", p("x1.npy"),
                  "--cotangent", p("G.npy"), "--out", p("v.npy")] + dev)
    ref_v = torch_vjp_loop()
    f_sv, v_sv, f_t = np.load(p("f.npy")), np.load(p("v.npy")), torch_features()
    # A deep random ReLU net has pre-activations within float32 rounding of 0, where one
    # side or the other of the kink is equally right: PyTorch float32 itself differs from
    # float64 by ~1e-2 (max) / ~3e-3 (L2) on this VJP. Beyond ~5e-2 something is wrong.
    print(f"check: features rel. error {rel(f_sv, f_t):.1e} (max) {rel_l2(f_sv, f_t):.1e} (L2); "
          f"vjp rel. error {rel(v_sv, ref_v):.1e} (max) {rel_l2(v_sv, ref_v):.1e} (L2)")
    if rel(f_sv, f_t) > 1e-3 or rel_l2(v_sv, ref_v) > 5e-2:
        sys.exit("sharedvis and PyTorch disagree: not timing")
    batched_ok = True
    try:
        print(f"check: is_grads_batched vs loop rel. error {rel(torch_vjp_batched(), ref_v):.2e}")
    except Exception as e:  # vmap may not cover every op of a torch build
        batched_ok = False
        print(f"note: autograd.grad(is_grads_batched=True) failed ({type(e).__name__}: {e}); timing the loop only")

    # ---- time
    R = args.repeats
    sv_load = best_of(R, lambda: run_cli(cli, ["info", "--model", p("r50.safetensors")] + dev))
    t_load = best_of(R, torch_load)
    sv_feat = best_of(R, lambda: run_cli(cli, ["features", "--model", p("r50.safetensors"), "--layer", "layer4",
                                               "--input", p("x.npy"), "--out", p("f.npy")] + dev))
    t_feat = best_of(R, torch_features)
    sv_vjp = best_of(R, lambda: run_cli(cli, ["vjp", "--model", p("r50.safetensors"), "--layer", "layer4",
                                              "--input", p("x1.npy"), "--cotangent", p("G.npy"),
                                              "--out", p("v.npy"), "--max-batch", str(args.k)] + dev))
    t_loop = best_of(R, torch_vjp_loop)
    t_batched = best_of(R, torch_vjp_batched) if batched_ok else float("inf")
    sv_feat_c, sv_vjp_c = max(sv_feat - sv_load, 1e-9), max(sv_vjp - sv_load, 1e-9)
    t_vjp = min(t_loop, t_batched)

    gflop_f = 4.09 * args.n  # resnet50 forward at 224: about 4.1 GFLOP (multiply-adds x 2) per image
    print(f"\nresnet50 224x224, best of {R}; sharedvis --device {args.device}")
    print(f"{'':28s}{'sharedvis':>12s}{'PyTorch':>12s}{'ratio':>8s}")
    print(f"{'load model':28s}{sv_load:11.3f}s{t_load:11.3f}s{t_load / sv_load:8.2f}")
    print(f"{'features N=%d (compute)' % args.n:28s}{sv_feat_c:11.3f}s{t_feat:11.3f}s{t_feat / sv_feat_c:8.2f}"
          f"   ({gflop_f / sv_feat_c:.0f} vs {gflop_f / t_feat:.0f} GFLOP/s)")
    print(f"{'features N=%d (command)' % args.n:28s}{sv_feat:11.3f}s{t_load + t_feat:11.3f}s"
          f"{(t_load + t_feat) / sv_feat:8.2f}")
    print(f"{'vjp K=%d (compute)' % args.k:28s}{sv_vjp_c:11.3f}s{t_vjp:11.3f}s{t_vjp / sv_vjp_c:8.2f}"
          f"   (PyTorch loop {t_loop:.3f}s, is_grads_batched "
          f"{'%.3fs' % t_batched if batched_ok else 'n/a'})")
    print(f"{'vjp K=%d (command)' % args.k:28s}{sv_vjp:11.3f}s{t_load + t_vjp:11.3f}s{(t_load + t_vjp) / sv_vjp:8.2f}")
    print("ratio = PyTorch / sharedvis (> 1: sharedvis faster); compute = command time minus load time")


if __name__ == "__main__":
    main()
