"""Activations: ReLU, Softmax, Sigmoid, Linear.

Each pairs ``forward`` with ``backward`` and has ``predictions(outputs)``, which turns the
network's outputs into what accuracy compares with the targets (as in the book).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device

from .. import trace, validate
from ..backend import backend_of
from .layers import Layer

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Softmax", "softmax_jacobian"]


class Activation(Layer):
    """Base class of the activations: a layer without parameters, with ``predictions``."""

    def predictions(self, outputs: Any) -> Any:
        """What accuracy compares with the targets: the outputs themselves by default."""
        return outputs


class ReLU(Activation):
    r"""Rectified linear unit :math:`y = \max(x, 0)`; :math:`dx = dy \cdot [x > 0]`.

    The gradient at exactly 0 is taken as 0, as in the book (``dinputs[inputs <= 0] = 0``);
    ``y > 0`` exactly where ``x > 0``, so the output (which the layer keeps) gives the mask.

    Examples
    --------
    >>> import numpy as np
    >>> relu = ReLU()
    >>> relu.forward(np.array([[-1.0, 0.0, 2.0]])).tolist()
    [[0.0, 0.0, 2.0]]
    >>> relu.backward(np.array([[5.0, 5.0, 5.0]])).tolist()
    [[0.0, 0.0, 5.0]]
    """

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training)
        trace.emit(self.name, "forward", x=x)  # before an engine may write y over x
        self.y = self.ops.relu(x)  # max(x, 0)
        trace.emit(self.name, "forward", y=self.y)
        return self.y

    def backward(self, dy: Any) -> Any:
        y = self.y  # the forward's output
        validate.gradient_shape(self, dy, y.shape, y)
        dx = self.ops.relu_backward(dy, y)  # dy where y > 0, else 0
        trace.emit(self.name, "backward", dy=dy, dx=dx)
        return dx


class Softmax(Activation):
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

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training)
        ops = self.ops
        row_max = ops.row_max(x)
        shifted = x - row_max  # every entry <= 0, so exp cannot overflow
        e = ops.xp.exp(shifted)
        total = ops.row_sum(e)
        self.s = e / total
        trace.emit(self.name, "forward", x=x, max=row_max, shifted=shifted, exp=e, sum=total,
                   y=self.s)
        return self.s

    def backward(self, dy: Any) -> Any:
        s = self.s
        validate.gradient_shape(self, dy, s.shape, s)
        dot = self.xp.sum(dy * s, axis=-1, keepdims=True)  # <dy, s> per sample
        dx = self.ops.softmax_backward(s, dy, dot)  # s * (dy - dot)
        trace.emit(self.name, "backward", dy=dy, dot=dot, dx=dx)
        return dx

    def jacobian(self) -> Any:
        """The per-sample Jacobians of the last forward pass, shape (n_samples, k, k)."""
        return softmax_jacobian(self.s)

    def predictions(self, outputs: Any) -> Any:
        return backend_of(outputs).xp.argmax(outputs, axis=-1)


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


class Sigmoid(Activation):
    r"""Logistic sigmoid :math:`s = 1 / (1 + e^{-x})`; :math:`dx = dy\,(1 - s)\,s`.

    ``predictions`` thresholds at 0.5 (binary classification).

    Examples
    --------
    >>> import numpy as np
    >>> sg = Sigmoid()
    >>> sg.forward(np.array([[0.0]])).tolist(), sg.predictions(np.array([[0.7, 0.2]])).tolist()
    ([[0.5]], [[1, 0]])
    """

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training)
        xp = self.xp
        # exp(-x) overflows below x = -88 (float32) / -709 (float64), where s is 0 to working
        # precision anyway; bounding x there changes no result the book's formula gets right
        floor = -88.0 if x.dtype == xp.float32 else -709.0
        self.s = 1 / (1 + xp.exp(-xp.maximum(x, floor)))
        trace.emit(self.name, "forward", x=x, y=self.s)
        return self.s

    def backward(self, dy: Any) -> Any:
        validate.gradient_shape(self, dy, self.s.shape, self.s)
        dx = dy * (1 - self.s) * self.s
        trace.emit(self.name, "backward", dy=dy, dx=dx)
        return dx

    def predictions(self, outputs: Any) -> Any:
        xp = backend_of(outputs).xp
        return xp.astype(outputs > 0.5, xp.int64)


class Linear(Activation):
    """Identity activation for regression outputs: ``y = x``, ``dx = dy``.

    Examples
    --------
    >>> import numpy as np
    >>> Linear().forward(np.array([[1.5]])).tolist()
    [[1.5]]
    """

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training)
        self.y = x
        trace.emit(self.name, "forward", x=x, y=x)
        return x

    def backward(self, dy: Any) -> Any:
        validate.gradient_shape(self, dy, self.y.shape, self.y)
        trace.emit(self.name, "backward", dy=dy, dx=dy)
        return dy
