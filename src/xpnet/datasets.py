"""The book's toy datasets: ``spiral``, ``vertical`` and ``sine``.

The algorithms are those of the ``nnfs`` package: drawn on the host from a
:class:`~xpnet.random.Generator` and moved to the requested backend once, so a seed gives
the same data on every backend. With the book's stream (``seed="nnfs"``, or a shared
``Generator("nnfs")``) the values are bit-identical to ``nnfs.datasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import validate
from .backend import Backend, resolve
from .random import Generator, SeedLike, as_generator

__all__ = ["MAX_CLASSES", "MAX_POINTS", "sine", "spiral", "vertical"]


#: The most points one call draws (``samples * classes``). Ten million points are 80 MB of
#: float32 inputs and labels and take seconds to draw; far more would swap or run for
#: minutes, which is never what a toy dataset is for.
MAX_POINTS = 10_000_000
#: The most classes: each is drawn by one Python-level step (the ``nnfs`` package's
#: algorithm, kept for its exact draws), about 30 microseconds each: 3 s at the limit.
MAX_CLASSES = 100_000


def _check_counts(samples: Any, classes: Any = None) -> tuple[int, int]:
    """``samples`` and ``classes`` as positive ints within :data:`MAX_POINTS` and
    :data:`MAX_CLASSES` (``classes`` 1 for a dataset without classes)."""
    samples = validate.positive_int("samples", samples)
    classes = 1 if classes is None else validate.positive_int("classes", classes)
    if classes > MAX_CLASSES:
        msg = (f"classes must be at most {MAX_CLASSES:,}, got {classes:,}: each class is drawn "
               "in its own step and this many would run for minutes; ask for fewer, e.g. "
               "spiral(samples=100, classes=3).")
        raise ValueError(msg)
    if samples * classes > MAX_POINTS:
        msg = (f"samples * classes must be at most {MAX_POINTS:,} points, got {samples:,} * "
               f"{classes:,} = {samples * classes:,}, which would take minutes and gigabytes "
               "to draw; ask for fewer, e.g. spiral(samples=1000, classes=3).")
        raise ValueError(msg)
    return samples, classes


def _to_backend(
    X: np.ndarray, y: np.ndarray, backend: str | Backend | None, device: Any, dtype: str
) -> tuple[Any, Any]:
    b = resolve(backend, device)
    xp = b.xp
    float_dtype = getattr(xp, validate.real_float_dtype("dtype", dtype))
    y_dtype = float_dtype if y.dtype.kind == "f" else xp.int64
    return b.asarray(X, dtype=float_dtype), b.asarray(y, dtype=y_dtype)


def _by_class(
    points: Callable[[int, Generator], np.ndarray], samples: int, classes: int, seed: SeedLike,
    backend: str | Backend | None, device: Any, dtype: str,
) -> tuple[Any, Any]:
    """Stack ``points(c, rng)`` for each class ``c`` in order, as the ``nnfs`` package does.

    ``X`` is allocated in ``dtype`` on the host and filled class by class, so the float64
    points are rounded once, as in the package's float32 arrays under ``nnfs.init()``."""
    samples, classes = _check_counts(samples, classes)
    dtype = validate.real_float_dtype("dtype", dtype)
    rng = as_generator(seed)
    X = np.zeros((samples * classes, 2), dtype=np.dtype(dtype))
    y = np.zeros(samples * classes, dtype=np.int64)
    for c in range(classes):
        ix = slice(samples * c, samples * (c + 1))
        X[ix] = points(c, rng)
        y[ix] = c
    return _to_backend(X, y, backend, device, dtype)


def spiral(
    samples: int = 100,
    classes: int = 3,
    *,
    seed: SeedLike = 0,
    backend: str | Backend | None = "numpy",
    device: Any = None,
    dtype: str = "float32",
    iid: bool = False,
) -> tuple[Any, Any]:
    r"""Interleaved spiral arms, one per class (the book's main dataset).

    For class :math:`c`: radius :math:`r` from 0 to 1, angle
    :math:`t = \mathrm{linspace}(4c, 4(c+1)) + 0.2\,\mathcal N(0, 1)`, point
    :math:`(r \sin 2.5t,\ r \cos 2.5t)`.

    The book spaces the radii evenly, so the points of a class are not independent draws:
    every set covers the arm from centre to rim alike. With ``iid=True`` each point's radius
    is drawn uniformly, :math:`r \sim U(0, 1)` and :math:`t = 4c + 4r + 0.2\,\mathcal N(0, 1)`
    (the same arm), so the points of a class are independent and identically distributed.

    Parameters
    ----------
    samples : int
        Points per class.
    classes : int
        Number of classes (spiral arms).
    seed : int, "nnfs" or Generator
        The random stream (share one ``Generator`` to continue a stream, as the book does).
    backend, device : optional
        Where the arrays are created (see :func:`xpnet.backend.resolve`).
    dtype : str
        Floating dtype of ``X``.
    iid : bool
        Draw each point's radius at random instead of evenly spaced (see above).

    Returns
    -------
    X : array, shape (samples * classes, 2)
    y : array of int64, shape (samples * classes,)
        Class labels ``0 .. classes - 1``, in blocks of ``samples``.

    Examples
    --------
    >>> X, y = spiral(samples=5, classes=2, seed=0)
    >>> X.shape, X.dtype, y.tolist()
    ((10, 2), dtype('float32'), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    iid = validate.flag("iid", iid)

    def arm(c: int, rng: Generator) -> np.ndarray:
        if iid:
            r = rng.rand(samples)
            t = c * 4 + 4 * r + rng.randn(samples) * 0.2
            return np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
        r = np.linspace(0.0, 1, samples)
        t = np.linspace(c * 4, (c + 1) * 4, samples) + rng.randn(samples) * 0.2
        return np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]

    return _by_class(arm, samples, classes, seed, backend, device, dtype)


def vertical(
    samples: int = 100,
    classes: int = 3,
    *,
    seed: SeedLike = 0,
    backend: str | Backend | None = "numpy",
    device: Any = None,
    dtype: str = "float32",
) -> tuple[Any, Any]:
    r"""Vertical clusters: class :math:`c` is centred at :math:`(c/3, 0.5)` with spread 0.1.

    Parameters and returns as :func:`spiral`.

    Examples
    --------
    >>> X, y = vertical(samples=4, classes=3, seed=1)
    >>> X.shape, y.shape
    ((12, 2), (12,))
    """
    def cluster(c: int, rng: Generator) -> np.ndarray:
        return np.c_[rng.randn(samples) * 0.1 + c / 3, rng.randn(samples) * 0.1 + 0.5]

    return _by_class(cluster, samples, classes, seed, backend, device, dtype)


def sine(
    samples: int = 1000,
    *,
    backend: str | Backend | None = "numpy",
    device: Any = None,
    dtype: str = "float32",
) -> tuple[Any, Any]:
    r"""One period of a sine: :math:`x = i / n`, :math:`y = \sin(2\pi x)`, as columns.

    Deterministic (no seed). The ``nnfs`` package returns float64 arrays; pass
    ``dtype="float64"`` for those exact values (the ``ch17`` preset does in faithful mode).

    Returns
    -------
    X, y : arrays, shape (samples, 1)

    Examples
    --------
    >>> X, y = sine(samples=4)
    >>> X[:, 0].tolist(), [round(v, 3) for v in y[:, 0].tolist()]
    ([0.0, 0.25, 0.5, 0.75], [0.0, 1.0, 0.0, -1.0])
    """
    samples, _ = _check_counts(samples)
    X = np.arange(samples).reshape(-1, 1) / samples
    y = np.sin(2 * np.pi * X).reshape(-1, 1)
    return _to_backend(X, y, backend, device, dtype)
