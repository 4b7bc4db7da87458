"""Activations: ReLU, Softmax, Sigmoid, Linear.

Each pairs ``forward`` with ``backward`` and has ``predictions(outputs)``, which turns the
network's outputs into what accuracy compares with the targets (as in the book).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device

from . import trace as _trace
from .backend import backend_of
from .layers import Layer

__all__ = ["Linear", "ReLU", "Sigmoid", "Softmax", "softmax_jacobian"]


class _Activation(Layer):
    #: a fresh input gradient that nothing keeps (or ``dy`` itself, overwritten only when the
    #: model allows it), so the layer before may overwrite it
    scratch_dx = True

    def forward(self, x: Any, training: bool = True) -> Any:
        if self.backend is None:
            self.backend = backend_of(x)
        if _trace.ACTIVE is not None:
            _trace.emit(self.name, "x", x, "forward")  # before an in-place pass changes it
        y = self._forward(x, training)
        if _trace.ACTIVE is not None:
            _trace.emit(self.name, "y", y, "forward")
        return y

    def backward(self, dy: Any) -> Any:
        dx = self._backward(dy)
        if _trace.ACTIVE is not None:
            _trace.emit(self.name, "dy", dy, "backward")
            _trace.emit(self.name, "dx", dx, "backward")
        return dx

    def _backward(self, dy: Any) -> Any:
        raise NotImplementedError

    def _forward(self, x: Any, training: bool = True) -> Any:
        raise NotImplementedError

    def predictions(self, outputs: Any) -> Any:
        """What accuracy compares with the targets: the outputs themselves by default."""
        return outputs


class ReLU(_Activation):
    r"""Rectified linear unit :math:`y = \max(x, 0)`; :math:`dx = dy \cdot [x > 0]`.

    Examples
    --------
    >>> import numpy as np
    >>> relu = ReLU()
    >>> relu.forward(np.array([[-1.0, 0.0, 2.0]])).tolist()
    [[0.0, 0.0, 2.0]]
    >>> relu.backward(np.array([[5.0, 5.0, 5.0]])).tolist()
    [[0.0, 0.0, 5.0]]
    """

    def _forward(self, x: Any, training: bool = True) -> Any:
        ws = self._workspace(training)
        if ws is not None:
            out = x if self.overwrite_input else ws.buffer("y", tuple(x.shape), x.dtype)
            self.y = ws.native.maximum(x, ws.zeros_like(x), out=out)
        else:
            self.y = self.xp.maximum(x, 0)
        return self.y

    def _backward(self, dy: Any) -> Any:
        # The gradient at exactly 0 is taken as 0, as in the book (`dinputs[inputs <= 0] = 0`);
        # y > 0 exactly where x > 0, so the output (which the layer keeps) gives the mask.
        # A product with the 0/1 mask is ~10x faster than `where` on random masks (no branch
        # mispredictions); it differs only in the sign of zeros, which no later step sees.
        ws = self._workspace()
        if ws is not None:
            shape = tuple(dy.shape)
            kept = ws.native.greater(self.y, 0, out=ws.buffer("mask", shape, bool))
            out = dy if self.overwrite_dy else ws.buffer("dx", shape, dy.dtype)
            return ws.native.multiply(dy, kept, out=out)
        dx = self.xp.astype(self.y > 0, dy.dtype)
        dx *= dy  # in place on the fresh mask: one allocation fewer
        return dx


class Softmax(_Activation):
    r"""Softmax over the last axis, :math:`s_i = e^{x_i - \max x} / \sum_j e^{x_j - \max x}`.

    Subtracting the row maximum changes nothing mathematically but keeps ``exp`` from
    overflowing for large logits. The backward pass is the Jacobian-vector product
    :math:`dx = s \odot (dy - \langle dy, s\rangle)`, the vectorised form of multiplying each
    sample's Jacobian :math:`\mathrm{diag}(s) - s s^T` (see :func:`softmax_jacobian`) by ``dy``.

    Examples
    --------
    >>> import numpy as np
    >>> sm = Softmax()
    >>> s = sm.forward(np.array([[1.0, 2.0, 3.0]]))
    >>> np.round(s, 4).tolist(), round(float(s.sum()), 12)
    ([[0.09, 0.2447, 0.6652]], 1.0)
    >>> sm.predictions(s).tolist()
    [2]
    """

    def _forward(self, x: Any, training: bool = True) -> Any:
        ws = self._workspace(training)
        if ws is not None and ws.kernels is not None and x.ndim == 2:
            self.s = ws.kernels.softmax(x, ws.buffer("s", tuple(x.shape), x.dtype))
            return self.s
        xp = self.xp
        row_max = _row_max(xp, x)
        shifted = x - row_max
        e = xp.exp(shifted)
        total = self.precision.row_sums(xp, e)
        self.s = e / total
        if _trace.ACTIVE is not None:
            for quantity, value in (("max", row_max), ("shifted", shifted), ("exp", e),
                                    ("sum", total)):
                _trace.emit(self.name, quantity, value, "forward")
        return self.s

    def _backward(self, dy: Any) -> Any:
        s = self.s
        dot = self.xp.sum(dy * s, axis=-1, keepdims=True)
        if _trace.ACTIVE is not None:
            _trace.emit(self.name, "dot", dot, "backward")  # <dy, s> per sample
        return s * (dy - dot)

    def jacobian(self) -> Any:
        """The per-sample Jacobians of the last forward pass, shape (n_samples, k, k)."""
        return softmax_jacobian(self.s)

    def predictions(self, outputs: Any) -> Any:
        return backend_of(outputs).xp.argmax(outputs, axis=-1)


#: Up to this many columns, row maxima are taken column by column: reducing many short rows
#: one by one is ~20x slower in NumPy than a few elementwise maxima over whole columns.
_COLUMNWISE_MAX = 16


def _row_max(xp: Any, x: Any) -> Any:
    """``max(x, axis=-1, keepdims=True)``, exact, fast for few columns."""
    k = x.shape[-1]
    if x.ndim < 2 or k > _COLUMNWISE_MAX:
        return xp.max(x, axis=-1, keepdims=True)
    m = x[..., 0:1]
    for j in range(1, k):
        m = xp.maximum(m, x[..., j:j + 1])
    return m


def softmax_jacobian(s: Any) -> Any:
    r"""Per-sample softmax Jacobians :math:`J = \mathrm{diag}(s) - s s^T`.

    Parameters
    ----------
    s : array, shape (n_samples, k)
        Softmax outputs.

    Returns
    -------
    array, shape (n_samples, k, k)
        ``J[n, i, j] = ds_i/dx_j`` for sample ``n``; ``J[n] @ dy[n]`` equals
        ``Softmax.backward(dy)[n]``.

    Examples
    --------
    >>> import numpy as np
    >>> softmax_jacobian(np.array([[0.5, 0.5]])).tolist()
    [[[0.25, -0.25], [-0.25, 0.25]]]
    """
    xp = backend_of(s).xp
    k = s.shape[-1]
    eye = xp.eye(k, dtype=s.dtype, device=device(s))
    return s[..., :, None] * eye - s[..., :, None] * s[..., None, :]


class Sigmoid(_Activation):
    r"""Logistic sigmoid :math:`s = 1 / (1 + e^{-x})`; :math:`dx = dy\,(1 - s)\,s`.

    ``predictions`` thresholds at 0.5 (binary classification).

    Examples
    --------
    >>> import numpy as np
    >>> sg = Sigmoid()
    >>> sg.forward(np.array([[0.0]])).tolist(), sg.predictions(np.array([[0.7, 0.2]])).tolist()
    ([[0.5]], [[1, 0]])
    """

    def _forward(self, x: Any, training: bool = True) -> Any:
        xp = self.xp
        # exp(-x) overflows below x = -88 (float32) / -709 (float64), where s is 0 to working
        # precision anyway; bounding x there changes no result the book's formula gets right
        floor = -88.0 if x.dtype == xp.float32 else -709.0
        self.s = 1 / (1 + xp.exp(-xp.maximum(x, floor)))
        return self.s

    def _backward(self, dy: Any) -> Any:
        return dy * (1 - self.s) * self.s

    def predictions(self, outputs: Any) -> Any:
        xp = backend_of(outputs).xp
        return xp.astype(outputs > 0.5, xp.int64)


class Linear(_Activation):
    """Identity activation for regression outputs: ``y = x``, ``dx = dy``.

    Examples
    --------
    >>> import numpy as np
    >>> Linear().forward(np.array([[1.5]])).tolist()
    [[1.5]]
    """

    scratch_dx = False  # it hands ``dy`` itself back

    def _forward(self, x: Any, training: bool = True) -> Any:
        return x

    def _backward(self, dy: Any) -> Any:
        return dy
