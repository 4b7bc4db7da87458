"""The operations the maths asks for, in plain Array API code: the plain engine.

Layers and optimizers do not call a library directly for the few operations whose best
implementation depends on how a model runs (a product, a row sum, a dropout mask, an
optimizer's update...). They ask ``self.ops``, an :class:`Ops`, for it by name, and read like
the book around those calls. This class is the reference every other engine is tested
against: each method is the maths in one to three lines, and it is **pure**: it never writes
into an array it did not create, so it runs on any Array API namespace (NumPy,
array-api-strict, PyTorch, JAX, CuPy) and explain mode can keep every array it sees.

Other engines (:mod:`xpnet.engine`) subclass it: faithful arithmetic (the book's float64
products), reused buffers and in-place passes on CPU, fused GPU kernels. They are chosen
once per run by the model, never by the maths.

>>> import numpy as np
>>> from xpnet.backend import resolve
>>> ops = Ops(resolve("numpy"))
>>> x = np.array([[1.0, -2.0], [3.0, 4.0]], dtype=np.float32)
>>> ops.relu(x).tolist(), ops.sum_rows(x).tolist(), ops.row_max(x).tolist()
([[1.0, 0.0], [3.0, 4.0]], [[4.0, 2.0]], [[1.0], [4.0]])
"""

from __future__ import annotations

from typing import Any

from .. import philox, validate
from ..backend import Backend
from ..random import DropoutStream, Generator

__all__ = ["COLUMNWISE_MAX", "MASK_SOURCES", "Ops", "next_counter"]

#: Up to this many columns, :meth:`Ops.row_max` takes the maximum column by column: reducing
#: many short rows one by one is ~20x slower in NumPy than a few elementwise maxima.
COLUMNWISE_MAX = 16

#: Where an engine draws dropout masks: ``"host"``, the random stream on the host (moved to
#: the device once), or ``"counter"``, Philox4x32-10 on the device (:mod:`xpnet.philox`).
MASK_SOURCES = ("host", "counter")


class Ops:
    """The plain engine: the named operations of layers and optimizers, pure Array API.

    Parameters
    ----------
    backend : Backend
        The namespace and device arrays live on.
    masks : {"host", "counter"}
        Where dropout masks come from (:data:`MASK_SOURCES`; a model chooses, see its
        ``dropout_masks``).

    Attributes
    ----------
    name : str
        The engine's name (``"plain"`` here), as :attr:`xpnet.Model.engine` reports it.
    """

    name = "plain"

    def __init__(self, backend: Backend, *, masks: str = "host"):
        self.backend = backend
        self.xp = backend.xp
        self.masks = validate.one_of("masks", masks, MASK_SOURCES)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Ops:
        return self  # holds no array state a copied model could need apart (engines share)

    # -- products -------------------------------------------------------------------------
    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b`` (leading axes broadcast)."""
        return self.xp.matmul(a, b)

    def affine(self, x: Any, W: Any, b: Any) -> Any:
        """``x @ W + b``: a dense layer's output."""
        return self.matmul(x, W) + b

    def matmul_transposed(self, dy: Any, W: Any) -> Any:
        """``dy @ W^T``: a dense layer's input gradient."""
        return self.matmul(dy, self.xp.matrix_transpose(W))

    # -- reductions -----------------------------------------------------------------------
    def sum_rows(self, dy: Any) -> Any:
        """Sums over the samples (the second-to-last axis), kept as one row: a bias gradient.

        A product with a row of ones: one BLAS call, ~5x faster in NumPy than ``sum(axis=0)``
        and as accurate (see docs/performance.md).
        """
        xp = self.xp
        ones = xp.ones((1, dy.shape[-2]), dtype=dy.dtype, device=self.backend.device)
        return xp.matmul(ones, dy)

    def row_sum(self, e: Any) -> Any:
        """Sums over the last axis, kept as one column (softmax's normaliser): ``e @ ones``,
        which NumPy runs ~10x faster than reducing thousands of short rows one by one."""
        xp = self.xp
        ones = xp.ones((e.shape[-1], 1), dtype=e.dtype, device=self.backend.device)
        return xp.matmul(e, ones)

    def row_max(self, x: Any) -> Any:
        """The maximum over the last axis, kept as one column (exact)."""
        k = x.shape[-1]
        if k > COLUMNWISE_MAX:
            return self.xp.max(x, axis=-1, keepdims=True)
        m = x[..., 0:1]
        for j in range(1, k):
            m = self.xp.maximum(m, x[..., j:j + 1])
        return m

    # -- activations ----------------------------------------------------------------------
    def relu(self, x: Any) -> Any:
        """``max(x, 0)``."""
        return self.xp.maximum(x, 0)

    def relu_backward(self, dy: Any, y: Any) -> Any:
        """``dy`` where the ReLU's output ``y`` is positive, else 0 (also at exactly 0).

        A product with the 0/1 mask rather than ``where``: no branch mispredictions on random
        masks, and it differs only in the sign of zeros, which no later step sees.
        """
        return dy * self.xp.astype(y > 0, dy.dtype)

    def softmax_backward(self, s: Any, dy: Any, dot: Any) -> Any:
        """Softmax's Jacobian-vector product ``s * (dy - dot)``, from its outputs ``s`` and
        ``dot``, the per-sample ``<dy, s>``."""
        return s * (dy - dot)

    # -- dropout --------------------------------------------------------------------------
    def keep_mask(self, rng: Generator | DropoutStream, keep: float, x: Any) -> Any:
        """Booleans of ``x``'s shape on its device: True (keep the unit) with probability
        ``keep``.

        With ``masks="host"`` drawn on the host from ``rng`` (the same draws on every
        backend) and moved once; with ``masks="counter"`` computed where ``x`` lives by
        Philox4x32-10 (:func:`xpnet.philox.keep_mask`) at the next position of ``rng``'s
        counter-based stream (a :class:`~xpnet.random.DropoutStream`), with no host round
        trip.
        """
        if self.masks == "counter":
            key, position = next_counter(rng)
            return philox.keep_mask(self.backend, tuple(x.shape), keep, key, position)
        return self.backend.asarray(rng.keep_mask(keep, tuple(x.shape)))

    def dropout_mask(self, rng: Generator | DropoutStream, keep: float, x: Any) -> Any:
        """An inverted-dropout mask for ``x``: ``1 / keep`` with probability ``keep``, else 0
        (where the units are kept: :meth:`keep_mask`)."""
        kept = self.keep_mask(rng, keep, x)
        return self.xp.astype(kept, x.dtype) * (1 / keep)

    def dropout(self, x: Any, mask: Any) -> Any:
        """``x * mask`` (the forward pass)."""
        return x * mask

    def dropout_backward(self, dy: Any, mask: Any) -> Any:
        """``dy * mask`` (the backward pass)."""
        return dy * mask

    # -- optimizer updates ----------------------------------------------------------------
    def update(self, optimizer: Any, p: Any, g: Any, state: dict[str, Any]) -> Any:
        """Run ``optimizer``'s update rule on one parameter array: return the new ``p``
        (in ``p``'s dtype) and store the new state arrays in ``state``.

        ``optimizer`` is an :class:`~xpnet.nn.optimizers.Optimizer`; this uses its
        ``rule()``, ``hyperparameters()`` and ``state_names``.

        A hyperparameter given per model copy (an array, for many models at once) is used in
        the parameter's dtype, rounded as a Python float would be.
        """
        xp = self.xp
        scalars = {k: v if isinstance(v, (int, float)) else self.backend.asarray(v, p.dtype)
                   for k, v in optimizer.hyperparameters().items()}
        names = optimizer.state_names
        new_p, *new_state = optimizer.rule()(xp, p, g, *(state[k] for k in names), **scalars)
        state.update(zip(names, new_state, strict=True))
        # the book's `weights += ...` computes in the promoted dtype and keeps the weights'
        return new_p if new_p.dtype == p.dtype else xp.astype(new_p, p.dtype)


def next_counter(rng: Any) -> tuple[Any, Any]:
    """``rng.next_counter()``: the key and position of a counter-based mask."""
    take = getattr(rng, "next_counter", None)
    if take is None:
        msg = (f"counter-based dropout masks need a stream with a key of its own (an "
               f"xpnet.random.DropoutStream), got {type(rng).__name__}; pass "
               "rng.dropout_stream() (a Dropout layer built by a model has one).")
        raise TypeError(msg)
    return take()
