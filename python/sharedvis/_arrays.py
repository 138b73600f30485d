"""Argument checks for numpy inputs: each error names the argument, what it got and what was
expected. Accepted arrays go to the engine without a copy (float32, C-contiguous) or with
one conversion to float32 (float64)."""
from __future__ import annotations

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"a {a.dtype} array of shape {a.shape}"
    return f"a {type(a).__name__}"


def float_array(a, name: str, ndims: tuple[int, ...], what: str) -> np.ndarray:
    """a as it is, when it is a C-contiguous float32/float64 numpy array with one of ndims."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array {what} (float32 or float64), got {describe(a)}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{name}: expected float32 or float64 {what}, got {describe(a)}")
    if a.ndim not in ndims:
        raise ValueError(f"{name}: expected {what}, got {describe(a)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array {what}, got a non-contiguous view of shape "
                         f"{a.shape} (np.ascontiguousarray makes one)")
    return a


def check_finite(a: np.ndarray, name: str, allow_nonfinite: bool) -> None:
    if allow_nonfinite:
        return
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"{name} holds a non-finite value ({a.ravel()[i]} at flat index {i} of {a.shape}); "
                         "fix the input or pass allow_nonfinite=True")


def images_x(x, name: str, in_channels: int) -> np.ndarray:
    x = float_array(x, name, (4,), "(N, C, H, W)")
    if x.shape[1] != in_channels or x.shape[0] == 0:
        raise ValueError(f"{name}: expected (N, {in_channels}, H, W) with N >= 1 for this model, got {describe(x)}")
    return x


def cotangents_g(g, name: str, n: int) -> np.ndarray:
    g = float_array(g, name, (2, 3), "(N, D) or (K, N, D)")
    if g.shape[-2] != n:
        raise ValueError(f"{name}: has shape {g.shape} for {g.shape[-2]} images, x has {n} "
                         "(expected (N, D) or (K, N, D))")
    return g
