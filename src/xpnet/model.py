"""The :class:`Model`: a stack of layers with a loss, an optimizer and an accuracy.

Examples
--------
>>> import xpnet
>>> from xpnet.nn.layers import Dense
>>> from xpnet.nn.activations import ReLU, Softmax
>>> X, y = xpnet.datasets.spiral(samples=100, classes=3, seed=0)
>>> model = xpnet.Model(seed=0)
>>> for layer in (Dense(2, 32), ReLU(), Dense(32, 3), Softmax()):
...     _ = model.add(layer)
>>> model.set(loss=xpnet.losses.CategoricalCrossentropy(),
...           optimizer=xpnet.optimizers.Adam(learning_rate=0.02))
>>> history = model.train(X, y, epochs=200, log_every=50)
>>> history["epoch"]
[50, 100, 150, 200]
>>> history["acc"][-1] > history["acc"][0]
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import engine, io
from .backend import Backend, resolve
from .engine.fused import Kernels, kernels_for
from .errors import BackendError
from .nn.layers import Dense, Layer
from .nn.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, SoftmaxCrossentropy
from .nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from .nn.optimizers import Optimizer
from .random import SeedLike, as_generator
from .training import Callback, History, train

__all__ = ["Callback", "History", "Model"]

#: Arithmetic policies (defined with the file format, which stores them)
PRECISIONS = io.PRECISIONS


class Model:
    """A sequential network: architecture, forward and backward passes, predict, evaluate,
    save and load. Training is :func:`xpnet.training.train`, behind :meth:`train`.

    Parameters
    ----------
    backend : str, namespace or Backend
        ``"numpy"`` (default), ``"cupy"``, ``"torch"``, ``"jax"``, ``"array_api_strict"``, or a
        namespace.
    device : optional
        Device for the parameters (the backend's default when omitted).
    seed : int, "nnfs" or Generator
        The stream for initial weights, dropout masks and shuffling. ``"nnfs"`` (or a
        ``Generator("nnfs")`` shared with the data) selects faithful mode.
    precision : {"default", "nnfs"}, optional
        Arithmetic policy; ``"nnfs"`` (the book's, see :mod:`xpnet.engine.faithful`) when the
        stream is the book's, else ``"default"``.
    dtype : str
        Parameter dtype, ``"float32"`` (default) or ``"float64"``.
    fast : bool
        Train with fused kernels (:mod:`xpnet.engine.fused`): one kernel per optimizer
        update instead of a dozen. CuPy has them; elsewhere the flag changes nothing. Not
        with faithful mode, whose rounding is the book's. (Tests pass a
        :class:`xpnet.engine.fused.Kernels` to run the reference implementation on NumPy.)

    Attributes
    ----------
    ops : Ops
        The model's engine (plain or faithful), which its layers compute with outside
        training steps.
    """

    def __init__(
        self,
        *,
        backend: str | Backend | Any = "numpy",
        device: Any = None,
        seed: SeedLike = 0,
        precision: str | None = None,
        dtype: str = "float32",
        fast: bool | Kernels = False,
    ):
        self.backend = resolve(backend, device)
        self.rng = as_generator(seed)
        if precision is None:
            precision = "nnfs" if self.rng.nnfs else "default"
        if precision not in PRECISIONS:
            msg = f"unknown precision policy {precision!r}; expected one of {list(PRECISIONS)}."
            raise ValueError(msg)
        if dtype not in ("float32", "float64"):
            msg = f"dtype must be 'float32' or 'float64', got {dtype!r}."
            raise ValueError(msg)
        if not isinstance(fast, (bool, Kernels)):
            msg = f"fast must be True or False, got {fast!r}."
            raise TypeError(msg)
        if fast and precision == "nnfs":
            msg = ("fast=True cannot be combined with faithful mode: the fused kernels round "
                   "differently from the book's code. Drop fast=True, or use an integer seed.")
            raise ValueError(msg)
        self.precision, self.dtype, self.fast = precision, dtype, fast
        self.ops = engine.for_model(self.backend, precision, dtype)
        self._kernels: Kernels | None = None  # built on the first training run that uses them
        self.layers: list[Layer] = []
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.accuracy: Accuracy | None = None

    # -- building ------------------------------------------------------------------------
    def add(self, layer: Layer) -> Layer:
        """Append ``layer``, drawing its initial weights from the model's stream now
        (so construction order is draw order, as in the book). Returns the layer."""
        if not hasattr(layer, "forward") or not hasattr(layer, "backward"):
            msg = f"Model.add expects a layer with forward and backward, got {layer!r}."
            raise TypeError(msg)
        if getattr(layer, "built", False) and layer.backend != self.backend:
            msg = (
                f"{layer!r} was built on {layer.backend!r} but this model uses "
                f"{self.backend!r}; create a new layer for this model."
            )
            raise BackendError(msg)
        if not getattr(layer, "built", False) and hasattr(layer, "build"):
            layer.build(self.ops, self.rng, self.dtype)
        layer.name = f"{type(layer).__name__}[{len(self.layers)}]"
        self.layers.append(layer)
        return layer

    def set(
        self, *, loss: Loss, optimizer: Optimizer | None = None, accuracy: Accuracy | None = None
    ) -> None:
        """Choose the loss, the optimizer and the accuracy (inferred from the loss if omitted)."""
        self.loss = loss
        self.optimizer = optimizer
        if accuracy is None:
            if isinstance(loss, (CategoricalCrossentropy, SoftmaxCrossentropy)):
                accuracy = CategoricalAccuracy()
            elif isinstance(loss, BinaryCrossentropy):
                accuracy = BinaryAccuracy()
            else:
                accuracy = RegressionAccuracy()
        self.accuracy = accuracy

    @property
    def trainable_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if getattr(layer, "params", None)]

    @property
    def engine(self) -> str:
        """The name of the engine a training step runs on here (see :mod:`xpnet.engine`)."""
        views = engine.training_views(self.ops, self.layers, self.loss, self.fused_kernels())
        return views[0].name if views else self.ops.name

    def check_ready(self, training: bool) -> None:
        """Raise unless the model has layers, a loss and (to train) an optimizer."""
        if not self.layers:
            msg = "the model has no layers; add some with model.add(...)."
            raise RuntimeError(msg)
        if self.loss is None or (training and self.optimizer is None):
            msg = "set the loss and optimizer first: model.set(loss=..., optimizer=...)."
            raise RuntimeError(msg)
        for i, layer in enumerate(self.layers):
            layer.need_input_grad = i > 0

    def fused_kernels(self) -> Kernels | None:
        """The fused kernels this model trains with, or None (see ``fast``)."""
        if self.fast and self._kernels is None:
            self._kernels = kernels_for(self.backend, self.fast)
        return self._kernels if self.fast else None

    # -- computing -----------------------------------------------------------------------
    def forward(self, X: Any, training: bool = False) -> Any:
        """Run ``X`` through every layer (dropout active only when ``training``)."""
        out = X
        for layer in self.layers:
            out = layer.forward(out, training)
        return out

    def backward(self, output: Any, y: Any) -> None:
        """Backpropagate the data loss of ``output`` against ``y`` through every layer.

        When the loss and the last layer have a joint gradient (softmax + cross-entropy:
        ``(s - y) / n``), it starts from that, at the last layer's input.
        """
        assert self.loss is not None
        layers = self.layers
        dx = self.loss.backward_through(layers[-1], output, y)
        if dx is None:
            dx = self.loss.backward(output, y)
        else:
            layers = layers[:-1]
        for layer in reversed(layers):
            dx = layer.backward(dx)

    def predictions(self, output: Any) -> Any:
        """What accuracy compares: the output activation's (or the loss's) predictions."""
        for owner in (self.layers[-1], self.loss):
            predict = getattr(owner, "predictions", None)
            if predict is not None:
                return predict(output)
        return output

    def batch_metrics(self, output: Any, y: Any, count: int) -> tuple[Any, Any, int]:
        """Data loss and accuracy of one batch (0-d arrays, left on the device), and its
        sample count."""
        assert self.loss is not None and self.accuracy is not None
        data_loss = self.loss.calculate(output, y)
        acc = self.accuracy.calculate(self.predictions(output), y)
        return data_loss, acc, count

    def shuffled(self, X: Any, y: Any) -> tuple[Any, Any]:
        """``X`` and ``y`` in an order drawn from the model's stream."""
        xp = self.backend.xp
        index = self.backend.asarray(self.rng.permutation(int(X.shape[0])), dtype=xp.int64)
        return xp.take(X, index, axis=0), xp.take(y, index, axis=0)

    # -- training -----------------------------------------------------------------------
    #: ``model.train(X, y, *, epochs=1, ...)``: the loop lives in :mod:`xpnet.training`
    train = train

    # -- using a trained model ---------------------------------------------------------
    def evaluate(self, X: Any, y: Any, *, batch_size: int | None = None) -> dict[str, float]:
        """Data loss and accuracy on ``(X, y)`` with dropout off: ``{"acc", "loss"}``."""
        self.check_ready(training=False)
        n = self.check_data(X, y, "X", "y")
        if batch_size is None:
            data_loss, acc, _ = self.batch_metrics(self.forward(X, training=False), y, n)
            return {"acc": float(acc), "loss": float(data_loss)}
        sums = []
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            output = self.forward(X[lo:hi, ...], training=False)
            data_loss, acc, count = self.batch_metrics(output, y[lo:hi, ...], hi - lo)
            sums.append((float(data_loss), float(acc), count))
        return {
            "acc": sum(a * c for _, a, c in sums) / n,
            "loss": sum(d * c for d, _, c in sums) / n,
        }

    def predict(self, X: Any, *, batch_size: int | None = None) -> Any:
        """The network's outputs for ``X`` (dropout off)."""
        self.check_inputs(X, "X")
        if batch_size is None:
            return self.forward(X, training=False)
        xp = self.backend.xp
        n = X.shape[0]
        parts = [self.forward(X[lo:lo + batch_size, ...], training=False)
                 for lo in range(0, n, batch_size)]
        return xp.concat(parts, axis=0)

    # -- input checks --------------------------------------------------------------------
    def check_inputs(self, X: Any, what: str) -> int:
        """Check inputs ``X`` (backend, shape, dtype, features, finiteness); their count."""
        self.backend.check(X, what)
        xp = self.backend.xp
        if X.ndim != 2 or X.shape[0] == 0:
            msg = (
                f"{what} must be a non-empty 2-D array (n_samples, n_features), got shape "
                f"{tuple(X.shape)}. A single feature is X[:, None]; a single sample X[None, :]."
            )
            raise ValueError(msg)
        if not xp.isdtype(X.dtype, "real floating"):
            msg = (f"{what} must hold floating-point values, got dtype {X.dtype}; convert with "
                   "xp.astype(X, xp.float32).")
            raise TypeError(msg)
        if self.precision != "nnfs" and X.dtype != getattr(xp, self.dtype):
            msg = (
                f"{what} has dtype {X.dtype} but the model computes in {self.dtype}. "
                f"Convert the data (xp.astype(X, xp.{self.dtype})) or create the model "
                f"with dtype={_dtype_name(xp, X.dtype)!r}."
            )
            raise TypeError(msg)
        first = self.layers[0] if self.layers else None
        if isinstance(first, Dense) and X.shape[1] != first.n_in:
            msg = (
                f"{what} has {X.shape[1]} features but the first layer, Dense({first.n_in}, "
                f"{first.n_out}), expects {first.n_in}."
            )
            raise ValueError(msg)
        if not bool(xp.all(xp.isfinite(X))):
            msg = f"{what} contains NaN or infinite values; clean or impute the data first."
            raise ValueError(msg)
        return int(X.shape[0])

    def check_data(self, X: Any, y: Any, xname: str, yname: str) -> int:
        """Check inputs and targets together (see :meth:`check_inputs`); their count."""
        n = self.check_inputs(X, xname)
        self.backend.check(y, yname)
        if y.ndim == 0 or y.shape[0] != n:
            msg = (f"{xname} has {n} samples but {yname} has shape {tuple(y.shape)}; they must "
                   "match.")
            raise ValueError(msg)
        xp = self.backend.xp
        if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.isfinite(y))):
            msg = f"{yname} contains NaN or infinite values."
            raise ValueError(msg)
        assert self.loss is not None
        self.loss.check_targets(y, _n_outputs(self.layers))
        return n

    # -- state ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """Every parameter array by name, ``"layers.{i}.{W|b}"``."""
        return {
            f"layers.{i}.{name}": p
            for i, layer in enumerate(self.layers)
            for name, p in getattr(layer, "params", {}).items()
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters, architecture and optimizer state to one ``.npz`` file
        (atomically; no pickle). See :mod:`xpnet.io`."""
        io.save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: Any = None,
             device: Any = None) -> Model:
        """Read a model written by :meth:`save`, onto ``backend`` (NumPy by default)."""
        saved = io.read_model_file(path)
        model = cls(backend=backend or "numpy", device=device, seed=0,
                    precision=saved.meta["precision"], dtype=saved.meta.get("dtype", "float32"))
        saved.restore(model)
        return model

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return (f"Model(backend={self.backend.name!r}, precision={self.precision!r}, "
                f"layers=[\n  {inner}\n])")


def _n_outputs(layers: Sequence[Any]) -> int:
    for layer in reversed(layers):
        if isinstance(layer, Dense):
            return layer.n_out
    return 0


def _dtype_name(xp: Any, dtype: Any) -> str:
    return "float64" if dtype == xp.float64 else "float32"
