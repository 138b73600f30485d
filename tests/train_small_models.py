#!/usr/bin/env python3
"""Trains the two small models of tests/test_trained_accuracy.cpp: torchvision's VGG11-BN and
ResNet18 structure (same modules, same names) at reduced width, on Fashion-MNIST upsampled
to SIDE x SIDE and repeated to 3 channels. Full-width trained weights would be 45 MB
(ResNet18) and 500 MB (VGG11-BN); these are ~0.5 MB and ~1.4 MB. Widths as
weights/models/{vgg,resnet}.cpp's `width` (and `hidden`) parameters:
  vgg11_bn  width 8 (channels 8..64), hidden 64, 32x32 inputs
  resnet18  width 8 (channels 8..64), 48x48 inputs
Writes tests/fixtures/trained/{vgg11_bn_w8,resnet18_w8}.safetensors (float32, torchvision
state-dict names, no num_batches_tracked). Run once (CPU, a few minutes, seeded; the exact
weights depend on the machine's BLAS, so the committed files are the fixture, not this run):
  /opt/torchvenv/bin/python tests/train_small_models.py
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "trained")
DATA = "/usr/share/datasets/fashion-mnist/"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training set


def vgg11_bn(width, hidden, num_classes=10, in_channels=3):
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            v = v // 64 * width
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    m.classifier = nn.Sequential(nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(hidden, hidden),
                                 nn.ReLU(True), nn.Dropout(0.5), nn.Linear(hidden, num_classes))
    m.forward = lambda x: m.classifier(torch.flatten(m.avgpool(m.features(x)), 1))
    return m


class ResNet18(nn.Module):  # torchvision.models.ResNet(BasicBlock, [2, 2, 2, 2]) with width instead of 64
    def __init__(self, width, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = width
        for i in range(4):
            planes, blocks = width << i, []
            for j in range(2):
                stride = 2 if i > 0 and j == 0 else 1
                ds = None
                if stride != 1 or inp != planes:
                    ds = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
                blocks.append(BasicBlock(inp, planes, stride, ds))
                inp = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make(name):
    return {"vgg11_bn_w8": (lambda: vgg11_bn(8, 64), 32), "resnet18_w8": (lambda: ResNet18(8), 48)}[name]


def images(split, side, first=0, n=None):
    with gzip.open(DATA + f"{split}-images-idx3-ubyte.gz") as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    img = img[first:None if n is None else first + n]
    x = (torch.from_numpy(img.astype(np.float32)) / 255 - MEAN) / STD
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    return x.repeat(1, 3, 1, 1).contiguous()


def labels(split):
    with gzip.open(DATA + f"{split}-labels-idx1-ubyte.gz") as f:
        return torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))


def save(sd, path, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        b = v.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def train(name, seconds):
    build, side = make(name)
    torch.manual_seed(0)
    model = build()
    x, y = images("train", side), labels("train")
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    model.train()
    t0, step, g = time.time(), 0, torch.Generator().manual_seed(1)
    while time.time() - t0 < seconds:
        idx = torch.randint(0, x.shape[0], (128,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    model.eval()
    xt, yt = images("t10k", side, 0, 2000), labels("t10k")[:2000]
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(f"{name}: {step} steps, loss {loss.item():.3f}, test accuracy (2000 images) {acc:.3f}")
    save(model.state_dict(), os.path.join(OUT, name + ".safetensors"),
         {"arch": name, "num_classes": "10", "in_channels": "3", "input_size": str(side), "steps": str(step),
          "test_accuracy": f"{acc:.3f}"})


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or ["vgg11_bn_w8", "resnet18_w8"]:
        train(name, 150)
