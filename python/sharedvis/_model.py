"""sharedvis.load_model and Model: the research primitives of the CLI (`sharedvis info |
features | vjp | ig | jacobian`) on numpy arrays, with the same names and defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from . import _core
from ._arrays import check_finite, cotangents_g, describe, images_x
from ._progress import Bar

MAX_BATCH = 16  # the CLI's --max-batch default


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about its inputs and outputs (`sharedvis info`)."""
    arch: str
    in_channels: int
    input_size: int   # center-crop size
    resize_size: int  # shorter side before the crop
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    classes: tuple[str, ...] | None  # class names from the metadata "classes", when given
    metadata: dict = field(default_factory=dict)


class Layer(NamedTuple):
    """A layer name and its output shape for one input, None when the forward pass does not reach it."""
    name: str
    shape: tuple[int, ...] | None


class IGResult(NamedTuple):
    """Integrated Gradients: attributions of x's shape ((N, C, H, W) or (K, N, C, H, W)) and the
    completeness gap |sum S - (<G, phi(x)> - <G, phi(baseline)>)| / |...| per image ((N,) or (K, N))."""
    attributions: np.ndarray
    gap: np.ndarray


def load_model(path, device: str = "auto") -> "Model":
    """Loads a model file (.safetensors) onto a device: "cpu", "cuda" or "auto" (CUDA when this
    build has it and the GPU passes its self-check, else the CPU). FileNotFoundError for a
    missing file, OSError for a corrupt one, RuntimeError for a device that is not there."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {describe(path)}")
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'auto', got {device!r}")
    return Model(_core.load_model(os.fspath(path), device))


class Model:
    """A model on a backend. Inputs x are preprocessed batches (N, C, H, W) (see preprocess);
    float32 C-contiguous arrays are used without a copy, float64 converted to float32.
    Every call releases the GIL while it computes; Ctrl-C interrupts it (KeyboardInterrupt)."""

    def __init__(self, core: "_core.Model"):
        self._m = core
        i = core.info()
        classes = i["metadata"].get("classes")
        self.info = ModelInfo(i["arch"], i["in_channels"], i["input_size"], i["resize_size"], tuple(i["mean"]),
                              tuple(i["std"]), i["num_classes"],
                              tuple(c.strip() for c in classes.split(",")) if classes else None, i["metadata"])
        self._layers = None

    def __repr__(self) -> str:
        return f"<sharedvis.Model {self.info.arch} from {self._m.path!r} on {self.device}>"

    @property
    def path(self) -> str:
        return self._m.path

    @property
    def device(self) -> str:
        """The backend's name (e.g. "cpu (OpenBLAS, 2 threads)" or "cuda:0 ...")."""
        return self._m.device

    @property
    def layers(self) -> list[Layer]:
        """Every addressable layer, in forward order, with its output shape for one input."""
        if self._layers is None:
            self._layers = [Layer(n, s) for n, s in self._m.layers()]
        return list(self._layers)

    def preprocess(self, images) -> np.ndarray:
        """The eval transform (resize, center crop, normalize; `sharedvis ... --input IMG`) of
        image paths or uint8 pixel arrays (H, W) / (H, W, 1) / (H, W, 3): (N, C, H, W) float32."""
        if isinstance(images, (str, os.PathLike, np.ndarray)):
            images = [images]
        images = list(images)
        if not images:
            raise ValueError("images: expected at least one image path or uint8 array, got none")
        if all(isinstance(p, (str, os.PathLike)) for p in images):
            return self._m.preprocess_paths([os.fspath(p) for p in images])
        for n, a in enumerate(images):
            if not isinstance(a, np.ndarray) or a.dtype != np.uint8:
                raise TypeError(f"images[{n}]: expected a path or a uint8 array (H, W) or (H, W, C), got {describe(a)} "
                                "(paths and arrays cannot be mixed)")
            if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
                raise ValueError(f"images[{n}]: expected uint8 (H, W), (H, W, 1) or (H, W, 3), got {describe(a)}")
        return self._m.preprocess_arrays([np.ascontiguousarray(a) for a in images])

    def _x(self, x, allow_nonfinite):
        x = images_x(x, "x", self.info.in_channels)
        check_finite(x, "x", allow_nonfinite)
        return x

    @staticmethod
    def _result(what, r, allow_nonfinite):
        if not allow_nonfinite and not np.isfinite(r).all():
            i = int(np.flatnonzero(~np.isfinite(r.ravel()))[0])
            raise ValueError(f"{what}: the result is not finite ({r.ravel()[i]} at flat index {i}) "
                             "(values too large for float32?); pass allow_nonfinite=True to return it anyway")
        return r

    def features(self, x, layer: str, pool: str = "avg", *, max_batch: int = MAX_BATCH, progress: bool = True,
                 allow_nonfinite: bool = False) -> np.ndarray:
        """phi(x) at `layer`: (N, D). pool: "avg" (spatial mean), "max" (spatial max) or "none" (flatten)."""
        x = self._x(x, allow_nonfinite)
        with Bar(progress) as bar:
            r = self._m.features(x, layer, pool, _positive(max_batch, "max_batch"), bar.callback())
        return self._result("features", r, allow_nonfinite)

    def vjp(self, x, cotangents, layer: str, pool: str = "avg", *, max_batch: int = MAX_BATCH,
            progress: bool = True, allow_nonfinite: bool = False) -> np.ndarray:
        """d<G, phi(x)>/dx. cotangents G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W):
        one forward pass and multi-output backward passes carrying up to max_batch cotangents."""
        x = self._x(x, allow_nonfinite)
        g = cotangents_g(cotangents, "cotangents", x.shape[0])
        check_finite(g, "cotangents", allow_nonfinite)
        with Bar(progress) as bar:
            r = self._m.vjp(x, g, layer, pool, _positive(max_batch, "max_batch"), bar.callback())
        return self._result("vjp", r, allow_nonfinite)

    def integrated_gradients(self, x, cotangents, layer: str, pool: str = "avg", *, steps: int = 32,
                             baseline="zero", rule: str = "gausslegendre", max_batch: int = MAX_BATCH,
                             progress: bool = True, allow_nonfinite: bool = False) -> IGResult:
        """Integrated Gradients of <G, phi>: (x - baseline) * sum_s w_s d<G, phi>/dx at the quadrature
        nodes. baseline: "zero", "black", "blur", "mean", a path to an .npy, or an array of x's shape;
        rule: "gausslegendre", "midpoint" or "trapezoid". Returns (attributions, completeness gap)."""
        x = self._x(x, allow_nonfinite)
        g = cotangents_g(cotangents, "cotangents", x.shape[0])
        check_finite(g, "cotangents", allow_nonfinite)
        if isinstance(baseline, os.PathLike):
            baseline = os.fspath(baseline)
        if not isinstance(baseline, str):
            baseline = images_x(baseline, "baseline", self.info.in_channels)
            if baseline.shape != x.shape:
                raise ValueError(f"baseline: expected x's shape {x.shape}, got {describe(baseline)}")
            check_finite(baseline, "baseline", allow_nonfinite)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps: expected a positive integer, got {steps!r}")
        with Bar(progress) as bar:
            s, gap = self._m.integrated_gradients(x, g, layer, pool, int(steps), baseline, rule,
                                                  _positive(max_batch, "max_batch"), bar.callback())
        gap = np.asarray(gap, dtype=np.float64).reshape(g.shape[:-1])
        return IGResult(self._result("ig", s, allow_nonfinite), gap)

    def jacobian(self, x, layer: str, dims: Sequence[int], pool: str = "avg", *, max_batch: int = MAX_BATCH,
                 progress: bool = True, allow_nonfinite: bool = False) -> np.ndarray:
        """Rows d phi_d / dx for the listed dims: (K, N, C, H, W), K = len(dims)."""
        x = self._x(x, allow_nonfinite)
        if isinstance(dims, (int, np.integer)):
            dims = [dims]
        dims = list(dims)
        if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
            raise ValueError(f"dims: expected a non-empty list of non-negative integers, got {dims!r}")
        with Bar(progress) as bar:
            r = self._m.jacobian(x, layer, [int(d) for d in dims], pool, _positive(max_batch, "max_batch"),
                                 bar.callback())
        return self._result("jacobian", r, allow_nonfinite)


def _positive(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)
