"""model.features / vjp / integrated_gradients / jacobian / preprocess / info: bitwise equal
to the CLI on the same NPY inputs, and within the C++ tests' tolerances of the PyTorch
fixtures (tests/make_primitive_fixtures.py)."""
import os
import re

import numpy as np
import pytest

import sharedvis as sv
from conftest import fixture, rel_err, FIXTURES


def cli_npy(cli, tmp_path, cmd, *args):
    out = tmp_path / f"{cmd}.npy"
    cli(cmd, *args, "--device", "cpu", "--out", out)
    return np.load(out)


@pytest.mark.parametrize("layer,pool", [("layer3", "avg"), ("layer4", "max"), ("layer2", "none"), ("fc", "avg")])
def test_features_equal_cli(cli, tmp_path, r18, r18_path, x, layer, pool):
    want = cli_npy(cli, tmp_path, "features", "--model", r18_path, "--layer", layer, "--pool", pool,
                   "--input", os.path.join(FIXTURES, "x.npy"))
    got = r18.features(x, layer, pool)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


def test_vjp_equal_cli_and_torch(cli, tmp_path, r18, r18_path, x):
    G = fixture("vjp_G.npy")  # (3, 2, 256)
    want = cli_npy(cli, tmp_path, "vjp", "--model", r18_path, "--layer", "layer3", "--input",
                   os.path.join(FIXTURES, "x.npy"), "--cotangent", os.path.join(FIXTURES, "vjp_G.npy"))
    got = r18.vjp(x, G, "layer3")
    assert got.shape == (3, 2, 3, 32, 32)
    assert np.array_equal(got, want)
    assert rel_err(got, fixture("vjp_expected.npy")) <= 1e-4
    # a 2-D cotangent gives (N, C, H, W): the first of the K
    one = r18.vjp(x, np.ascontiguousarray(G[0]), "layer3")
    assert one.shape == (2, 3, 32, 32)
    assert rel_err(one, fixture("vjp_expected.npy")[0]) <= 1e-4


def test_vjp_max_batch_same_result(r18, x):
    G = fixture("vjp_G.npy")
    assert rel_err(r18.vjp(x, G, "layer3", max_batch=1), r18.vjp(x, G, "layer3")) <= 1e-6


def test_ig_equal_cli_and_torch(cli, tmp_path, r18, r18_path, x):
    out = tmp_path / "ig.npy"
    p = cli("ig", "--model", r18_path, "--layer", "layer3", "--device", "cpu", "--input",
            os.path.join(FIXTURES, "x.npy"), "--cotangent", os.path.join(FIXTURES, "ig_G.npy"), "--out", out)
    res = r18.integrated_gradients(x, fixture("ig_G.npy"), "layer3")
    assert np.array_equal(res.attributions, np.load(out))
    assert rel_err(res.attributions, fixture("ig_expected.npy")) <= 1e-3
    gaps = [float(v) for v in re.findall(r"image \d+: ([0-9.e+-]+)", p.stdout)]
    assert res.gap.shape == (2,)
    np.testing.assert_allclose(res.gap, gaps, rtol=1e-3, atol=0)  # the CLI prints 4 digits
    # completeness against the PyTorch fixture's delta
    S = res.attributions.reshape(2, -1).astype(np.float64).sum(1)
    delta = fixture("ig_delta.npy")
    assert np.all(np.abs(S - delta) / np.abs(delta) <= 0.05)


@pytest.mark.parametrize("baseline,rule,steps", [("black", "midpoint", 5), ("blur", "trapezoid", 4)])
def test_ig_options_equal_cli(cli, tmp_path, r18, r18_path, x, baseline, rule, steps):
    with pytest.raises(ValueError):  # layer2 has 128 channels, vjp_G has 256
        r18.integrated_gradients(x, fixture("vjp_G.npy"), "layer2", baseline=baseline, rule=rule, steps=steps)
    want = cli_npy(cli, tmp_path, "ig", "--model", r18_path, "--layer", "layer3", "--input",
                   os.path.join(FIXTURES, "x.npy"), "--cotangent", os.path.join(FIXTURES, "vjp_G.npy"),
                   "--baseline", baseline, "--ig-rule", rule, "--steps", steps)
    res = r18.integrated_gradients(x, fixture("vjp_G.npy"), "layer3", baseline=baseline, rule=rule, steps=steps)
    assert res.attributions.shape == (3, 2, 3, 32, 32) and res.gap.shape == (3, 2)
    assert np.array_equal(res.attributions, want)


def test_ig_array_baseline_equal_npy_baseline(cli, tmp_path, r18, r18_path, x):
    b = (0.25 * x).astype(np.float32)
    np.save(tmp_path / "b.npy", b)
    want = cli_npy(cli, tmp_path, "ig", "--model", r18_path, "--layer", "layer3", "--input",
                   os.path.join(FIXTURES, "x.npy"), "--cotangent", os.path.join(FIXTURES, "ig_G.npy"),
                   "--baseline", tmp_path / "b.npy", "--steps", 8)
    got = r18.integrated_gradients(x, fixture("ig_G.npy"), "layer3", baseline=b, steps=8)
    assert np.array_equal(got.attributions, want)


@pytest.mark.parametrize("layer,pool,dims,name", [("layer2", "none", [0, 777, 2047], "jac_layer2_expected.npy"),
                                                  ("fc", "avg", [0, 9], "jac_fc_expected.npy")])
def test_jacobian_equal_cli_and_torch(cli, tmp_path, r18, r18_path, x, layer, pool, dims, name):
    want = cli_npy(cli, tmp_path, "jacobian", "--model", r18_path, "--layer", layer, "--pool", pool, "--input",
                   os.path.join(FIXTURES, "x.npy"), "--dims", ",".join(map(str, dims)))
    got = r18.jacobian(x, layer, dims, pool)
    assert np.array_equal(got, want)
    assert rel_err(got, fixture(name)) <= 1e-4


def test_float64_input_is_the_float32_result(r18, x):
    assert np.array_equal(r18.features(x.astype(np.float64), "layer3"), r18.features(x, "layer3"))


def test_preprocess_paths_and_arrays(cli, tmp_path, r18_path):
    # resnet18 at 40 px after a resize to 48, ImageNet normalization: the PIL/torchvision fixture
    from sharedvis import _core
    path = str(tmp_path / "r18_40.safetensors")
    _core.save_portable_model(path, "resnet18", 10, 3, 40, 48, 3)
    m = sv.load_model(path, device="cpu")
    png = os.path.join(FIXTURES, "image_rgb.png")
    x = m.preprocess([png])
    assert x.shape == (1, 3, 40, 40) and x.dtype == np.float32
    assert np.max(np.abs(x[0] - fixture("image_rgb_r48_c40.npy"))) <= 1e-5
    # uint8 pixels decoded elsewhere give the same batch as the file
    pixels = _read_png_rgb(png)
    assert np.array_equal(m.preprocess([pixels]), x)
    # the CLI on the image file = the Python features of the preprocessed batch
    want = cli_npy(cli, tmp_path, "features", "--model", path, "--layer", "layer4", "--input", png)
    assert np.array_equal(m.features(x, "layer4"), want)


def _read_png_rgb(path):
    """The fixture PNG's pixels, decoded with zlib (8-bit RGB, non-interlaced)."""
    import struct
    import zlib
    data = open(path, "rb").read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color == 2
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    out = np.zeros((h, w * 3), np.int32)
    stride = w * 3
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for i in range(stride):
            a = cur[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (line[i] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, 3).astype(np.uint8)


def test_info_and_layers_match_cli(cli, r18, r18_path):
    p = cli("info", "--model", r18_path, "--device", "cpu")
    assert r18.info.arch == "resnet18" and r18.info.num_classes == 10 and r18.info.input_size == 32
    assert f"input:       (3, 32, 32) after resize to 36" in p.stdout
    shapes = dict(re.findall(r"^  (\S+)\s+(\(.*\)|\(not reached\))$", p.stdout, re.M))
    assert [l.name for l in r18.layers] == list(shapes)
    for l in r18.layers:
        assert (str(l.shape).replace(",)", ")") if l.shape else "(not reached)") == shapes[l.name], l


def test_bundled_model_loads():
    m = sv.load_model(sv.bundled_model_path(), device="cpu")
    assert m.info.arch == "fmnist_cnn" and m.info.classes is not None and len(m.info.classes) == 10
