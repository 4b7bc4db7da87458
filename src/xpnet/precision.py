"""Precision policies: where the arithmetic of a layer may differ between modes.

There is one set of layers; a policy object decides the few places where faithful
(book-compatible) arithmetic differs from the default:

* **dense products** -- the book's ``nnfs.init()`` computes ``np.dot`` in float64 and casts
  the result to float32; the default policy multiplies in the inputs' dtype.
* **dropout masks** -- the book's mask is ``binomial(...) / keep``, a float64 array, so the
  activations after a dropout layer (and the gradients flowing back through it) become
  float64 until the next dense product; the default policy keeps the input's dtype.

Everything else (type promotion of mixed float32/float64 operands, casting updated
parameters back to their own dtype) follows the Array API rules in the shared code.

>>> import numpy as np, array_api_compat.numpy as xp
>>> a = np.ones((2, 3), dtype=np.float32); b = np.ones((3, 1), dtype=np.float32)
>>> NNFS.matmul(xp, a, b).dtype == xp.float32, NNFS.mask_dtype(xp, xp.float32) == xp.float64
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from array_api_compat import device

__all__ = ["DEFAULT", "NNFS", "Precision", "get"]


@dataclass(frozen=True)
class Precision:
    """A named arithmetic policy consulted by the layers.

    Parameters
    ----------
    name : str
        ``"default"`` or ``"nnfs"``.
    float64_matmul : bool
        Compute dense products in float64 and cast back to the result dtype of the inputs
        (float32 for the book), as ``nnfs.init()`` does.
    float64_dropout_mask : bool
        Build dropout masks in float64, as the book's ``binomial(...) / keep`` does.
    dtype : str
        The dtype parameters are created in (``"float32"`` unless asked otherwise).
    """

    name: str
    float64_matmul: bool = False
    float64_dropout_mask: bool = False
    dtype: str = "float32"

    def with_dtype(self, dtype: str) -> Precision:
        """The same policy with parameters created in ``dtype``."""
        return replace(self, dtype=dtype)

    def matmul(self, xp: ModuleType, a: Any, b: Any) -> Any:
        """``a @ b``; in float64 then cast back to float32 under the book's policy."""
        if self.float64_matmul:
            out = xp.matmul(xp.astype(a, xp.float64), xp.astype(b, xp.float64))
            # the book's workaround always returns float32, whatever went in
            return xp.astype(out, getattr(xp, self.dtype))
        return xp.matmul(a, b)

    def plain_matmul(self, a: Any, b: Any) -> bool:
        """Whether ``a @ b`` is a plain product in the operands' own (common) dtype, so that
        it may be written into a buffer of that dtype (the book's float64 detour may not)."""
        return not self.float64_matmul and a.dtype == b.dtype

    def sum_rows(self, xp: ModuleType, dy: Any) -> Any:
        """Column sums of ``dy`` as shape (1, n_cols): a bias gradient.

        The book sums with ``np.sum`` (pairwise summation); the default policy multiplies by a
        row of ones instead, one BLAS call that is ~5x faster and as accurate.
        """
        if self.float64_matmul:
            return xp.sum(dy, axis=0, keepdims=True)
        ones = xp.ones((1, dy.shape[0]), dtype=dy.dtype, device=device(dy))
        return xp.matmul(ones, dy)

    def row_sums(self, xp: ModuleType, e: Any) -> Any:
        """Row sums of a 2-D ``e`` as shape (n_rows, 1), e.g. softmax's normaliser.

        The book uses ``np.sum(axis=1)``; the default policy multiplies by a column of ones,
        which NumPy runs ~10x faster than reducing thousands of short rows one by one.
        """
        if self.float64_matmul or e.ndim != 2:
            return xp.sum(e, axis=-1, keepdims=True)
        ones = xp.ones((e.shape[1], 1), dtype=e.dtype, device=device(e))
        return xp.matmul(e, ones)

    def mask_dtype(self, xp: ModuleType, dtype: Any) -> Any:
        """The dtype of a dropout mask applied to activations of ``dtype``."""
        return xp.float64 if self.float64_dropout_mask else dtype


DEFAULT = Precision("default")
NNFS = Precision("nnfs", float64_matmul=True, float64_dropout_mask=True)

_POLICIES = {p.name: p for p in (DEFAULT, NNFS)}


def get(policy: str | Precision | None) -> Precision:
    """Look a policy up by name (``None`` gives the default)."""
    if policy is None:
        return DEFAULT
    if isinstance(policy, Precision):
        return policy
    try:
        return _POLICIES[policy]
    except KeyError:
        msg = f"unknown precision policy {policy!r}; expected one of {sorted(_POLICIES)}."
        raise ValueError(msg) from None
