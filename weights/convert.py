#!/usr/bin/env python3
"""Convert torchvision weights to a sharedvis model file (safetensors + __metadata__).

Needs torch and torchvision (only here: the sharedvis binary never does). Sources:
  --pretrained             torchvision's default weights for --arch (downloaded by torchvision)
  --state-dict FILE.pth    a state dict saved with torch.save (also {"state_dict": ...}, "module." prefixes)
  --random --seed N        portable pseudo-random weights (weights/README.md), batchnorm
                           statistics included, identical to sv::init_portable(net, N) in C++
Examples:
  python3 weights/convert.py --arch resnet50 --pretrained --out resnet50.safetensors --verify
  python3 weights/convert.py --arch vgg11_bn --random --seed 1 --num-classes 10 --out v.safetensors
--verify runs the converted file through `sharedvis features` and PyTorch on one random
input and prints the largest relative difference of the features (skipped with a note if
the CLI is not built). The file format is written with struct + json (float32 tensors).
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ARCHS = ["alexnet"] + [f"vgg{d}{bn}" for bn in ("", "_bn") for d in (11, 13, 16, 19)] + \
        [f"resnet{d}" for d in (18, 34, 50, 101, 152)]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# ---- portable pseudo-random values (bit-exact twin of weights/portable_init.cpp)
_M64 = (1 << 64) - 1
_G = 0x9E3779B97F4A7C15


def _mix_int(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix(z):  # uint64 arrays wrap modulo 2^64
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _fnv1a64(s):
    h = 0xcbf29ce484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001b3) & _M64
    return h


def portable_values(seed, name, shape):
    """float32 array of `shape` for the tensor `name`, or None for tensors left alone."""
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape, dtype=np.int64))
    if name.endswith("running_var") or (name.endswith("weight") and len(shape) == 1):
        scale, offset = 0.5, 1.0
    elif name.endswith("running_mean") or name.endswith("bias"):
        scale, offset = 0.25, 0.0
    elif name.endswith("weight"):
        scale, offset = math.sqrt(6.0 / (n // shape[0])), 0.0
    else:
        return None
    key = np.uint64(_mix_int(_fnv1a64(name) ^ _mix_int((seed + _G) & _M64)))
    out = np.empty(n, dtype=np.float32)
    chunk = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, n, chunk):
            i = np.arange(start + 1, min(n, start + chunk) + 1, dtype=np.uint64)
            u = _mix(key + i * np.uint64(_G)) >> np.uint64(40)
            t = (u.astype(np.float64) - 8388608.0) / 8388608.0
            out[start:start + len(i)] = (offset + t * scale).astype(np.float32)
    return out.reshape(shape)


# ---- safetensors writing (plain Python)
def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 C-contiguous ndarray). Atomic: temp file, then rename."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, a in tensors:
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, a in tensors:
                f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


# ---- torchvision models
def first_conv_name(arch):
    return "conv1" if arch.startswith("resnet") else "features.0"


def classifier_name(arch):
    return "fc" if arch.startswith("resnet") else "classifier.6"


def build_torch_model(arch, num_classes, in_channels, weights=None):
    import torch
    import torchvision
    model = getattr(torchvision.models, arch)(weights=weights, num_classes=num_classes)
    if in_channels != 3:  # replace the first convolution, keeping its geometry
        name = first_conv_name(arch)
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        old = model.get_submodule(name)
        new = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                              bias=old.bias is not None)
        if isinstance(parent, torch.nn.Sequential):
            parent[int(name.rsplit(".", 1)[1])] = new
        else:
            setattr(parent, name, new)
    return model.eval()


def apply_portable(model, seed):
    import torch
    with torch.no_grad():
        for name, t in model.state_dict().items():
            v = portable_values(seed, name, t.shape)
            if v is not None:
                t.copy_(torch.from_numpy(v))


def load_state_dict_file(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    return {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}


def save_model(model, path, metadata):
    tensors = [(k, v.detach().cpu().float().contiguous().numpy()) for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")]
    write_safetensors(path, tensors, metadata)
    # self-check: the file reads back with every tensor where we put it
    header = read_safetensors_header(path)
    assert header["__metadata__"]["arch"] == metadata["arch"]
    assert sorted(k for k in header if k != "__metadata__") == sorted(k for k, _ in tensors)


# ---- verification through the CLI
def find_cli(explicit):
    candidates = [explicit] if explicit else []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates += [shutil.which("sharedvis"), os.path.join(root, "build", "sharedvis")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def torch_features(model, x, layer, pool):
    import torch
    captured = []  # cloned: ReLU(inplace=True) and `out += identity` overwrite the hooked tensor later
    handle = model.get_submodule(layer).register_forward_hook(
        lambda m, i, o: captured.append(o.clone()) if not captured else None)
    with torch.no_grad():
        model(x)
    handle.remove()
    f = captured[0]
    if f.dim() == 4 and pool == "avg":
        return f.mean((2, 3))
    if f.dim() == 4 and pool == "max":
        return f.amax((2, 3))
    return f.flatten(1)


def verify(model, path, arch, in_channels, size, cli):
    import torch
    cli = find_cli(cli)
    if cli is None:
        print("verify: skipped, the sharedvis CLI was not found (build it, or pass --cli PATH)")
        return True
    layers = [("layer4", "avg"), ("fc", "none")] if arch.startswith("resnet") else \
             [("features", "avg"), ("classifier", "none")]
    torch.manual_seed(0)
    x = torch.randn(2, in_channels, size, size)
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), x.numpy())
        for layer, pool in layers:
            out = os.path.join(d, "f.npy")
            cmd = [cli, "features", "--model", os.path.abspath(path), "--layer", layer, "--pool", pool,
                   "--input", os.path.join(d, "x.npy"), "--out", out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(out):
                print(f"verify: skipped, `{' '.join(cmd[:2])}` failed: {(r.stderr or r.stdout).strip()[:300]}")
                return True
            ours = np.load(out).reshape(2, -1).astype(np.float64)
            ref = torch_features(model, x, layer, pool).double().numpy()
            rel = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))
            worst = max(worst, rel)
            print(f"verify: {layer} ({pool}): largest difference {rel:.2e} relative to max |feature|")
    print(f"verify: largest relative difference {worst:.2e}")
    return worst < 1e-3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=ARCHS)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pretrained", action="store_true")
    src.add_argument("--state-dict", metavar="FILE")
    src.add_argument("--random", action="store_true")
    ap.add_argument("--seed", type=int, default=0, help="seed of --random")
    ap.add_argument("--out", required=True)
    ap.add_argument("--num-classes", type=int, help="default: from the weights, else 1000")
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--resize-size", type=int, default=256)
    ap.add_argument("--mean", help="comma-separated, one per input channel")
    ap.add_argument("--std", help="comma-separated, one per input channel")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--cli", help="path of the sharedvis binary for --verify")
    a = ap.parse_args()

    mean = a.mean or ",".join(map(str, IMAGENET_MEAN if a.in_channels == 3 else [0.0] * a.in_channels))
    std = a.std or ",".join(map(str, IMAGENET_STD if a.in_channels == 3 else [1.0] * a.in_channels))
    meta = {"arch": a.arch, "in_channels": a.in_channels, "input_size": a.input_size,
            "resize_size": a.resize_size, "mean": mean, "std": std}
    if a.pretrained:
        import torchvision
        if a.num_classes not in (None, 1000) or a.in_channels != 3:
            sys.exit("--pretrained weights have 1000 classes and 3 input channels")
        w = torchvision.models.get_model_weights(a.arch).DEFAULT
        model = build_torch_model(a.arch, 1000, 3, weights=w)
        t = w.transforms()
        meta.update(input_size=t.crop_size[0], resize_size=t.resize_size[0],
                    mean=",".join(map(str, t.mean)), std=",".join(map(str, t.std)), source=f"torchvision {w}")
        nc = 1000
    elif a.state_dict:
        sd = load_state_dict_file(a.state_dict)
        nc = a.num_classes or int(sd[classifier_name(a.arch) + ".weight"].shape[0])
        model = build_torch_model(a.arch, nc, a.in_channels)
        model.load_state_dict(sd, strict=True)  # names and shapes must match exactly
        meta["source"] = os.path.basename(a.state_dict)
    else:
        nc = a.num_classes or 1000
        model = build_torch_model(a.arch, nc, a.in_channels)
        apply_portable(model, a.seed)
        meta.update(source="portable-random", seed=a.seed)
    meta["num_classes"] = nc
    save_model(model, a.out, meta)
    print(f"wrote {a.out}: {a.arch}, {nc} classes, {a.in_channels} input channels")
    if a.verify and not verify(model, a.out, a.arch, a.in_channels, a.input_size, a.cli):
        sys.exit("verify: the features differ by more than 1e-3")


if __name__ == "__main__":
    main()
