"""Reusable output buffers for the training loop.

Training runs the same layers on arrays of the same shapes every step. Allocating each
step's activations and gradients afresh costs more than computing them once the arrays
outgrow the CPU caches: a fresh block of tens of megabytes is mapped page by page, and the
kernel zeroes every page on first touch, which doubles the time of a pass like
``maximum(x, 0)``. During :meth:`xpnet.Model.train`, each layer therefore gets a
:class:`Workspace` and writes its step's outputs into buffers kept from the step before.

The standard has no ``out=`` argument, so a workspace only hands out buffers for namespaces
whose functions take one (NumPy and CuPy); elsewhere :attr:`Workspace.native` is None and the
layers allocate as usual. Values are the same either way.

A buffer is overwritten on the next step, so a layer only writes into one when nobody keeps
the previous step's array: the model grants a workspace while it trains, never to a plain
``forward`` call, and explain mode copies the values it records.

>>> import numpy as np
>>> from xpnet.backend import resolve
>>> ws = Workspace(resolve("numpy"))
>>> a = ws.buffer("y", (2, 3), np.float32)
>>> a is ws.buffer("y", (2, 3), np.float32), a is ws.buffer("y", (1, 3), np.float32)
(True, False)
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from .backend import Backend

__all__ = ["FOLD_MAX_INPUTS", "Workspace", "native_namespace"]

#: A Dense layer with at most this many inputs folds its bias into the product while it
#: trains, ``[x, 1] @ [W; b]``: one pass over the (samples, units) output instead of two.
#: The first layer of the book's networks (2 inputs) gains most: its input is the same
#: array every full-batch step, so ``[x, 1]`` is built once. OpenBLAS gives the same bits
#: as ``x @ W + b`` (it accumulates the products in order, the bias last); other BLAS
#: libraries may round the last bit differently.
FOLD_MAX_INPUTS = 4

#: Largest matrix (in elements) that :meth:`Workspace.zeros_like` gives a zero array for:
#: 1 MiB of float32, about what stays in a core's cache with the arrays it is used on.
ZEROS_MAX_SIZE = 2**18


def native_namespace(backend: Backend) -> ModuleType | None:
    """The array library itself (``numpy``/``cupy``) when its functions take ``out=``."""
    if backend.name == "numpy":
        import numpy

        return numpy
    if backend.name == "cupy":
        import cupy

        return cupy
    return None


class Workspace:
    """Named buffers that one layer reuses from one training step to the next.

    Parameters
    ----------
    backend : Backend
        Where the buffers live.

    Attributes
    ----------
    native : module or None
        ``numpy`` or ``cupy``, whose ufuncs and ``matmul`` write into a buffer with ``out=``;
        None when the namespace cannot, and then :meth:`buffer` is not to be used.
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        # typed Any: callers only use it after checking it is not None (Layer._workspace)
        self.native: Any = native_namespace(backend)
        #: the model's fused kernels (:mod:`xpnet.fast`) when it trains with ``fast``, or None
        self.kernels: Any = None
        self._buffers: dict[tuple[str, tuple[int, ...], Any], Any] = {}
        self._with_ones: dict[str, tuple[Any, Any]] = {}
        self._zeros: dict[tuple[tuple[int, ...], Any], Any] = {}

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised array for ``name``: the same one each time for the same shape.

        Mini-batch training alternates between the batch shape and the last, smaller batch,
        so buffers are kept per shape.
        """
        key = (name, tuple(shape), dtype)
        out = self._buffers.get(key)
        if out is None:
            xp = self.backend.xp
            out = self._buffers[key] = xp.empty(shape, dtype=dtype, device=self.backend.device)
        return out

    # -- operations that write into a named buffer where they can, else allocate --------
    def matmul(self, name: str, a: Any, b: Any) -> Any:
        """``a @ b`` (leading axes broadcast), into buffer ``name`` when possible."""
        if self.native is None or a.dtype != b.dtype:
            return self.backend.xp.matmul(a, b)
        lead = _broadcast(a.shape[:-2], b.shape[:-2])
        out = self.buffer(name, (*lead, a.shape[-2], b.shape[-1]), a.dtype)
        return self.native.matmul(a, b, out=out)

    def zeros_like(self, x: Any) -> Any:
        """Zeros to broadcast against ``x`` (the shape of its last two axes), kept and never
        written to; or the scalar 0 when that is more than :data:`ZEROS_MAX_SIZE` elements.

        ``maximum(x, zeros)`` is ~3x faster than ``maximum(x, 0)`` in NumPy 2.x on arrays
        that fit in cache (the scalar operand takes a slower loop); on larger ones the pass
        is memory-bound anyway and the extra array would only cost memory.
        """
        shape = tuple(x.shape[-2:])
        if math.prod(shape) > ZEROS_MAX_SIZE:
            return 0
        key = (shape, x.dtype)
        zeros = self._zeros.get(key)
        if zeros is None:
            xp = self.backend.xp
            zeros = self._zeros[key] = xp.zeros(shape, dtype=x.dtype, device=self.backend.device)
        return zeros

    def folds_bias(self, x: Any, W: Any, b: Any) -> bool:
        """Whether ``x @ W + b`` is computed as ``[x, 1] @ [W; b]`` (see
        :data:`FOLD_MAX_INPUTS`): Dense and ManyModels both ask, so they agree bit for bit."""
        return (self.native is not None and x.shape[-1] <= FOLD_MAX_INPUTS
                and x.dtype == W.dtype == b.dtype)

    def with_ones(self, name: str, x: Any) -> Any:
        """``[x, 1]``: ``x`` with a column of ones after its last, built once while the same
        array ``x`` comes back (the training data of full-batch steps)."""
        cached = self._with_ones.get(name)
        if cached is not None and cached[0] is x:
            return cached[1]
        out = self.buffer(name, (*x.shape[:-1], x.shape[-1] + 1), x.dtype)
        out[..., :-1] = x
        out[..., -1] = 1
        self._with_ones[name] = (x, out)
        return out

    def stack_rows(self, name: str, W: Any, b: Any) -> Any:
        """``[W; b]``: the rows of ``W`` and then the row ``b`` (as many leading axes as
        ``W``), for a product with :meth:`with_ones` that adds the bias."""
        out = self.buffer(name, (*W.shape[:-2], W.shape[-2] + 1, W.shape[-1]), W.dtype)
        out[..., :-1, :] = W
        out[..., -1:, :] = b
        return out

    def transpose(self, name: str, a: Any) -> Any:
        """``matrix_transpose(a)`` as a C-contiguous array (in buffer ``name`` when possible).

        Small products like ``dy @ W.T`` with a 3-column ``W`` run about twice as fast in
        OpenBLAS on a contiguous copy of the transpose than on the transposed view, with the
        same result bits.
        """
        at = self.backend.xp.matrix_transpose(a)
        if self.native is None:
            return at
        out = self.buffer(name, tuple(at.shape), a.dtype)
        self.native.copyto(out, at)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held in buffers."""
        return sum(int(b.size) * b.dtype.itemsize for b in self._buffers.values())


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two shapes (of leading axes)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(max(i, j) for i, j in zip(a, b, strict=True))
