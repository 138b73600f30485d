#!/usr/bin/env python3
"""PyTorch baseline for bench/bench_gpu.cpp, on the same GPU and the same workloads.

  features  resnet50 up to layer4 for B images at SxS, eval mode, torch.no_grad()
  vjp       forward + the VJP of the pooled features (avgpool, (N,2048,1,1)) with K
            cotangents with respect to the images, two ways:
              loop     K calls of torch.autograd.grad(..., retain_graph=True)
              batched  one torch.autograd.grad(..., is_grads_batched=True) (vmap)
  ig        Integrated Gradients of the pooled layer4 features for N images, K cotangents
            and S steps (Gauss-Legendre nodes, zero baseline), the way one writes it in
            PyTorch: the interpolation points in batches of at most 64 images, each batch
            one forward and a loop over the K cotangents (retain_graph); host tensors in
            and out, as in sharedvis's bench

Settings mirror sharedvis's CUDA backend: TF32 convolutions unless SHAREDVIS_CUDA_TF32=0
(PyTorch's own default for cuDNN), full float32 matmuls, cudnn.benchmark on (sharedvis
times its convolution algorithms too; --no-cudnn-benchmark for PyTorch's default
heuristics), cudnn.deterministic when SHAREDVIS_CUDA_DETERMINISTIC=1. Weights are random
(timings do not depend on them); parameters do not require gradients.
Timing: warm-up, then the median of CUDA-event-timed iterations. Peak memory over the
timed iterations: torch.cuda.max_memory_allocated / max_memory_reserved.

Usage: python3 bench/compare_torch_gpu.py [--batch 64] [--vjp-batch 2] [--k 64]
         [--size 224] [--ig-batch 8] [--ig-k 4] [--ig-steps 32] [--iters 10] [--warmup 3]
         [--json FILE]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn


def resnet50():
    try:
        import torchvision
        return torchvision.models.resnet50(weights=None)
    except Exception:  # no torchvision: the same architecture (v1.5), written out
        return _ResNet50()


class _Bottleneck(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class _ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp, layers = 64, []
        for i, n in enumerate([3, 4, 6, 3]):
            blocks = []
            for j in range(n):
                blocks.append(_Bottleneck(inp, 64 << i, 2 if i > 0 and j == 0 else 1))
                inp = (64 << i) * 4
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)


def features(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def pooled(m, x):
    return m.avgpool(features(m, x))


def vjp_loop(m, x, cot):
    x = x.detach().requires_grad_(True)
    y = pooled(m, x)
    k = cot.shape[0]
    return torch.stack([torch.autograd.grad(y, x, cot[i], retain_graph=i < k - 1)[0] for i in range(k)])


def vjp_batched(m, x, cot):
    x = x.detach().requires_grad_(True)
    y = pooled(m, x)
    return torch.autograd.grad(y, x, cot, is_grads_batched=True)[0]


def integrated_gradients(m, x_host, g_host, steps, max_batch=64):
    """S[k] = x * sum_s w_s d<G_k, phi>/dx (t_s x) for a zero baseline; host in, host out."""
    t, w = np.polynomial.legendre.leggauss(steps)
    t, w = (1 - t[::-1]) / 2, w[::-1] / 2  # nodes on [0, 1], ascending
    dev = torch.device("cuda")
    x, g = x_host.to(dev), g_host.to(dev)
    n, k = x.shape[0], g.shape[0]
    sb = max(1, max_batch // n)
    acc = torch.zeros((k,) + tuple(x.shape), device=dev)
    for s0 in range(0, steps, sb):
        ts = torch.tensor(t[s0:s0 + sb].copy(), device=dev, dtype=x.dtype)
        ws = w[s0:s0 + sb]
        xi = (ts.view(-1, 1, 1, 1, 1) * x).reshape(-1, *x.shape[1:]).requires_grad_(True)  # step-major
        phi = features(m, xi).mean((2, 3))
        for j in range(k):
            gr = torch.autograd.grad(phi, xi, g[j].repeat(len(ts), 1), retain_graph=j < k - 1)[0]
            acc[j] += (gr.view(len(ts), n, *x.shape[1:]) * torch.tensor(ws.copy(), device=dev,
                                                                        dtype=x.dtype).view(-1, 1, 1, 1, 1)).sum(0)
    return (acc * x).cpu()


def time_it(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ms = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ms.append(a.elapsed_time(b))
    ms.sort()
    return {"median_ms": ms[len(ms) // 2], "min_ms": ms[0], "max_ms": ms[-1],
            "peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
            "peak_reserved_mib": torch.cuda.max_memory_reserved() / 2**20}


def rel_err(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--vjp-batch", type=int, default=2)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--ig-batch", type=int, default=8)
    ap.add_argument("--ig-k", type=int, default=4)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default="")
    ap.add_argument("--no-cudnn-benchmark", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("compare_torch_gpu.py: no CUDA device")

    tf32 = os.environ.get("SHAREDVIS_CUDA_TF32", "1") not in ("0", "false", "no", "off")
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
    torch.backends.cudnn.deterministic = os.environ.get("SHAREDVIS_CUDA_DETERMINISTIC", "0") in ("1", "true", "yes", "on")
    torch.manual_seed(0)
    dev = torch.device("cuda")
    m = resnet50().to(dev).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: cuDNN {torch.backends.cudnn.version()}, "
          f"tf32 {int(tf32)}, cudnn.benchmark {int(torch.backends.cudnn.benchmark)}")

    xj = torch.randn(a.vjp_batch, 3, a.size, a.size, device=dev)
    cot = torch.randn(a.k, a.vjp_batch, 2048, 1, 1, device=dev)
    # validate: the two VJP methods agree
    e = rel_err(vjp_batched(m, xj, cot), vjp_loop(m, xj, cot))
    print(f"validate vjp batched vs loop: relative error {e:.2e}")

    xf = torch.randn(a.batch, 3, a.size, a.size, device=dev)
    with torch.no_grad():
        tf = time_it(lambda: features(m, xf), a.warmup, a.iters)
    torch.cuda.empty_cache()
    tl = time_it(lambda: vjp_loop(m, xj, cot), max(1, a.warmup - 1), max(3, a.iters // 2))
    torch.cuda.empty_cache()
    tb = time_it(lambda: vjp_batched(m, xj, cot), a.warmup, a.iters)
    torch.cuda.empty_cache()
    xi = torch.randn(a.ig_batch, 3, a.size, a.size)
    gi = torch.randn(a.ig_k, a.ig_batch, 2048)
    s = integrated_gradients(m, xi, gi, a.ig_steps)
    with torch.no_grad():
        delta = (gi * (features(m, xi.to(dev)).mean((2, 3)) - features(m, torch.zeros_like(xi, device=dev)).mean((2, 3))
                       ).cpu()).sum(-1)
    gap = ((s.flatten(2).sum(-1) - delta).abs() / delta.abs()).max().item()
    print(f"validate ig completeness gap (max over {delta.numel()}): {gap:.2e}")
    ti = time_it(lambda: integrated_gradients(m, xi, gi, a.ig_steps), min(a.warmup, 1), max(3, a.iters // 2))
    for name, t in (("features", tf), ("vjp loop", tl), ("vjp batched", tb), ("ig", ti)):
        print(f"{name:12s} median {t['median_ms']:9.2f} ms (min {t['min_ms']:.2f}, max {t['max_ms']:.2f}), "
              f"peak allocated {t['peak_allocated_mib']:8.1f} MiB, reserved {t['peak_reserved_mib']:8.1f} MiB")
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "tf32": int(tf32),
           "cudnn_benchmark": int(torch.backends.cudnn.benchmark), "batch": a.batch, "vjp_batch": a.vjp_batch,
           "k": a.k, "size": a.size, "validate_vjp_rel_err": e,
           "features": tf, "vjp_loop": tl, "vjp_batched": tb,
           "ig_batch": a.ig_batch, "ig_k": a.ig_k, "ig_steps": a.ig_steps, "ig_gap_max": gap, "ig": ti}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
