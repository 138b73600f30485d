"""Bad arguments and engine errors: the exception class and a message naming the problem."""
import os

import numpy as np
import pytest

import sharedvis as sv
from conftest import fixture


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        sv.load_model(tmp_path / "absent.safetensors")


def test_corrupt_model_file(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(OSError, match="bad.safetensors"):
        sv.load_model(p)


def test_model_path_type_and_device():
    with pytest.raises(TypeError, match="path"):
        sv.load_model(3)
    with pytest.raises(ValueError, match="device"):
        sv.load_model(sv.bundled_model_path(), device="tpu")


def test_cuda_device_unavailable_is_runtime_error():
    try:
        m = sv.load_model(sv.bundled_model_path(), device="cuda")
    except RuntimeError as e:
        assert "cuda" in str(e).lower() or "CUDA" in str(e)
    else:  # a CUDA build on a machine with a GPU
        assert "cuda" in m.device.lower()


def test_x_type_dtype_shape_layout(r18, x):
    with pytest.raises(TypeError, match=r"x: expected a numpy array .*got a list"):
        r18.features(x.tolist(), "layer3")
    with pytest.raises(TypeError, match=r"x: expected float32 or float64 .*int64 array of shape \(2, 3, 32, 32\)"):
        r18.features(x.astype(np.int64), "layer3")
    with pytest.raises(ValueError, match=r"x: expected \(N, C, H, W\), got a float32 array of shape \(3, 32, 32\)"):
        r18.features(x[0], "layer3")
    with pytest.raises(ValueError, match=r"x: expected \(N, 3, H, W\)"):
        r18.features(np.zeros((2, 1, 32, 32), np.float32), "layer3")
    with pytest.raises(ValueError, match="C-contiguous"):
        r18.features(x[:, :, ::2, ::2], "layer3")


def test_cotangent_shapes(r18, x):
    G = fixture("vjp_G.npy")
    with pytest.raises(ValueError, match=r"cotangents: has shape \(3, 1, 256\) for 1 images, x has 2"):
        r18.vjp(x, np.ascontiguousarray(G[:, :1]), "layer3")
    with pytest.raises(ValueError, match=r"cotangents: expected \(N, D\) or \(K, N, D\)"):
        r18.vjp(x, G.reshape(-1), "layer3")
    with pytest.raises(ValueError):  # D = 256 at layer3, 512 at layer4: the engine's message
        r18.vjp(x, G, "layer4")
    with pytest.raises(TypeError, match="cotangents"):
        r18.vjp(x, G.astype(np.float16), "layer3")


def test_engine_value_errors(r18, x):
    with pytest.raises(ValueError, match="layer"):
        r18.features(x, "layer9")
    with pytest.raises(ValueError, match="pool"):
        r18.features(x, "layer3", "median")
    with pytest.raises(ValueError, match="dims"):
        r18.jacobian(x, "fc", [-1])
    with pytest.raises(ValueError, match="10"):  # fc has D = 10
        r18.jacobian(x, "fc", [10])
    with pytest.raises(ValueError, match="steps"):
        r18.integrated_gradients(x, fixture("ig_G.npy"), "layer3", steps=0)
    with pytest.raises(ValueError):
        r18.integrated_gradients(x, fixture("ig_G.npy"), "layer3", rule="simpson")
    with pytest.raises(ValueError, match="max_batch"):
        r18.features(x, "layer3", max_batch=0)


def test_nonfinite_inputs(r18, x):
    bad = x.copy()
    bad[1, 2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="x holds a non-finite value"):
        r18.features(bad, "layer3")
    out = r18.features(bad, "layer3", allow_nonfinite=True, progress=False)
    assert np.isnan(out[1]).any() and np.isfinite(out[0]).all()


def test_preprocess_errors(r18, tmp_path):
    with pytest.raises(FileNotFoundError):
        r18.preprocess([str(tmp_path / "none.png")])
    with pytest.raises(TypeError, match=r"images\[0\]: expected a path or a uint8 array"):
        r18.preprocess([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"images\[0\]"):
        r18.preprocess([np.zeros((8, 8, 4), np.uint8)])
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(OSError, match="junk.png"):
        r18.preprocess([str(tmp_path / "junk.png")])


def test_explain_argument_errors():
    import glob
    import tempfile
    staged = set(glob.glob(os.path.join(tempfile.gettempdir(), "sharedvis-explain-*")))
    with pytest.raises(TypeError, match="unknown option"):
        sv.explain(dataset="fashion-mnist", synthetic=["Bag"], stepz=3)
    with pytest.raises(OSError, match="none.csv"):
        sv.explain(responses="/nonexistent/none.csv", preferred="x", progress=False)
    with pytest.raises(ValueError, match="categories"):
        sv.explain(responses=np.zeros((2, 1)), images=[np.zeros((28, 28), np.uint8)] * 2, preferred="a")
    with pytest.raises(TypeError, match="responses"):
        sv.explain(responses=[[1.0]], preferred="a")
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "sharedvis-explain-*"))) == staged
