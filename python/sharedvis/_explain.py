"""sharedvis.explain: the whole method (`sharedvis explain`), with the CLI's inputs and defaults.

In-memory inputs (a responses array, images as uint8 arrays, lists of paths with categories)
are written to a temporary folder in the layouts the CLI reads (a responses CSV, a folder with
one subfolder per category); the run writes its output folder atomically (into a temporary
folder when out is None), and the results come back as a dict equal to results.json with the
raw saliency maps as arrays."""
from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile

import numpy as np

from . import _core
from ._arrays import describe
from ._model import Model
from ._progress import Bar

# ExplainOptions' fields and defaults (apps/explain.h), as the engine gives them.
DEFAULTS = _core.explain_defaults()


class ExplainResult(dict):
    """results.json as a dict (equal to json.load of the file), plus:
    maps: {path relative to the output folder ("saliency/....npy"): the raw saliency map array};
    out_dir: the output folder, or None when none was asked for (nothing is left on disk)."""

    maps: dict
    out_dir: str | None


def _is_image_array(a) -> bool:
    return isinstance(a, np.ndarray)


def _stage_images(images, categories, folder: str, name: str) -> list[str]:
    """Writes/links each image into folder/<category>/ in order; returns the staged paths."""
    images = list(images)
    if categories is None:
        raise ValueError(f"categories: a category per image is required with {name} given as a list")
    categories = [str(c) for c in categories]
    if len(categories) != len(images):
        raise ValueError(f"categories: {len(categories)} for {len(images)} images")
    staged = []
    for n, (img, cat) in enumerate(zip(images, categories)):
        if not cat or "/" in cat or cat.startswith("."):
            raise ValueError(f"categories[{n}]: {cat!r} is not usable as a category name")
        sub = os.path.join(folder, cat)
        os.makedirs(sub, exist_ok=True)
        if isinstance(img, (str, os.PathLike)):
            src = os.path.abspath(os.fspath(img))
            if not os.path.isfile(src):
                raise FileNotFoundError(f"{name}[{n}]: {src}: no such file")
            dst = os.path.join(sub, f"{n:06d}_{os.path.basename(src)}")
            os.symlink(src, dst)
        elif _is_image_array(img):
            if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
                raise TypeError(f"{name}[{n}]: expected a path or uint8 pixels (H, W) or (H, W, 1|3), "
                                f"got {describe(img)}")
            dst = os.path.join(sub, f"{n:06d}.png")
            _core.write_png(dst, np.ascontiguousarray(img))
        else:
            raise TypeError(f"{name}[{n}]: expected a path or a uint8 array, got {describe(img)}")
        staged.append(dst)
    return staged


def _write_responses_csv(responses: np.ndarray, paths, categories, neurons, path: str) -> None:
    n_img = len(paths)
    if responses.ndim not in (2, 3) or responses.shape[0] != n_img:
        raise ValueError(f"responses: expected (N, neurons) or (N, neurons, repeats) with N = {n_img} images, "
                         f"got {describe(responses)}")
    m = responses.shape[1]
    names = [f"n{j + 1}" for j in range(m)] if neurons is None else [str(s) for s in neurons]
    if len(names) != m:
        raise ValueError(f"neurons: {len(names)} names for {m} neuron columns of responses")
    cols = []
    for j, nm in enumerate(names):
        if responses.ndim == 2:
            cols.append((nm, responses[:, j]))
        else:
            cols += [(f"{nm}#{r + 1}", responses[:, j, r]) for r in range(responses.shape[2])]

    def q(s):
        return '"' + s.replace('"', '""') + '"'

    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(["image", "category"] + [q(c) for c, _ in cols]) + "\n")
        for i in range(n_img):
            f.write(",".join([q(os.path.relpath(paths[i], os.path.dirname(path))), q(categories[i])] +
                             [repr(float(v[i])) for _, v in cols]) + "\n")


def explain(*, responses=None, preferred=None, images=None, categories=None, neurons=None, dataset=None,
            data_dir=None, synthetic=None, model=None, layer=None, out=None, progress=True, lambda_=None,
            work=None, stage="all", shard=None, **options) -> ExplainResult | None:
    """Shared-feature visualization, end to end (`sharedvis explain`; docs/method.md §1-7).

    Inputs, one of (none: the CLI's embedded default, the bundled model on Fashion-MNIST):
      responses: a CSV path (the CLI's --responses), or an array (N, neurons) or (N, neurons, repeats)
        of recorded responses to `images` (paths or uint8 arrays) with `categories` (N) and optional
        `neurons` names; with `preferred`, the neurons' preferred category.
      images: a folder with one subfolder per category (--images), or a list of paths / uint8 arrays
        with `categories`; with `synthetic`, the categories of synthetic neurons.
      dataset: "fashion-mnist" (with data_dir, split, limit) and `synthetic`.
    model: a path, a Model (its file is used), or None for the bundled model; layer: the readout
      layer (None: the model's default). lambda_: a fixed ridge lambda (None: the search over
      lambda_grid=(lo, hi, n)). Every other option of `sharedvis explain --help`, with '_' for
      '-': split, limit, pool, fit_on, folds, lambda_rule, seed, top_ooc, top_k, top_dims,
      similarity, shared, attr, steps, ig_rule, baseline, max_batch, feature_batch, device,
      threads, reduce, smooth, smooth_min_px, decomposition_scale, clip_percentile, colormap,
      faithfulness, faith_steps, faith_baseline, randomisation, randomisation_seed,
      synthetic_source, noise, repeats (defaults: sharedvis.explain_defaults()).
    out: the output folder for the gallery (index.html, PNGs, results.json, maps), written
      atomically; None writes nothing that stays.
    work, stage, shard: a staged run over the work folder `work` (`--work`, `--stage`, `--shard`;
      docs/slurm.md): stage "features", "fit" or "pairs" computes shard `shard` ("I/N"; None: from
      the Slurm array variables, else "0/1") of that stage and returns None; "report" merges every
      shard into `out`; "all" with a work folder runs every stage in turn.
    Returns results.json as a dict with .maps (the raw saliency maps as arrays) and .out_dir."""
    if stage not in ("all", "features", "fit", "pairs", "report"):
        raise ValueError(f"stage: expected all, features, fit, pairs or report, got {stage!r}")
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"explain: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(DEFAULTS))})")
    opt = {}
    for k, v in options.items():
        if k == "lambda_grid":
            lo, hi, n = v
            opt.update(lambda_lo=float(lo), lambda_hi=float(hi), lambda_n=int(n))
        else:
            opt[k] = v
    if lambda_ is not None:
        if not (isinstance(lambda_, (int, float)) and math.isfinite(lambda_) and lambda_ >= 0):
            raise ValueError(f"lambda_: expected a finite number >= 0, got {lambda_!r}")
        opt["lambda"] = float(lambda_)
    if isinstance(model, Model):
        model = model.path
    opt["model"] = os.fspath(model) if model is not None else _bundled_model()
    if layer is not None:
        opt["layer"] = layer
    if synthetic is not None:
        opt["synthetic"] = [synthetic] if isinstance(synthetic, str) else [str(s) for s in synthetic]
    if preferred is not None:
        opt["preferred"] = str(preferred)
    if dataset is not None:
        opt["dataset"] = dataset
    if data_dir is not None:
        opt["data_dir"] = os.fspath(data_dir)
    if work is not None:
        opt["work"] = os.fspath(work)
    opt["stage"] = stage
    if shard is not None:
        opt["shard"] = str(shard)

    tmp = tempfile.mkdtemp(prefix="sharedvis-explain-")
    try:
        if responses is not None:
            if isinstance(responses, (str, os.PathLike)):
                opt["responses"] = os.fspath(responses)
            elif isinstance(responses, np.ndarray):
                if images is None or isinstance(images, (str, os.PathLike)):
                    raise ValueError("images: a list of image paths or uint8 arrays (one per row of responses) "
                                     "is required with responses given as an array")
                staged = _stage_images(images, categories, os.path.join(tmp, "images"), "images")
                csv = os.path.join(tmp, "responses.csv")
                _write_responses_csv(np.asarray(responses, dtype=np.float64), staged,
                                     [str(c) for c in categories], neurons, csv)
                opt["responses"] = csv
            else:
                raise TypeError(f"responses: expected a CSV path or a numpy array, got {describe(responses)}")
        elif images is not None:
            if isinstance(images, (str, os.PathLike)):
                opt["images"] = os.fspath(images)
            else:
                folder = os.path.join(tmp, "images")
                _stage_images(images, categories, folder, "images")
                opt["images"] = folder
        final = os.fspath(out) if out is not None else os.path.join(tmp, "out")
        opt["out"] = final
        with Bar(progress) as bar:
            _core.explain(opt, bar.callback())
        if stage in ("features", "fit", "pairs"):
            return None
        with open(os.path.join(final, "results.json"), encoding="utf-8") as f:
            result = ExplainResult(json.load(f))
        result.maps = {os.path.relpath(p, final): np.load(p)
                       for p in sorted(glob.glob(os.path.join(final, "saliency", "**", "*.npy"), recursive=True))}
        result.out_dir = os.fspath(out) if out is not None else None
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def explain_defaults() -> dict:
    """The options of explain and their defaults (those of `sharedvis explain`)."""
    return dict(DEFAULTS)


def _bundled_model() -> str:
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "fmnist_cnn.safetensors")
    return here
