#!/usr/bin/python3
"""Writes the fixtures of tests/test_image.cpp, test_primitives.cpp and test_cli_primitives.cpp
into tests/fixtures/primitives/, computed with PyTorch, torchvision and PIL.

  /usr/bin/python3 tests/make_primitive_fixtures.py

Image transform (PIL + torchvision, the reference of apps/io/image.cpp):
  image_rgb.png (97x61 RGB, a smooth pattern with noise) through
    Resize(48) + CenterCrop(40) + ToTensor + Normalize(ImageNet)       -> image_rgb_r48_c40.npy
    Grayscale (PIL convert("L")) + Resize(33) + CenterCrop(31)
      + Normalize(0.5, 0.25)                                              -> image_gray_r33_c31.npy
  image_small.png (31x23 RGB) upscaled: Resize(40) + CenterCrop(37)      -> image_small_r40_c37.npy
  (a crop offset of 1.5 exercises Python's round-half-to-even)

Primitives, on torchvision's resnet18 (10 classes) at 32x32 with the portable pseudo-random
weights of weights/convert.py (seed 3), identical to sv::init_portable(net, 3); reference
computations in float64:
  x.npy            (2, 3, 32, 32) inputs
  ig_G.npy         (2, 256) cotangent at layer3, pool avg
  ig_expected.npy  (2, 3, 32, 32) Integrated Gradients, 32 Gauss-Legendre nodes (numpy's
                   leggauss, an independent implementation), zero baseline
  ig_delta.npy     (2,) <G, phi(x)> - <G, phi(0)>, the completeness target
  vjp_G.npy        (3, 2, 256) K = 3 cotangents at layer3, pool avg
  vjp_expected.npy (3, 2, 3, 32, 32) d<G_k, phi>/dx for each k (separate autograd passes)
  jac_layer2_expected.npy (3, 2, 3, 32, 32) Jacobian rows dims 0, 777, 2047 of layer2, pool none
  jac_fc_expected.npy     (2, 2, 3, 32, 32) Jacobian rows dims 0, 9 of fc (2-D output)
"""
import os
import sys

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "primitives")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "weights"))
from convert import apply_portable, build_torch_model  # noqa: E402

SEED, SIZE, CLASSES = 3, 32, 10
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def save(name, a):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(a, dtype=np.float32))


def pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / 5.0 + c) * np.cos(yy / 7.0 - c) for c in range(3)], axis=-1)
    img += rng.normal(0, 20, img.shape)
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


def image_fixtures():
    rgb = pattern(97, 61, 1)
    rgb.save(os.path.join(OUT, "image_rgb.png"))
    small = pattern(31, 23, 2)
    small.save(os.path.join(OUT, "image_small.png"))
    tf = T.Compose([T.Resize(48), T.CenterCrop(40), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    save("image_rgb_r48_c40.npy", tf(Image.open(os.path.join(OUT, "image_rgb.png")).convert("RGB")).numpy())
    tf = T.Compose([T.Grayscale(1), T.Resize(33), T.CenterCrop(31), T.ToTensor(), T.Normalize([0.5], [0.25])])
    save("image_gray_r33_c31.npy", tf(Image.open(os.path.join(OUT, "image_rgb.png")).convert("RGB")).numpy())
    tf = T.Compose([T.Resize(40), T.CenterCrop(37), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    save("image_small_r40_c37.npy", tf(Image.open(os.path.join(OUT, "image_small.png")).convert("RGB")).numpy())


def phi(model, x, layer, pool):
    captured = []
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o))
    model(x)
    h.remove()
    y = captured[0]
    if y.dim() == 2:
        return y
    if pool == "avg":
        return y.mean((2, 3))
    return y.flatten(1)


def grad_of(model, x, layer, pool, G):
    """d<G, phi(x)>/dx for G (N, D)."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((phi(model, x, layer, pool) * G).sum(), x)
    return g


def primitive_fixtures():
    torch.manual_seed(0)
    model = build_torch_model("resnet18", CLASSES, 3)
    apply_portable(model, SEED)
    model = model.double().eval()
    rng = np.random.default_rng(5)
    x32 = rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    save("x.npy", x32)
    x = torch.from_numpy(x32).double()

    # Integrated Gradients at layer3 (avg), 32 Gauss-Legendre nodes, zero baseline.
    G = rng.standard_normal((2, 256)).astype(np.float32)
    save("ig_G.npy", G)
    Gt = torch.from_numpy(G).double()
    nodes, weights = np.polynomial.legendre.leggauss(32)
    t, w = (nodes + 1) / 2, weights / 2
    base = torch.zeros_like(x)
    acc = torch.zeros_like(x)
    for ts, ws in zip(t, w):
        acc += ws * grad_of(model, base + ts * (x - base), "layer3", "avg", Gt)
    save("ig_expected.npy", ((x - base) * acc).numpy())
    with torch.no_grad():
        delta = ((phi(model, x, "layer3", "avg") - phi(model, base, "layer3", "avg")) * Gt).sum(1)
    save("ig_delta.npy", delta.numpy())

    # K = 3 cotangents at layer3 (avg): one autograd pass per cotangent.
    GK = rng.standard_normal((3, 2, 256)).astype(np.float32)
    save("vjp_G.npy", GK)
    save("vjp_expected.npy",
         torch.stack([grad_of(model, x, "layer3", "avg", torch.from_numpy(g).double()) for g in GK]).numpy())

    # Jacobian rows: one-hot cotangents.
    def jac(layer, pool, dims):
        with torch.no_grad():
            D = phi(model, x, layer, pool).shape[1]
        rows = []
        for d in dims:
            onehot = torch.zeros(2, D, dtype=torch.float64)
            onehot[:, d] = 1
            rows.append(grad_of(model, x, layer, pool, onehot))
        return torch.stack(rows).numpy()

    save("jac_layer2_expected.npy", jac("layer2", "none", [0, 777, 2047]))
    save("jac_fc_expected.npy", jac("fc", "avg", [0, 9]))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    image_fixtures()
    primitive_fixtures()
    for f in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, f)):8d}  {f}")
