"""Accuracy: categorical, binary and regression, as in the book.

``calculate(predictions, y)`` compares predictions (from the output activation's
``predictions``) with the targets and returns the fraction that match, as a 0-d array.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import validate
from ..backend import backend_of
from .registry import Registered

__all__ = ["Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "RegressionAccuracy"]


class Accuracy(Registered):
    """Base class: ``calculate`` is the mean of ``compare``."""

    #: the axes ``calculate`` averages over (None: all); the categorical accuracy averages
    #: over the samples only, so many models at once get one accuracy per copy
    axes: ClassVar[int | None] = None

    def init(self, y: Any, reinit: bool = False) -> None:
        """Look at the training targets before training (regression sets its precision)."""

    def compare(self, predictions: Any, y: Any) -> Any:
        raise NotImplementedError

    def check_input(self, layer: Any) -> None:
        """Raise where this accuracy cannot compare what ``layer``, the network's last,
        predicts."""

    #: the last targets :meth:`check_samples` saw (a loop passes the same ones: checked once)
    _checked: Any = None

    def check_samples(self, predictions: Any, y: Any) -> None:
        """Refuse predictions with no samples (their mean would be NaN), once per targets."""
        if y is not self._checked:
            validate.non_empty("predictions", predictions, "array (n_samples, ...)",
                               fix=validate.EMPTY_MEAN.format(f"{type(self).__name__}.calculate"))
            self._checked = y

    def calculate(self, predictions: Any, y: Any) -> Any:
        self.check_samples(predictions, y)
        b = backend_of(predictions)
        matches = self.compare(predictions, y)
        # float64 where the device has it: the fraction k/n is then exactly the book's
        dtype = b.xp.float64 if b.has_float64 else b.xp.float32
        return b.xp.mean(b.xp.astype(matches, dtype), axis=self.axes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CategoricalAccuracy(Accuracy):
    """Fraction of predicted class indices equal to the labels (one-hot targets accepted).

    Examples
    --------
    >>> import numpy as np
    >>> float(CategoricalAccuracy().calculate(np.array([0, 2, 1]), np.array([0, 1, 1])))
    0.6666666666666666
    """

    axes = -1

    def compare(self, predictions: Any, y: Any) -> Any:
        xp = backend_of(predictions).xp
        if y.ndim == predictions.ndim + 1:  # one-hot targets
            y = xp.argmax(y, axis=-1)
        _check_alike(self, predictions, y, "labels of shape (n_samples,)")
        return predictions == y

    def check_input(self, layer: Any) -> None:
        _not_after_linear(self, layer, "predicted classes (a Softmax's most probable class)")
        if type(layer).__name__ == "Sigmoid":
            msg = ("CategoricalAccuracy compares class indices, but the model ends with "
                   "Sigmoid (a 0/1 answer per output). Use accuracy=BinaryAccuracy(), or "
                   "leave accuracy out to have it chosen.")
            raise ValueError(msg)


class BinaryAccuracy(Accuracy):
    """Fraction of 0/1 predictions (sigmoid outputs thresholded at 0.5) equal to the targets.

    Examples
    --------
    >>> import numpy as np
    >>> float(BinaryAccuracy().calculate(np.array([[1], [0]]), np.array([[1], [1]])))
    0.5
    """

    def compare(self, predictions: Any, y: Any) -> Any:
        _check_alike(self, predictions, y, "a column per output, as the predictions: "
                     "y.reshape(-1, 1) for one output (the book's chapter 16)")
        return predictions == y

    def check_input(self, layer: Any) -> None:
        _not_after_linear(self, layer, "0/1 predictions (a Sigmoid's outputs rounded)")


def _check_alike(accuracy: Accuracy, predictions: Any, y: Any, fix: str) -> None:
    """Refuse targets whose shape would broadcast against the predictions into a wrong
    comparison ((n, 1) against (n,) compares every pair); the predictions may have a
    leading model axis (many models) that the targets lack."""
    shape, target = tuple(predictions.shape), tuple(y.shape)
    if len(target) > len(shape) or shape[len(shape) - len(target):] != target:
        msg = (f"{type(accuracy).__name__}: predictions have shape {shape} but the targets "
               f"{target}; pass targets of the predictions' shape ({fix}).")
        raise ValueError(msg)


def _not_after_linear(accuracy: Accuracy, layer: Any, compares: str) -> None:
    """A class accuracy on a regression model (ending with Linear) compares values with
    labels: refuse it, naming the accuracy that fits."""
    if type(layer).__name__ == "Linear":
        msg = (f"{type(accuracy).__name__} compares {compares}, but the model ends with "
               "Linear, whose outputs are values (regression). Use "
               "accuracy=RegressionAccuracy(), or leave accuracy out to have it chosen.")
        raise ValueError(msg)


class RegressionAccuracy(Accuracy):
    r"""Fraction of predictions within ``precision`` of the target, where by default
    :math:`\mathrm{precision} = \mathrm{std}(y) / 250` of the training targets (the book's rule).

    Parameters
    ----------
    precision : float, optional
        A fixed tolerance; computed from the targets by :meth:`init` when omitted.
    divisor : float
        The 250 in ``std(y) / 250``.

    Examples
    --------
    >>> import numpy as np
    >>> acc = RegressionAccuracy(precision=0.1)
    >>> float(acc.calculate(np.array([[1.0], [2.0]]), np.array([[1.05], [2.5]])))
    0.5
    """

    def __init__(self, precision: float | None = None, divisor: float = 250.0):
        self.precision = (None if precision is None else
                          validate.positive_float("RegressionAccuracy precision", precision))
        self.divisor = validate.positive_float("RegressionAccuracy divisor", divisor)
        self._fixed = precision is not None

    def init(self, y: Any, reinit: bool = False) -> None:
        if self._fixed or (self.precision is not None and not reinit):
            return
        xp = backend_of(y).xp
        self.precision = xp.std(y) / self.divisor

    def compare(self, predictions: Any, y: Any) -> Any:
        if self.precision is None:
            self.init(y)
        xp = backend_of(predictions).xp
        return xp.abs(predictions - y) < self.precision

    def get_config(self) -> dict[str, Any]:
        fixed = float(self.precision) if self._fixed and self.precision is not None else None
        return {"precision": fixed,
                "divisor": self.divisor}
