"""Losses: categorical and binary cross-entropy, mean squared and mean absolute error,
the fused softmax + cross-entropy, and the regularization penalty.

A loss has ``forward(y_pred, y_true)`` returning one loss per sample, ``calculate`` (their
mean, the data loss) and ``backward(y_pred, y_true)`` returning the gradient of the data loss
with respect to ``y_pred`` (already divided by the number of samples).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from array_api_compat import device

from .. import trace, validate
from ..backend import backend_of, to_numpy
from .activations import Linear, ReLU, Sigmoid, Softmax
from .layers import Dense
from .registry import Registered

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SoftmaxCrossentropy",
    "one_hot",
    "regularization_loss",
    "softmax_crossentropy_backward",
]

#: Predictions are clipped to [EPS, 1 - EPS] before the log, so that a confident wrong
#: prediction costs at most -log(1e-7) ~ 16.1 instead of infinity (the book's constant).
EPS = 1e-7


class Loss(Registered):
    """Base class: ``calculate`` averages the per-sample losses of ``forward``."""

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        raise NotImplementedError

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        raise NotImplementedError

    #: the last host targets :meth:`calculate` checked (a training loop passes the same
    #: array every epoch: checked once)
    _checked: Any = None
    #: whether a loss that takes probabilities has checked its first predictions (every
    #: step would cost a pass over them)
    _probabilities_checked = False

    def calculate(self, y_pred: Any, y_true: Any) -> Any:
        """The data loss: the mean of the per-sample losses (a 0-d array; one per model
        copy when the arrays have a leading model axis).

        Host (NumPy) targets are checked against the predictions' outputs first
        (:meth:`check_targets`: class labels in range, one-hot rows), as a model checks
        them before training; on a device that would cost a read back, so it is left to
        the model."""
        self._check_new_targets(y_pred, y_true, averaged=True)
        sample_losses = self.forward(y_pred, y_true)
        data_loss = backend_of(y_pred).xp.mean(sample_losses, axis=-1)
        trace.emit(type(self).__name__, "forward", y_pred=y_pred, sample_losses=sample_losses,
                   data_loss=data_loss)
        return data_loss

    def _check_new_targets(self, y_pred: Any, y_true: Any, *, averaged: bool = False) -> None:
        """Once per targets array: :meth:`check_targets` on host (NumPy) targets and, for
        :meth:`calculate` (``averaged``), predictions that hold samples (the mean of none is
        NaN)."""
        if y_true is self._checked:
            return
        if hasattr(y_pred, "dtype"):  # (else backend_of names what to convert)
            validate.floating(type(self).__name__, y_pred, backend_of(y_pred).xp,
                              what="predictions", fix="y_pred.astype(np.float32) (a model's "
                              "outputs are)")
        if averaged and hasattr(y_pred, "shape"):
            validate.non_empty("y_pred", y_pred, "array (n_samples, n_outputs)",
                               fix=validate.EMPTY_MEAN.format(f"{type(self).__name__}.calculate"))
        if isinstance(y_true, np.ndarray) and getattr(y_pred, "ndim", 0) == 2:
            self.check_targets(y_true, int(y_pred.shape[-1]))
        self._checked = y_true

    def _check_probabilities(self, y_pred: Any, fix: str, *, rows: bool) -> None:
        """Refuse first predictions that are not probabilities: each value in [0, 1] (and,
        with ``rows``, each row summing to 1), as a softmax or sigmoid gives them. Logits or
        raw outputs would be clipped to [1e-7, 1 - 1e-7] into a plausible, wrong loss.
        Checked once per loss (reads the values back from a device). Rows holding NaN are
        left out: a diverged network's softmax gives NaN, which is a loss of NaN, not
        logits."""
        if self._probabilities_checked:
            return
        values = to_numpy(y_pred)
        problem = _not_distributions(values.reshape(-1, values.shape[-1]), rows_sum=rows,
                                     nan_rows=True)
        if problem:
            takes = ("class probabilities, a Softmax's output (each row in [0, 1], summing to "
                     "1)" if rows else "a probability per output, a Sigmoid's output (in "
                     "[0, 1])")
            msg = f"{type(self).__name__} takes {takes}, but in y_pred, {problem}. {fix}"
            raise ValueError(msg)
        self._probabilities_checked = True

    def backward_through(self, layer: Any, y_pred: Any, y_true: Any) -> Any:
        """The gradient at the *input* of ``layer`` (the network's last layer, whose output
        is ``y_pred``) when this loss and that layer have a joint gradient simpler than
        their two backward passes (softmax + cross-entropy); None otherwise."""
        return None

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        """Validate targets once, before training (may read values back from the device)."""

    def check_input(self, layer: Any) -> None:
        """Raise where this loss cannot take what ``layer``, the network's last, outputs."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _is_integer(xp: Any, y: Any) -> bool:
    kind = getattr(y.dtype, "kind", None)  # NumPy's (and CuPy's, JAX's) dtypes: no isdtype call
    return kind in ("i", "u") if isinstance(kind, str) else xp.isdtype(y.dtype, "integral")


def _kind(xp: Any, y: Any) -> str:
    """What ``y`` holds, in words: floats are named as such (the data may have been
    converted to the model's float dtype before, so its dtype would mislead)."""
    return "floating-point numbers" if xp.isdtype(y.dtype, "real floating") else \
        f"dtype {y.dtype}"


def one_hot(xp: Any, y: Any, k: int, dtype: Any) -> Any:
    """Integer labels of shape (..., n) as a one-hot array of shape (..., n, k).

    >>> import numpy as np, array_api_compat.numpy as xp
    >>> one_hot(xp, np.array([2, 0]), 3, xp.float32).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    return xp.astype(y[..., None] == xp.arange(k, device=device(y)), dtype)


def softmax_crossentropy_backward(s: Any, y_true: Any) -> Any:
    r"""The gradient of the mean cross-entropy at the logits of a softmax: :math:`(s - y)/n`,
    from the softmax outputs ``s`` and integer labels (or one-hot targets) ``y_true``.

    This is what Softmax's backward after cross-entropy's backward simplifies to, in one
    cheap pass (the book's ``Activation_Softmax_Loss_CategoricalCrossentropy.backward``).

    >>> import numpy as np
    >>> softmax_crossentropy_backward(np.array([[0.5, 0.5]]), np.array([1])).tolist()
    [[0.5, -0.5]]
    """
    xp = backend_of(s).xp
    _check_class_targets(xp, s, y_true)
    n, k = s.shape[-2:]
    if y_true.ndim == s.ndim - 1:
        y_true = one_hot(xp, y_true, k, s.dtype)
    dx = (s - y_true) / n
    trace.emit("SoftmaxCrossentropy", "backward", s=s, y_one_hot=y_true, dx=dx)
    return dx


#: The fix for logits given to categorical cross-entropy.
_SOFTMAX_FIRST = ("Apply Softmax first (xpnet.nn.Softmax().forward(logits)), or give the raw "
                  "outputs to SoftmaxCrossentropy(), which applies it.")


class CategoricalCrossentropy(Loss):
    r"""Categorical cross-entropy :math:`-\log \hat y_{i, y_i}` for integer labels, or
    :math:`-\sum_j y_{ij} \log \hat y_{ij}` for one-hot targets.

    ``y_pred`` holds probabilities (a softmax output), clipped to :math:`[10^{-7}, 1-10^{-7}]`.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]], dtype=np.float32)
    >>> [round(v, 4) for v in CategoricalCrossentropy().forward(p, np.array([0, 1])).tolist()]
    [0.3567, 0.6931]
    """

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        _check_class_targets(xp, y_pred, y_true)
        self._check_new_targets(y_pred, y_true)
        self._check_probabilities(y_pred, _SOFTMAX_FIRST, rows=True)
        p = xp.clip(y_pred, EPS, 1 - EPS)
        if y_true.ndim == y_pred.ndim - 1:  # labels
            index = xp.astype(y_true, xp.int64)[..., None]
            confidences = xp.take_along_axis(p, index, axis=-1)[..., 0]
        else:
            confidences = xp.sum(p * y_true, axis=-1)
        return -xp.log(confidences)

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        _check_class_targets(xp, y_pred, y_true)
        self._check_new_targets(y_pred, y_true)
        self._check_probabilities(y_pred, _SOFTMAX_FIRST, rows=True)
        n, k = y_pred.shape[-2:]
        if y_true.ndim == y_pred.ndim - 1:
            y_true = one_hot(xp, y_true, k, y_pred.dtype)
        return -y_true / y_pred / n

    def backward_through(self, layer: Any, y_pred: Any, y_true: Any) -> Any:
        if isinstance(layer, Softmax) and type(layer).forward is Softmax.forward \
                and type(layer).backward is Softmax.backward:  # (a subclass's own maths runs)
            return softmax_crossentropy_backward(y_pred, y_true)
        return None

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        _check_class_target_values(y_true, n_outputs)

    def check_input(self, layer: Any) -> None:
        if isinstance(layer, (Dense, ReLU, Linear, Sigmoid)):  # outputs, not probabilities
            kind = type(layer).__name__
            msg = (f"CategoricalCrossentropy takes class probabilities, a Softmax layer's "
                   f"output, but the model ends with {kind}. Add Softmax() as the last layer"
                   f"{' in place of Sigmoid' if kind == 'Sigmoid' else ''}, or use "
                   "SoftmaxCrossentropy(), which takes the last Dense layer's raw outputs.")
            raise ValueError(msg)


class SoftmaxCrossentropy(Loss):
    r"""Softmax followed by categorical cross-entropy, with the fused gradient.

    ``forward`` takes logits; ``backward`` returns :math:`(\hat y - y) / n`, which is what
    Softmax's backward after cross-entropy's backward simplifies to, in one cheap pass.
    :class:`~xpnet.Model` uses this gradient automatically when the network ends in
    :class:`~xpnet.nn.activations.Softmax` and the loss is :class:`CategoricalCrossentropy`
    (see :meth:`Loss.backward_through`).

    Examples
    --------
    >>> import numpy as np
    >>> loss = SoftmaxCrossentropy()
    >>> logits = np.array([[2.0, 1.0, 0.1]], dtype=np.float32)
    >>> round(float(loss.calculate(logits, np.array([0]))), 4)
    0.417
    >>> [round(v, 3) for v in loss.backward(logits, np.array([0]))[0].tolist()]
    [-0.341, 0.242, 0.099]
    """

    def __init__(self) -> None:
        self.softmax = Softmax()
        self.crossentropy = CategoricalCrossentropy()
        # it takes the softmax's output: NaN logits give a NaN loss, not a Softmax hint
        self.crossentropy._probabilities_checked = True

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        self.s = self.softmax.forward(y_pred)
        return self.crossentropy.forward(self.s, y_true)

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        """Gradient with respect to the logits ``y_pred`` (a training step calls this without
        ``forward``: the loss is computed only on logged epochs)."""
        self._check_new_targets(y_pred, y_true)
        return softmax_crossentropy_backward(self.softmax.forward(y_pred), y_true)

    def predictions(self, y_pred: Any) -> Any:
        """The class of the largest logit (what accuracy compares with the labels)."""
        return backend_of(y_pred).xp.argmax(y_pred, axis=-1)

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        _check_class_target_values(y_true, n_outputs)

    def check_input(self, layer: Any) -> None:
        if isinstance(layer, Softmax):
            msg = ("SoftmaxCrossentropy applies the softmax itself, but the model already ends "
                   "with Softmax(): the softmax would be applied twice. Remove the Softmax "
                   "layer, or use CategoricalCrossentropy() after it.")
            raise ValueError(msg)


#: The fix for raw outputs given to binary cross-entropy.
_SIGMOID_FIRST = "Apply Sigmoid first (xpnet.nn.Sigmoid().forward(outputs))."


class BinaryCrossentropy(Loss):
    r"""Binary cross-entropy :math:`-[y \log \hat y + (1-y) \log(1-\hat y)]`, averaged over
    outputs; ``y_pred`` are sigmoid probabilities (clipped like cross-entropy's).

    Targets have the shape of the predictions, e.g. ``(n_samples, 1)`` for one output.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9], [0.2]], dtype=np.float32)
    >>> [round(v, 4) for v in BinaryCrossentropy().forward(p, np.array([[1], [0]])).tolist()]
    [0.1054, 0.2231]
    """

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        self._check_probabilities(y_pred, _SIGMOID_FIRST, rows=False)
        p = xp.clip(y_pred, EPS, 1 - EPS)
        sample_losses = -(y_true * xp.log(p) + (1 - y_true) * xp.log(1 - p))
        return xp.mean(sample_losses, axis=-1)

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        self._check_new_targets(y_pred, y_true)
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        self._check_probabilities(y_pred, _SIGMOID_FIRST, rows=False)
        n, outputs = y_pred.shape[-2:]
        p = xp.clip(y_pred, EPS, 1 - EPS)
        return -(y_true / p - (1 - y_true) / (1 - p)) / outputs / n

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        _check_target_shape(type(self).__name__, y_true, n_outputs)
        values = to_numpy(y_true)
        bad = ~((values >= 0) & (values <= 1))  # (NaN too)
        if bad.any():
            msg = (
                f"BinaryCrossentropy expects targets of 0 or 1 (or probabilities between, as "
                f"soft labels), got {values[bad].ravel()[0]!r}. Encode the two classes as 0 "
                "and 1."
            )
            raise ValueError(msg)

    def check_input(self, layer: Any) -> None:
        if isinstance(layer, (Dense, ReLU, Linear)):  # outputs, not probabilities
            msg = (f"BinaryCrossentropy takes a probability per output, a Sigmoid layer's "
                   f"output, but the model ends with {type(layer).__name__}, whose outputs "
                   "leave [0, 1] (clipped there, they stop the gradient). Add Sigmoid() as "
                   "the last layer (the book's chapter 16 model ends Dense(64, 1), "
                   "Sigmoid()).")
            raise ValueError(msg)


class MeanSquaredError(Loss):
    r"""Mean squared error :math:`\frac1m \sum_j (y_j - \hat y_j)^2` per sample; gradient
    :math:`-2 (y - \hat y) / m / n`.

    Examples
    --------
    >>> import numpy as np
    >>> MeanSquaredError().forward(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])).tolist()
    [2.5]
    """

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        return xp.mean((y_true - y_pred) ** 2, axis=-1)

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        self._check_new_targets(y_pred, y_true)
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        n, outputs = y_pred.shape[-2:]
        return -2 * (y_true - y_pred) / outputs / n

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        _check_target_shape(type(self).__name__, y_true, n_outputs)


class MeanAbsoluteError(Loss):
    r"""Mean absolute error :math:`\frac1m \sum_j |y_j - \hat y_j|` per sample.

    The gradient is :math:`\mathrm{sign}(\hat y - y) / m / n`. (The book's listing returns
    ``sign(y - ŷ)``, the wrong sign: a model trained with it walks away from its targets.
    ``xpnet gradcheck`` catches exactly this kind of mistake.)

    Examples
    --------
    >>> import numpy as np
    >>> mae = MeanAbsoluteError()
    >>> mae.forward(np.array([[1.0, -2.0]]), np.array([[0.0, 0.0]])).tolist()
    [1.5]
    >>> mae.backward(np.array([[1.0, -2.0]]), np.array([[0.0, 0.0]])).tolist()
    [[0.5, -0.5]]
    """

    def forward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        return xp.mean(xp.abs(y_true - y_pred), axis=-1)

    def backward(self, y_pred: Any, y_true: Any) -> Any:
        xp = backend_of(y_pred).xp
        self._check_new_targets(y_pred, y_true)
        y_true = _float_targets(xp, y_pred, y_true, type(self).__name__)
        n, outputs = y_pred.shape[-2:]
        return xp.sign(y_pred - y_true) / outputs / n

    def check_targets(self, y_true: Any, n_outputs: int) -> None:
        _check_target_shape(type(self).__name__, y_true, n_outputs)


def regularization_loss(layers: Iterable[Any]) -> Any:
    r"""The penalty :math:`\sum \lambda_1 |w| + \lambda_2 w^2` summed over ``layers``.

    Each layer contributes its own :meth:`~xpnet.nn.layers.Layer.regularization_loss`; the
    result is the integer 0 when no layer is regularized (so it prints as ``0.000``).
    """
    total: Any = 0
    for layer in layers:
        total = total + layer.regularization_loss()
    return total


# -- target checks ------------------------------------------------------------------------

def _check_class_targets(xp: Any, y_pred: Any, y_true: Any) -> None:
    """Predictions (..., n, k) against labels (..., n) or one-hot targets (..., n, k); the
    leading axes are those of many models trained at once."""
    if not hasattr(y_true, "ndim"):
        backend_of(y_true)  # not an array (a list, None): raises, naming the conversion
    if y_pred.ndim < 2:
        msg = (
            f"cross-entropy expects predictions of shape (n_samples, n_classes), got shape "
            f"{tuple(y_pred.shape)}."
        )
        raise ValueError(msg)
    shape = tuple(y_pred.shape)
    labels, onehot = shape[:-1], shape
    if y_true.ndim == y_pred.ndim - 1:
        if not _is_integer(xp, y_true):
            msg = (
                f"cross-entropy expects integer class labels, got {_kind(xp, y_true)}. "
                "Pass them as integers, e.g. np.asarray(y, dtype=np.int64) for NumPy data "
                f"(or pass one-hot targets of shape {onehot})."
            )
            raise TypeError(msg)
        if tuple(y_true.shape) != labels:
            msg = (f"cross-entropy got labels of shape {tuple(y_true.shape)} for predictions "
                   f"of shape {shape}; it needs one label per prediction, shape {labels}.")
            raise ValueError(msg)
    elif tuple(y_true.shape) != onehot:
        msg = (
            f"cross-entropy expects labels of shape {labels} or one-hot targets of shape "
            f"{onehot}, got shape {tuple(y_true.shape)}."
        )
        raise ValueError(msg)


def _check_class_target_values(y_true: Any, k: int) -> None:
    """Labels ``(n,)`` of integers in ``[0, k)``, or one-hot targets ``(n, k)``, for a model
    with ``k`` outputs (0: unknown, only the labels' kind is checked)."""
    xp = backend_of(y_true).xp
    if y_true.ndim == 2:
        if y_true.shape[1] == 1 and k != 1 and _is_integer(xp, y_true):
            msg = (f"targets of shape {tuple(y_true.shape)} look like a column of class "
                   "labels; pass them as a vector of shape (n_samples,): y.ravel() (or "
                   "y.reshape(-1)).")
            raise ValueError(msg)
        if k and y_true.shape[1] != k:
            msg = (f"one-hot targets have {y_true.shape[1]} columns but the model has {k} "
                   f"outputs; give the last Dense layer {y_true.shape[1]} outputs, or pass "
                   "labels y of shape (n_samples,) (y.argmax(axis=1) for one-hot rows).")
            raise ValueError(msg)
        _check_distributions(to_numpy(y_true))
        return
    if y_true.ndim != 1:
        msg = (f"cross-entropy expects labels of shape (n_samples,) or one-hot targets of "
               f"shape (n_samples, {k or 'n_classes'}), got shape {tuple(y_true.shape)}.")
        raise ValueError(msg)
    if not _is_integer(xp, y_true):
        msg = (f"cross-entropy expects integer class labels, got {_kind(xp, y_true)}. "
               "Pass them as integers, e.g. np.asarray(y, dtype=np.int64).")
        raise TypeError(msg)
    values = to_numpy(y_true)
    if k and values.size and (values.min() < 0 or values.max() >= k):
        msg = (
            f"class labels must lie in [0, {k - 1}] for a model with {k} outputs, got labels "
            f"from {values.min()} to {values.max()}. Renumber the classes 0..{k - 1} or give "
            "the last Dense layer one output per class."
        )
        raise ValueError(msg)


def _not_distributions(rows: Any, *, rows_sum: bool = True, nan_rows: bool = False) -> str:
    """What is wrong with the host array ``rows`` as probabilities ("row 0 is [...] (it sums
    to 3; ...)"), or "" when each value is in [0, 1] (NaN is not, unless ``nan_rows`` lets
    rows holding NaN pass) and, with ``rows_sum``, each row sums to 1 (to float32's
    rounding)."""
    if not rows.size:
        return ""
    sums = rows.astype("float64").sum(axis=1)
    bad = ~((rows >= 0) & (rows <= 1)).all(axis=1)
    if rows_sum:
        bad |= ~(abs(sums - 1) <= 1e-3)
    if nan_rows:
        bad &= ~np.isnan(sums)
    where = bad.nonzero()[0]
    if not where.size:
        return ""
    i = int(where[0])
    total = f"it sums to {sums[i]:.4g}; " if rows_sum else ""
    return (f"row {i} is {rows[i].astype('float64').round(4).tolist()} ({total}{where.size} of "
            f"{rows.shape[0]} rows are like it)")


def _check_distributions(rows: Any) -> None:
    """One-hot rows (a 1 among 0s), or class probabilities: each row of the host array
    ``rows`` in [0, 1], summing to 1 (to float32's rounding)."""
    problem = _not_distributions(rows)
    if problem:
        msg = (f"one-hot targets must have one 1 per row and 0s elsewhere (or class "
               f"probabilities in [0, 1] summing to 1), but {problem}. Pass labels y of shape "
               "(n_samples,), or one-hot rows np.eye(n_classes)[y].")
        raise ValueError(msg)


def _check_target_shape(who: str, y_true: Any, k: int) -> None:
    """Targets of the output's shape ``(n, k)`` (``k`` 0: unknown, any width)."""
    _check_real(backend_of(y_true).xp, y_true, who)
    if y_true.ndim == 2 and (not k or y_true.shape[1] == k):
        return
    hint = f"Pass targets of shape (n_samples, {k or 'n_outputs'})"
    if y_true.ndim == 1 and k == 1:
        hint = "Reshape them to a column with y[:, None] (the book's y.reshape(-1, 1))"
    elif y_true.ndim == 2:
        hint += f" or give the last Dense layer {y_true.shape[1]} outputs"
    msg = (f"{who} expects targets of the model's output shape (n_samples, "
           f"{k or 'n_outputs'}), got shape {tuple(y_true.shape)}. {hint}.")
    raise ValueError(msg)


def _float_targets(xp: Any, y_pred: Any, y_true: Any, who: str) -> Any:
    if not hasattr(y_true, "shape"):
        backend_of(y_true)  # not an array (a list, None): raises, naming the conversion
    if y_pred.ndim < 2:
        msg = (f"{who} expects predictions of shape (n_samples, n_outputs), got shape "
               f"{tuple(y_pred.shape)}; one output per sample is a column: y_pred[:, None] "
               "(with targets y[:, None]).")
        raise ValueError(msg)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        hint = ""
        if y_true.ndim == 1 and y_pred.ndim == 2 and y_pred.shape[1] == 1:
            hint = " Reshape the targets to a column with y[:, None] (the book's y.reshape(-1, 1))."
        msg = (
            f"{who} expects targets of the predictions' shape {tuple(y_pred.shape)}, got shape "
            f"{tuple(y_true.shape)}.{hint}"
        )
        raise ValueError(msg)
    if xp.isdtype(y_true.dtype, "real floating"):
        return y_true
    _check_real(xp, y_true, who)
    # integer or boolean targets (class ids 0/1): exact in the predictions' float dtype
    return xp.astype(y_true, y_pred.dtype)


def _check_real(xp: Any, y_true: Any, who: str) -> None:
    """Refuse targets that are no real numbers (complex, strings, objects): a cast to the
    predictions' dtype would drop imaginary parts with only a warning, or fail in NumPy."""
    if not xp.isdtype(y_true.dtype, ("real floating", "integral", "bool")):
        msg = (f"{who} expects targets of real numbers, got an array of dtype {y_true.dtype}; "
               "convert them first, e.g. y.astype(np.float32).")
        raise TypeError(msg)
