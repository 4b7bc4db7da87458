"""Small helpers shared by the tests."""

from __future__ import annotations

import numpy as np

from xpnet.backend import to_numpy


def host(x) -> np.ndarray:
    """Any backend's array as a NumPy array."""
    return np.asarray(to_numpy(x))


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at the float64 array ``x``."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g
