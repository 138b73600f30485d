"""sv.explain against `sharedvis explain` on the same inputs: results.json equal (but for the
timings and the paths of the folders, which differ by construction) and the raw saliency
maps bitwise equal; in-memory inputs (a responses array, uint8 image arrays) against the
files the CLI reads; the defaults against the engine's."""
import json
import os
import re
import tempfile

import numpy as np
import pytest

import sharedvis as sv
from sharedvis import _core

FM_CLASSES = ["Bag", "Sandal", "Sneaker"]


def normalized(results, paths):
    """results.json without timings, with the given folder paths replaced by a placeholder."""
    text = json.dumps({k: v for k, v in results.items() if k != "timing_seconds"}, sort_keys=True)
    for p in sorted(map(str, paths), key=len, reverse=True):
        text = text.replace(json.dumps(str(p))[1:-1], "<path>")
    # explain's own staging folder for in-memory inputs
    text = re.sub(re.escape(tempfile.gettempdir()) + r"/sharedvis-explain-[A-Za-z0-9_]+", "<path>", text)
    return json.loads(text)


def cli_explain(cli, out, *args):
    # the bundled model as the package installs it (the CLI's own copy lies elsewhere)
    cli("explain", *args, "--model", sv.bundled_model_path(), "--device", "cpu", "--no-progress", "--out", out)
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def cli_maps(out):
    d = os.path.join(out, "saliency")
    return {f"saliency/{n}": np.load(os.path.join(d, n)) for n in sorted(os.listdir(d)) if n.endswith(".npy")}


def assert_same_run(res, want, want_maps, paths):
    assert normalized(res, paths) == normalized(want, paths)
    assert sorted(res.maps) == sorted(want_maps)
    for k in want_maps:
        assert np.array_equal(res.maps[k], want_maps[k]), k


def test_defaults_are_the_clis(cli):
    """Every default option is a flag of `sharedvis explain` and, where the CLI prints a default,
    the same value; the dict is a fresh copy each time."""
    d = sv.explain_defaults()
    assert d == _core.explain_defaults() and d is not sv.explain_defaults()
    text = cli("explain", "--help").stdout
    for key, value in d.items():
        if key == "lambda_grid":
            assert "--lambda-grid" in text and tuple(value) == (1e-2, 1e6, 17)  # docs/method.md §1
            continue
        flag = "--no-faithfulness" if key == "faithfulness" else "--" + key.replace("_", "-")
        assert re.search(re.escape(flag) + r"\b", text), flag
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            # CLI11 prints "--pool TEXT:{avg,max,none}=avg"
            assert re.search(re.escape(flag) + r" [^\n ]*=" + re.escape(str(value)) + r"(\s|$)", text), (flag, value)


def test_dataset_equal_cli(cli, tmp_path):
    args = ["--dataset", "fashion-mnist", "--limit", "300", "--synthetic", "Bag,Sandal", "--top-ooc", "2"]
    want = cli_explain(cli, tmp_path / "cli", *args)
    res = sv.explain(dataset="fashion-mnist", limit=300, synthetic=["Bag", "Sandal"], top_ooc=2, device="cpu",
                     out=tmp_path / "py", progress=False)
    assert res.out_dir == str(tmp_path / "py") and os.path.isfile(tmp_path / "py" / "index.html")
    assert res["n_neurons"] >= 2 and len(res.maps) > 0
    assert_same_run(res, want, cli_maps(tmp_path / "cli"), [tmp_path / "cli", tmp_path / "py"])
    # no out: the same results, nothing left on disk
    before = set(os.listdir(tmp_path))
    res2 = sv.explain(dataset="fashion-mnist", limit=300, synthetic=["Bag", "Sandal"], top_ooc=2, device="cpu",
                      progress=False)
    assert res2.out_dir is None and set(os.listdir(tmp_path)) == before
    for k in res.maps:
        assert np.array_equal(res2.maps[k], res.maps[k])


def _images(n_per, seed=0):
    rng = np.random.default_rng(seed)
    pixels, cats = [], []
    for c, cat in enumerate(FM_CLASSES):
        for i in range(n_per):
            yy, xx = np.mgrid[0:28, 0:28]
            img = 120 + 100 * np.sin(xx / (2 + c) + i) * np.cos(yy / (3 + i % 4)) + rng.normal(0, 15, (28, 28))
            pixels.append(np.clip(img, 0, 255).astype(np.uint8))
            cats.append(cat)
    return pixels, cats


def _folder(root, pixels, cats):
    """The layout explain stages in-memory images in: CATEGORY/NNNNNN.png, in order."""
    for n, (p, c) in enumerate(zip(pixels, cats)):
        os.makedirs(os.path.join(root, c), exist_ok=True)
        _core.write_png(os.path.join(root, c, f"{n:06d}.png"), p)
    return root


def test_image_arrays_equal_cli_on_files(cli, tmp_path):
    pixels, cats = _images(10)
    folder = _folder(str(tmp_path / "x" / "images"), pixels, cats)  # named as explain stages them
    args = ["--images", folder, "--synthetic", "Bag", "--top-ooc", "2", "--folds", "3"]
    want = cli_explain(cli, tmp_path / "cli", *args)
    res = sv.explain(images=pixels, categories=cats, synthetic="Bag", top_ooc=2, folds=3, device="cpu",
                     progress=False)
    assert_same_run(res, want, cli_maps(tmp_path / "cli"), [tmp_path / "cli", tmp_path / "x"])


def test_responses_array_equal_cli_csv(cli, tmp_path):
    pixels, cats = _images(10, seed=1)
    folder = _folder(str(tmp_path / "images"), pixels, cats)
    rng = np.random.default_rng(5)
    resp = rng.standard_normal((len(pixels), 2, 2))  # 2 neurons, 2 repeats
    resp[np.array(cats) == "Bag"] += 1.5
    with open(tmp_path / "responses.csv", "w") as f:
        f.write("image,category,a#1,a#2,b#1,b#2\n")
        for n in range(len(pixels)):
            f.write(f"images/{cats[n]}/{n:06d}.png,{cats[n]}," + ",".join(repr(float(v)) for v in resp[n].ravel()) + "\n")
    want = cli_explain(cli, tmp_path / "cli", "--responses", tmp_path / "responses.csv", "--preferred", "Bag",
                       "--folds", "3")
    res = sv.explain(responses=resp, images=pixels, categories=cats, neurons=["a", "b"], preferred="Bag", folds=3,
                     device="cpu", progress=False)
    assert_same_run(res, want, cli_maps(tmp_path / "cli"), [tmp_path / "cli", tmp_path])


def test_staged_run_equals_one_process(tmp_path):
    """features, fit and pairs in 2 shards each over a work folder, then the report: the same
    results and bitwise the same maps as one process (docs/slurm.md)."""
    args = dict(dataset="fashion-mnist", limit=150, synthetic=["Bag", "Sandal"], top_ooc=2, device="cpu",
                faith_steps=3, progress=False)
    want = sv.explain(out=tmp_path / "one", **args)
    work = tmp_path / "work"
    for stage in ("features", "fit", "pairs"):
        for i in (1, 0):
            assert sv.explain(work=work, stage=stage, shard=f"{i}/2", **args) is None
    res = sv.explain(work=work, stage="report", out=tmp_path / "merged", **args)
    assert_same_run(res, want, want.maps, [tmp_path / "one", tmp_path / "merged"])
    with pytest.raises(ValueError, match="pairs/00001-of-00002.json: made with other options"):
        sv.explain(work=work, stage="pairs", shard="1/2", **dict(args, top_k=4))
        sv.explain(work=work, stage="report", out=tmp_path / "again", **args)
