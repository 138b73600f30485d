#!/usr/bin/env python3
"""Fixtures of tests/test_trained_accuracy.cpp: input gradients of a trained model in float64
and float32 PyTorch, to measure how far our float32 gradients are from float64 compared
with PyTorch's own float32 (issue #11, "trained-weight accuracy").

The model is the bundled, trained weights/fmnist_cnn.safetensors (weights/README.md), read
here with NumPy and loaded into the same network written in PyTorch; the inputs are 4
Fashion-MNIST test images (Debian's dataset-fashion-mnist), normalized as the model's
metadata says. Random weights hide the problem this guards against: trained weights sum
thousands of products of mixed sign that largely cancel, so the order and precision of
the sums show. Writes tests/fixtures/trained/:
  x.npy                      (4, 1, 28, 28) float32, the model input
  <case>_G.npy               (K, 4, D) float32 cotangents (seeded normal)
  <case>_grad64_hi.npy, <case>_grad64_lo.npy
                             (K, 4, 1, 28, 28) float32 each: d<G, phi(x)>/dx in float64, as
                             hi + lo (hi = float32(g64), lo = float32(g64 - hi): exact to about
                             1e-14 relative; sharedvis's NPY reader converts '<f8' to float32)
  <case>_grad32.npy          (K, 4, 1, 28, 28) float32: the same in PyTorch float32
for the cases in CASES (layer, pooling). The same for the small trained VGG11-BN and ResNet18
(tests/train_small_models.py; tests/fixtures/trained/<name>.safetensors) in
tests/fixtures/trained/<name>/, on 2 Fashion-MNIST test images upsampled to 3 channels
(SMALL_CASES), plus seeded noise against ties. Run with a Python that has torch (CPU; tested with
torch 2.15): /opt/torchvenv/bin/python tests/make_trained_fixture.py
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "weights", "fmnist_cnn.safetensors")
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
OUT = os.path.join(ROOT, "tests", "fixtures", "trained")
FIRST_IMAGE, N, K, SEED = 0, 4, 2, 11
CASES = [("features.2", "avg"), ("features.6", "avg"), ("features.10", "avg"), ("features.10", "none"),
         ("classifier.4", "none")]


def read_model(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__")
    sd = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        sd[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).copy())
    return meta, sd


class FmnistCnn(nn.Module):  # weights/models/fmnist_cnn.cpp, with the same module names
    def __init__(self, num_classes, in_channels):
        super().__init__()
        layers = []
        for i, (cin, cout) in enumerate(((in_channels, 32), (32, 64), (64, 128))):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(128 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
                                        nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def phi(model, x, layer, pool):
    captured = []
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o) if not captured else None)
    model(x)
    h.remove()
    y = captured[0]
    if y.dim() == 4 and pool == "avg":
        return y.mean((2, 3))
    return y.flatten(1)


def grads(model, x, layer, pool, G):
    """(K, N, C, H, W): d<G[k], phi(x)>/dx, one autograd pass per cotangent."""
    out = []
    for g in G:
        xv = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad((phi(model, xv, layer, pool) * g).sum(), xv)
        out.append(gx)
    return torch.stack(out)


SMALL_N = 2
SMALL_CASES = {
    # features: 2 (first conv block), 13 (4 convs), 20 (6), 27 (all 8); classifier.6: the logits
    "vgg11_bn_w8": [("features.2", "avg"), ("features.13", "avg"), ("features.20", "avg"), ("features.27", "avg"),
                    ("features.27", "none"), ("classifier.6", "none")],
    # block outputs (residual adds) from layer1 to layer4, and the logits
    "resnet18_w8": [("layer1", "avg"), ("layer2", "avg"), ("layer3.1", "avg"), ("layer4", "avg"), ("layer4", "none"),
                    ("fc", "none")],
}


def write_cases(model, model64, x, cases, out, rng):
    x32 = torch.from_numpy(x)
    for layer, pool in cases:
        with torch.no_grad():
            D = phi(model, x32, layer, pool).shape[1]
        G = rng.standard_normal((K, x.shape[0], D)).astype(np.float32)
        g64 = grads(model64, x32.double(), layer, pool, torch.from_numpy(G).double()).numpy()
        g32 = grads(model, x32, layer, pool, torch.from_numpy(G)).numpy()
        case = f"{layer}_{pool}"
        np.save(os.path.join(out, f"{case}_G.npy"), G)
        hi = g64.astype(np.float32)
        lo = (g64 - hi.astype(np.float64)).astype(np.float32)
        np.save(os.path.join(out, f"{case}_grad64_hi.npy"), hi)
        np.save(os.path.join(out, f"{case}_grad64_lo.npy"), lo)
        np.save(os.path.join(out, f"{case}_grad32.npy"), g32.astype(np.float32))
        err = np.linalg.norm(g32 - g64) / np.linalg.norm(g64)
        print(f"{out} {case}: D {D}, PyTorch float32 relative L2 error against float64 {err:.3e}")


def small_models():
    import train_small_models as tsm
    rng = np.random.default_rng(SEED)
    for name, cases in SMALL_CASES.items():
        build, side = tsm.make(name)
        _, sd = read_model(os.path.join(OUT, name + ".safetensors"))
        model, model64 = build(), build()
        model.load_state_dict(sd, strict=False)
        model64.load_state_dict(sd, strict=False)
        model.eval()
        model64 = model64.double().eval()
        x = tsm.images("t10k", side, FIRST_IMAGE, SMALL_N).numpy()
        # Upsampled Fashion-MNIST has flat regions (the background): conv outputs there are
        # exact ties in float64 and ties within rounding in float32, so max pools and ReLUs
        # decide differently (PyTorch float32 was 0.3-0.5 from float64: a coin toss, not
        # rounding; docs/accuracy.md). Seeded noise of 0.05 (the inputs' std is ~1) breaks them.
        x = x + np.float32(0.05) * np.random.default_rng(SEED + 1).standard_normal(x.shape).astype(np.float32)
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        np.save(os.path.join(out, "x.npy"), x.astype(np.float32))
        write_cases(model, model64, x, cases, out, rng)


def main():
    torch.set_num_threads(1)
    if "--small-only" in sys.argv:
        return small_models()
    meta, sd = read_model(MODEL)
    model = FmnistCnn(int(meta["num_classes"]), int(meta["in_channels"]))
    model.load_state_dict(sd, strict=False)  # num_batches_tracked is not in the file
    model.eval()
    model64 = FmnistCnn(int(meta["num_classes"]), int(meta["in_channels"]))
    model64.load_state_dict(sd, strict=False)
    model64 = model64.double().eval()

    with gzip.open(IMAGES) as f:
        raw = f.read()
    img = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)[FIRST_IMAGE:FIRST_IMAGE + N]
    mean, std = np.float32(float(meta["mean"])), np.float32(float(meta["std"]))
    x = ((img.astype(np.float32) / np.float32(255)) - mean) / std
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "x.npy"), x.astype(np.float32))

    rng = np.random.default_rng(SEED)
    x32 = torch.from_numpy(x)
    for layer, pool in CASES:
        with torch.no_grad():
            D = phi(model, x32, layer, pool).shape[1]
        G = rng.standard_normal((K, N, D)).astype(np.float32)
        g64 = grads(model64, x32.double(), layer, pool, torch.from_numpy(G).double()).numpy()
        g32 = grads(model, x32, layer, pool, torch.from_numpy(G)).numpy()
        case = f"{layer}_{pool}"
        np.save(os.path.join(OUT, f"{case}_G.npy"), G)
        hi = g64.astype(np.float32)
        lo = (g64 - hi.astype(np.float64)).astype(np.float32)
        np.save(os.path.join(OUT, f"{case}_grad64_hi.npy"), hi)
        np.save(os.path.join(OUT, f"{case}_grad64_lo.npy"), lo)
        np.save(os.path.join(OUT, f"{case}_grad32.npy"), g32.astype(np.float32))
        err = np.linalg.norm(g32 - g64) / np.linalg.norm(g64)
        print(f"{case}: D {D}, PyTorch float32 relative L2 error against float64 {err:.3e}")
    small_models()


if __name__ == "__main__":
    main()
