"""The PyTorch side of bench/compare_torch.py: one workload per process, so that the
process's peak RSS is that workload's. Run by compare_torch.py with each PyTorch's Python:

  PYTHON bench/torch_side.py WORKLOAD --dir D --threads T --warm-reps R [--save OUT.npy]

WORKLOAD (inputs from D, written by sv_side.py setup; resnet50 224x224, layer4, avg pool):
  load         torchvision.models.resnet50() + load_state_dict from D/r50.safetensors
  features     layer4 features of D/x8.npy under torch.no_grad()
  vjp_loop     one forward of D/x1.npy, K calls of autograd.grad(retain_graph=True), G = D/g16.npy
  vjp_batched  one forward, one autograd.grad(is_grads_batched=True) (vmap over K)
  ig_loop      Integrated Gradients of D/x2.npy with D/g4.npy (K, N, D): zero baseline, Gauss-
               Legendre nodes and weights (sharedvis's default rule), the steps in passes of
               --ig-points points (step-major, as sharedvis batches them); per pass one forward
               and K backward calls
  ig_batched   the same, one is_grads_batched backward per pass
Prints one JSON line: versions, import_s, load_s, first_s (the first call after loading, in
this fresh process), warm_s (the --warm-reps calls after it), and process CPU-seconds of each.
Parameters are frozen (requires_grad False): only d/dx is computed, as sharedvis does."""
import argparse
import json
import os
import struct
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            sys.exit(f"{path}: tensor {k} has dtype {v['dtype']}, expected F32")
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy())
    return out


def load_model(path):
    m = torchvision.models.resnet50()
    missing, unexpected = m.load_state_dict(read_safetensors(path), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    m.eval()
    for prm in m.parameters():  # only d/dx is wanted (no weight gradients)
        prm.requires_grad_(False)
    return m


def layer4_avg(model):
    """x -> layer4 output, avg pooled: (N, 2048). The head after layer4 is not run."""
    def phi(x):
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        return x.mean((2, 3))
    return phi


def gauss_legendre(steps):
    x, w = np.polynomial.legendre.leggauss(steps)
    return (x + 1) / 2, w / 2  # nodes ascending in [0, 1], weights summing to 1


def make_workload(name, model, d, ig_points):
    phi = layer4_avg(model)
    if name == "features":
        x = torch.from_numpy(np.load(os.path.join(d, "x8.npy")))

        def run():
            with torch.no_grad():
                return phi(x)
        return run
    if name.startswith("vjp_"):
        x = torch.from_numpy(np.load(os.path.join(d, "x1.npy")))
        G = torch.from_numpy(np.load(os.path.join(d, "g16.npy")))  # (K, 1, 2048)

        def run():
            xt = x.clone().requires_grad_(True)
            f = phi(xt)
            if name == "vjp_batched":
                return torch.autograd.grad(f, xt, G, is_grads_batched=True)[0]
            K = G.shape[0]
            return torch.stack([torch.autograd.grad(f, xt, G[k], retain_graph=k + 1 < K)[0] for k in range(K)])
        return run
    if name.startswith("ig_"):
        x = torch.from_numpy(np.load(os.path.join(d, "x2.npy")))  # (N, C, H, W)
        G = torch.from_numpy(np.load(os.path.join(d, "g4.npy")))  # (K, N, D)
        t, w = gauss_legendre(int(open(os.path.join(d, "ig_steps.txt")).read()))
        K, N = G.shape[0], x.shape[0]
        per_pass = max(1, ig_points // N)  # steps per pass

        def run():
            acc = torch.zeros((K,) + tuple(x.shape))
            for s0 in range(0, len(t), per_pass):
                ts = t[s0:s0 + per_pass]
                pts = torch.cat([x * float(a) for a in ts]).requires_grad_(True)  # (ns*N, ...), step-major
                f = phi(pts)
                cot = G.repeat(1, len(ts), 1)  # (K, ns*N, D)
                if name == "ig_batched":
                    g = torch.autograd.grad(f, pts, cot, is_grads_batched=True)[0]
                else:
                    g = torch.stack([torch.autograd.grad(f, pts, cot[k], retain_graph=k + 1 < K)[0] for k in range(K)])
                g = g.reshape((K, len(ts), N) + tuple(x.shape[1:]))
                acc += torch.einsum("s,ksn...->kn...", torch.tensor(w[s0:s0 + len(ts)], dtype=g.dtype), g)
            return acc * x  # (x - 0) * Σ w_s ∂
        return run
    sys.exit(f"unknown workload {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warm-reps", type=int, default=2)
    ap.add_argument("--ig-points", type=int, default=16)
    ap.add_argument("--save")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "import_s": IMPORT_S}
    c0, t0 = time.process_time(), time.perf_counter()
    model = load_model(os.path.join(a.dir, "r50.safetensors"))
    res["load_s"], res["load_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    if a.workload != "load":
        run = make_workload(a.workload, model, a.dir, a.ig_points)
        times, cpus = [], []
        for i in range(1 + a.warm_reps):
            c0, t0 = time.process_time(), time.perf_counter()
            out = run()
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            if i == 0 and a.save:
                np.save(a.save, out.detach().numpy())
        res.update(first_s=times[0], first_cpu_s=cpus[0], warm_s=times[1:], warm_cpu_s=cpus[1:])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
