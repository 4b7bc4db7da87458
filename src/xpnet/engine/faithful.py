"""The faithful engine: the book's precision flow, operation for operation.

The book's ``nnfs.init()`` makes ``np.dot`` compute in float64 and cast the result to
float32, and its dropout mask ``binomial(...) / keep`` is a float64 array, so everything
after a dropout layer (and the gradients flowing back through it) is float64 until the next
dense product. Sums are NumPy's (pairwise) ``sum``. This engine does exactly that; the
layers are the same code as in every other mode, so the byte-for-byte comparison with the
book's output (in the tests) also tests the code everyone uses.

>>> import numpy as np
>>> from xpnet.backend import resolve
>>> ops = FaithfulOps(resolve("numpy"))
>>> a = np.ones((2, 3), dtype=np.float32)
>>> ops.matmul(a, np.ones((3, 1), dtype=np.float32)).dtype
dtype('float32')
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device

from ..backend import Backend
from ..nn.ops import Ops
from ..random import DropoutStream, Generator

__all__ = ["FaithfulOps"]


class FaithfulOps(Ops):
    """The book's arithmetic: float64 products cast back to ``dtype``, NumPy's sums, float64
    dropout masks.

    Parameters
    ----------
    backend : Backend
    dtype : str
        What products are cast back to (the model's parameter dtype, float32 for the book).
    """

    name = "faithful"

    def __init__(self, backend: Backend, dtype: str = "float32"):
        super().__init__(backend)
        self.dtype = getattr(self.xp, dtype)

    def matmul(self, a: Any, b: Any) -> Any:
        xp = self.xp
        out = xp.matmul(xp.astype(a, xp.float64), xp.astype(b, xp.float64))
        return xp.astype(out, self.dtype)  # the book's workaround returns float32 whatever went in

    def sum_rows(self, dy: Any) -> Any:
        return self.xp.sum(dy, axis=-2, keepdims=True)

    def row_sum(self, e: Any) -> Any:
        return self.xp.sum(e, axis=-1, keepdims=True)

    def row_max(self, x: Any) -> Any:
        return self.xp.max(x, axis=-1, keepdims=True)

    def relu_backward(self, dy: Any, y: Any) -> Any:
        # the book's `dinputs[inputs <= 0] = 0`: +0 where the unit is off, not the -0 that a
        # product with the mask leaves under a negative dy (a printed gradient shows it)
        xp = self.xp
        return xp.where(y > 0, dy, xp.zeros_like(dy))

    def softmax_backward(self, s: Any, dy: Any, dot: Any) -> Any:
        # the book's loop: per sample, the Jacobian diagflat(s) - np.dot(s, s.T) times dy,
        # each np.dot a float64 product cast to float32 (``dot`` is not what it computes)
        xp = self.xp
        s64 = xp.astype(s, xp.float64)
        outer = xp.astype(s64[..., :, None] * s64[..., None, :], self.dtype)
        # on s's device: PyTorch makes arrays without one on its default device (the CPU)
        eye = xp.eye(s.shape[-1], dtype=s.dtype, device=device(s))
        jacobian = s[..., :, None] * eye - outer
        dx = xp.matmul(xp.astype(jacobian, xp.float64), xp.astype(dy, xp.float64)[..., None])
        # np.dot's float32, stored into np.empty_like(dvalues)
        return xp.astype(xp.astype(dx[..., 0], self.dtype), dy.dtype)

    def dropout_mask(self, rng: Generator | DropoutStream, keep: float, x: Any) -> Any:
        # the book's `np.random.binomial(1, keep, shape) / keep`: float64, from the host
        # stream whatever the model's dropout_masks (it refuses "counter" in faithful mode)
        return self.backend.asarray(rng.dropout_mask(keep, tuple(x.shape), "float64"))
