"""Shared fixtures: the CLI to compare with (SHAREDVIS_CLI, else build/sharedvis), a resnet18
(10 classes, 32x32) with the portable weights of tests/fixtures/primitives (seed 3; the same
file tests/test_cli_primitives.cpp writes), and the PyTorch fixtures."""
import os
import subprocess

import numpy as np
import pytest

import sharedvis as sv
from sharedvis import _core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "primitives")


def fixture(name):
    return np.load(os.path.join(FIXTURES, name))


def rel_err(a, b):
    """max |a - b| / max |b|, as the C++ tests' rel_err."""
    assert a.shape == b.shape
    return float(np.max(np.abs(a.astype(np.float64) - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("SHAREDVIS_CLI") or os.path.join(ROOT, "build", "sharedvis")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no sharedvis CLI at {path}: build it (./test.sh does) or set SHAREDVIS_CLI")

    def run(*args, check=True):
        p = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"sharedvis {' '.join(map(str, args))} failed:\n{p.stdout}{p.stderr}")
        return p
    return run


@pytest.fixture(scope="session")
def r18_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "r18.safetensors")
    _core.save_portable_model(path, "resnet18", 10, 3, 32, 36, 3)
    return path


@pytest.fixture(scope="session")
def r18(r18_path):
    return sv.load_model(r18_path, device="cpu")


@pytest.fixture(scope="session")
def x():
    return fixture("x.npy")  # (2, 3, 32, 32)
