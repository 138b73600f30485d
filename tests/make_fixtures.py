#!/usr/bin/env python3
"""Generates the model-parity fixtures in tests/fixtures/ (run with /usr/bin/python3, which
has torch 1.13 and torchvision 0.14; the C++ tests never need torch):

    /usr/bin/python3 tests/make_fixtures.py

For every architecture (alexnet, vgg11-19 with and without bn, resnet18-152) the model has
torchvision's real, full-size layers with portable pseudo-random weights (weights/README.md)
that sv::init_portable rebuilds natively from the seed, so no weights are committed: each
fixture holds only the inputs, the expected outputs and a few weight probes. PyTorch runs
in float64 so the reference is exact to float32 rounding.

Fixture file <arch>.safetensors (F32 tensors, __metadata__ arch/seed/num_classes/...):
  input                           (N, C, H, W)
  probe/<tensor>                  the first 64 values of a weight, to check the generator
  features/<layer>/<pool>         (N, D): the layer's output pooled (avg | max over H, W) or flattened (none)
  vjp<K>/<layer>/<pool>/cot       (K, N, D) cotangents
  vjp<K>/<layer>/<pool>/grad      (K, N, C, H, W) = d<cot_k, features>/d input
and torchvision_names.json: for every architecture, torchvision's named_modules() paths and
state_dict() keys with shapes (1000 classes, 3 channels; num_batches_tracked left out).
"""
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "weights"))
import convert  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures")
VERSION = "1"
POOLS = ("avg", "max", "none")

# arch, in_channels, input size, layers (all pools for 4-D outputs, "none" for 2-D), VJPs (K, layer, pool)
FAMILIES = [
    ("alexnet", 1, 96, ["features.0", "features.5", "features", "avgpool", "classifier.4", "classifier"],
     [(1, "features", "avg"), (3, "classifier.4", "none")]),
    ("vgg11", 3, 64, ["features.4", "features.10", "features", "classifier.1", "classifier"],
     [(1, "features.10", "max"), (3, "classifier", "none")]),
    ("vgg11_bn", 3, 70, ["features.9", "features.14", "features", "avgpool", "classifier.3"],
     [(1, "features", "avg"), (3, "classifier.3", "none")]),
    ("resnet18", 3, 67, ["relu", "maxpool", "layer1", "layer2.0.downsample", "layer3", "layer4.0.conv2",
                         "layer4", "avgpool", "fc"],
     [(1, "layer3", "avg"), (3, "layer4", "max"), (3, "fc", "none")]),
    ("resnet50", 3, 64, ["layer1.0.downsample", "layer2", "layer3.1.relu", "layer4", "avgpool", "fc"],
     [(1, "layer4", "max"), (3, "fc", "none")]),
    # The deeper variants of each family, at 32x32 to keep the files small.
    ("vgg13", 3, 32, ["features.9", "features", "classifier.1"], [(1, "features", "avg"), (3, "classifier", "none")]),
    ("vgg16", 3, 32, ["features.15", "features", "classifier.4"],
     [(1, "features.22", "max"), (3, "classifier.4", "none")]),
    ("vgg19", 3, 32, ["features.17", "features", "classifier"], [(1, "features", "avg"), (3, "classifier", "none")]),
    ("vgg13_bn", 3, 32, ["features.13", "features", "avgpool", "classifier.3"],
     [(1, "features", "avg"), (3, "classifier.3", "none")]),
    ("vgg16_bn", 3, 32, ["features.20", "features", "classifier"],
     [(1, "features.30", "max"), (3, "classifier", "none")]),
    ("vgg19_bn", 3, 32, ["features.25", "features", "classifier.4"],
     [(1, "features", "avg"), (3, "classifier.4", "none")]),
    ("resnet34", 3, 32, ["layer1", "layer2.3", "layer3", "layer4", "fc"], [(1, "layer3", "avg"), (3, "layer4", "max")]),
    ("resnet101", 3, 32, ["layer2", "layer3.22", "layer4", "fc"], [(1, "layer4", "avg"), (3, "fc", "none")]),
    ("resnet152", 3, 32, ["layer3.35", "layer4", "fc"], [(1, "layer4", "max"), (3, "fc", "none")]),
]
NUM_CLASSES, BATCH = 10, 2


def pooled(f, pool):
    if f.dim() == 4 and pool == "avg":
        return f.mean((2, 3))
    if f.dim() == 4 and pool == "max":
        return f.amax((2, 3))
    return f.flatten(1)


def layer_output(model, layer, x):
    """The first output of module `layer` (sharedvis captures a layer's first call too). Cloned:
    torchvision's ReLU(inplace=True) and `out += identity` overwrite the hooked tensor later."""
    captured = []
    hook = lambda m, i, o: captured.append(o.clone()) if not captured else None  # noqa: E731
    h = model.get_submodule(layer).register_forward_hook(hook)
    model(x)
    h.remove()
    return captured[0]


def make(arch, in_channels, size, layers, vjps, seed):
    model = convert.build_torch_model(arch, NUM_CLASSES, in_channels)
    convert.apply_portable(model, seed)
    model = model.double().eval()
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(BATCH, in_channels, size, size, generator=g, dtype=torch.float64)
    out = [("input", x)]
    sd = model.state_dict()
    for name in (convert.first_conv_name(arch) + ".weight", convert.classifier_name(arch) + ".weight"):
        out.append((f"probe/{name}", sd[name].flatten()[:64]))
    bn = [k for k in sd if k.endswith("running_var")]
    if bn:
        out.append((f"probe/{bn[-1]}", sd[bn[-1]].flatten()[:64]))
    with torch.no_grad():
        for layer in layers:
            f = layer_output(model, layer, x)
            for pool in (POOLS if f.dim() == 4 else ("none",)):
                out.append((f"features/{layer}/{pool}", pooled(f, pool)))
    for k, layer, pool in vjps:
        xg = x.clone().requires_grad_(True)
        phi = pooled(layer_output(model, layer, xg), pool)
        cot = torch.randn(k, *phi.shape, generator=g, dtype=torch.float64)
        grads = [torch.autograd.grad(phi, xg, cot[i], retain_graph=True)[0] for i in range(k)]
        out += [(f"vjp{k}/{layer}/{pool}/cot", cot), (f"vjp{k}/{layer}/{pool}/grad", torch.stack(grads))]
    meta = {"arch": arch, "seed": seed, "num_classes": NUM_CLASSES, "in_channels": in_channels,
            "input_size": size, "fixture_version": VERSION, "weights": "portable-random (weights/README.md)"}
    path = os.path.join(OUT, f"{arch}.safetensors")
    convert.write_safetensors(path, [(k, v.detach().float().numpy()) for k, v in out], meta)
    print(f"{path}: {os.path.getsize(path) / 1e6:.2f} MB, {len(out)} tensors")


def write_names():
    names = {}
    for arch in convert.ARCHS:
        model = convert.build_torch_model(arch, 1000, 3)
        names[arch] = {"modules": [n for n, _ in model.named_modules() if n],
                       "state": [[k, list(v.shape)] for k, v in model.state_dict().items()
                                 if not k.endswith("num_batches_tracked")]}
    path = os.path.join(OUT, "torchvision_names.json")
    with open(path, "w") as f:
        json.dump(names, f, separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path) / 1e6:.2f} MB")


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for i, (arch, ic, size, layers, vjps) in enumerate(FAMILIES):
        if not only or arch in only:
            make(arch, ic, size, layers, vjps, seed=i + 1)
    if not only or "names" in only:
        write_names()


if __name__ == "__main__":
    main()
