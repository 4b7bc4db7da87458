"""The :class:`Model`: a stack of layers with a loss, an optimizer and an accuracy.

Examples
--------
>>> import xpnet
>>> from xpnet.layers import Dense
>>> from xpnet.activations import ReLU, Softmax
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

import contextlib
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import precision as _precision
from . import trace as _trace
from .activations import Softmax
from .backend import Backend, resolve
from .errors import BackendError, DivergenceError
from .fast import Kernels, ScalarTable, kernels_for
from .layers import Dense, Dropout, Layer
from .losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    SoftmaxCrossentropy,
    regularization_loss,
)
from .metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from .optimizers import Optimizer
from .random import SeedLike, as_generator
from .workspace import Workspace

__all__ = ["Callback", "History", "Model"]

#: ``callback(model, epoch, logs)``; return True to stop training after this epoch.
Callback = Callable[["Model", int, dict], Any]


@dataclass
class History:
    """Metrics of a training run: one record per logged epoch.

    ``history["loss"]`` is the list of one metric over the logged epochs; ``records`` holds
    dicts with ``epoch, acc, loss, data_loss, reg_loss, lr`` (and ``val_acc, val_loss``
    where validation ran); ``validation`` the final validation metrics, if any.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, float] | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list[Any]:
        if self.records and key not in self.records[0]:
            msg = f"History has no metric {key!r}; it has {sorted(self.records[0])}."
            raise KeyError(msg)
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "validation": self.validation,
                "stopped_early": self.stopped_early}


class Model:
    """A sequential network trained with the book's loop.

    Parameters
    ----------
    backend : str, namespace or Backend
        ``"numpy"`` (default), ``"cupy"``, ``"torch"``, ``"array_api_strict"``, or a namespace.
    device : optional
        Device for the parameters (the backend's default when omitted).
    seed : int, "nnfs" or Generator
        The stream for initial weights, dropout masks and shuffling. ``"nnfs"`` (or a
        ``Generator("nnfs")`` shared with the data) selects faithful mode.
    precision : str or Precision, optional
        Arithmetic policy; ``"nnfs"`` when the stream is the book's, else ``"default"``.
    dtype : str
        Parameter dtype, ``"float32"`` (default) or ``"float64"``.
    fast : bool
        Train with the backend's fused kernels (:mod:`xpnet.fast`): one kernel per optimizer
        update, softmax and softmax + cross-entropy gradient instead of several. CuPy has
        them; elsewhere the flag changes nothing. Not with faithful mode, whose rounding is
        the book's. (Tests pass a :class:`xpnet.fast.Kernels` to run the reference
        implementation on NumPy.)
    """

    def __init__(
        self,
        *,
        backend: str | Backend | Any = "numpy",
        device: Any = None,
        seed: SeedLike = 0,
        precision: str | _precision.Precision | None = None,
        dtype: str = "float32",
        fast: bool | Kernels = False,
    ):
        self.backend = resolve(backend, device)
        self.rng = as_generator(seed)
        if precision is None:
            precision = "nnfs" if self.rng.nnfs else "default"
        self.precision = _precision.get(precision).with_dtype(dtype)
        if not isinstance(fast, (bool, Kernels)):
            msg = f"fast must be True or False, got {fast!r}."
            raise TypeError(msg)
        if fast and self.precision.name == "nnfs":
            msg = ("fast=True cannot be combined with faithful mode: the fused kernels round "
                   "differently from the book's code. Drop fast=True, or use an integer seed.")
            raise ValueError(msg)
        self.fast = fast
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
            layer.build(self.backend, self.rng, self.precision)
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
    def _fused(self) -> bool:
        """Softmax output + cross-entropy: use the cheap fused gradient (ŷ - y) / n."""
        return bool(self.layers) and isinstance(self.layers[-1], Softmax) and isinstance(
            self.loss, CategoricalCrossentropy
        )

    def _ready(self, training: bool) -> None:
        if not self.layers:
            msg = "the model has no layers; add some with model.add(...)."
            raise RuntimeError(msg)
        if self.loss is None or (training and self.optimizer is None):
            msg = "set the loss and optimizer first: model.set(loss=..., optimizer=...)."
            raise RuntimeError(msg)
        for i, layer in enumerate(self.layers):
            layer.need_input_grad = i > 0

    def _fast_kernels(self) -> Kernels | None:
        """The fused kernels this model trains with, or None (see ``fast``)."""
        if self.fast and self._kernels is None:
            self._kernels = kernels_for(self.backend, self.fast)
        return self._kernels if self.fast else None

    @contextlib.contextmanager
    def _workspaces(self, kernels: Kernels | None = None) -> Iterator[None]:
        """Lend every layer a :class:`~xpnet.workspace.Workspace` while training, and tell it
        which arrays nobody else keeps: its input (when the layer before declares
        ``scratch_output``) and its ``dy`` (when the layer after, or the loss, declares
        ``scratch_dx``), which it may then overwrite. ``kernels`` (the fast paths, if any)
        go to the workspaces and the optimizer."""
        assert self.optimizer is not None
        layers = [layer for layer in self.layers if isinstance(layer, Layer)]
        if len(layers) != len(self.layers):  # a component of another kind: no sharing
            layers = []
        backward = layers[:-1] if self._fused else layers
        loss_scratch = self._fused or bool(getattr(self.loss, "scratch_dx", False))
        self.optimizer.kernels = kernels
        for i, layer in enumerate(layers):
            layer.workspace = Workspace(self.backend)
            layer.workspace.kernels = kernels
            layer.overwrite_input = i > 0 and layers[i - 1].scratch_output
            layer.overwrite_dy = (
                loss_scratch if i == len(backward) - 1
                else i < len(backward) and layers[i + 1].scratch_dx
            )
        try:
            yield
        finally:
            self.optimizer.kernels = None
            for layer in layers:
                layer.workspace = None
                layer.overwrite_input = layer.overwrite_dy = False

    # -- computing -----------------------------------------------------------------------
    def forward(self, X: Any, training: bool = False) -> Any:
        """Run ``X`` through every layer (dropout active only when ``training``)."""
        out = X
        for layer in self.layers:
            out = layer.forward(out, training)
        return out

    def backward(self, output: Any, y: Any) -> None:
        """Backpropagate the data loss of ``output`` against ``y`` through every layer."""
        assert self.loss is not None
        layers = self.layers
        if self._fused:
            ws = layers[-1]._workspace() if isinstance(layers[-1], Layer) else None
            if ws is not None and ws.kernels is not None and y.ndim == 1 and output.ndim == 2:
                dx = ws.buffer("dx_ce", tuple(output.shape), output.dtype)
                dout = ws.kernels.softmax_ce_backward(output, y, dx)
            else:
                dout = SoftmaxCrossentropy.backward_from_probabilities(output, y)
            layers = layers[:-1]
        else:
            dout = self.loss.backward(output, y)
        for layer in reversed(layers):
            dout = layer.backward(dout)

    def predictions(self, output: Any) -> Any:
        """What accuracy compares: the output activation's (or the loss's) predictions."""
        for owner in (self.layers[-1], self.loss):
            predict = getattr(owner, "predictions", None)
            if predict is not None:
                return predict(output)
        return output

    # -- the training loop --------------------------------------------------------------
    def train(
        self,
        X: Any,
        y: Any,
        *,
        epochs: int = 1,
        batch_size: int | None = None,
        shuffle: bool = False,
        validation_data: tuple[Any, Any] | None = None,
        log_every: int | Collection[int] | None = 1,
        validate_every: int | None = None,
        callbacks: Iterable[Callback] = (),
        start_epoch: int = 1,
        log_before_update: bool = False,
        graph: bool = False,
    ) -> History:
        """Train for ``epochs`` passes over ``(X, y)`` and return the :class:`History`.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
        y : array
            Labels ``(n_samples,)`` for cross-entropy, else targets of the output's shape.
        epochs : int
            Number of passes over the data.
        batch_size : int, optional
            Mini-batch size; ``None`` trains on the full batch (the book's chapters 14-18).
        shuffle : bool
            Reshuffle the samples (from the model's stream) before every epoch.
        validation_data : (X_val, y_val), optional
            Evaluated once after training (and every ``validate_every`` epochs if given).
        log_every : int, collection of int, or None
            Record metrics (and call ``callbacks``) every this many epochs, or at exactly
            these epochs (e.g. log-spaced ones); ``None`` only at the end. Metrics are
            computed only for logged epochs.
        callbacks : iterable of callables
            ``callback(model, epoch, logs)``; a callback returning True stops training.
        start_epoch : int
            Number of the first epoch (the book's chapters 14-17 count from 0).
        log_before_update : bool
            Log as the book's chapters 14-17 do, before the epoch's update, so the logged
            ``lr`` is the previous step's; otherwise (chapter 18) the step's own. The losses
            and accuracy are those of the epoch's forward pass either way.
        graph : bool
            Record the first epoch's training step as a CUDA graph and replay it for the
            others: one launch per epoch instead of one per operation. Needs a model built
            with ``fast=True`` on CuPy, full batches without shuffling, no Dropout (its
            masks are drawn on the host), and a built-in optimizer. Values are those of
            ``fast=True`` without a graph.

        Raises
        ------
        DivergenceError
            When a logged loss is NaN or infinite.
        """
        self._ready(training=True)
        assert self.optimizer is not None and self.accuracy is not None and self.loss is not None
        if not isinstance(epochs, int) or epochs < 0:
            msg = f"epochs must be a non-negative integer, got {epochs!r}."
            raise ValueError(msg)
        n = self._check_data(X, y, "X", "y")
        if validation_data is not None:
            self._check_data(*validation_data, "validation X", "validation y")
        if batch_size is not None and (batch_size < 1 or not isinstance(batch_size, int)):
            msg = f"batch_size must be a positive integer or None, got {batch_size!r}."
            raise ValueError(msg)
        kernels = self._fast_kernels()
        if graph:
            self._check_graph(kernels, batch_size, shuffle)
        self.accuracy.init(y)
        callbacks = list(callbacks)
        history = History()
        last = start_epoch + epochs - 1
        batches = [(0, n)] if batch_size is None else [
            (s, min(s + batch_size, n)) for s in range(0, n, batch_size)
        ]

        # the loss is checked below; NumPy's overflow warnings would only repeat it
        replaying = kernels.replaying() if graph and kernels is not None else \
            contextlib.nullcontext()
        with self.backend.quiet_float_errors(), self._workspaces(kernels), replaying:
            run_graph = _GraphRun(self, kernels, X, y, epochs) if graph and kernels else None
            last_finite = None
            every = log_every if isinstance(log_every, int) else 0
            at = frozenset(log_every) if log_every is not None and not isinstance(
                log_every, int) else frozenset()
            for epoch in range(start_epoch, last + 1):
                if _trace.ACTIVE is not None:
                    _trace.ACTIVE.step = epoch
                logged = epoch == last or (every > 0 and epoch % every == 0) or epoch in at
                Xe, ye = (X, y) if not shuffle else self._shuffled(X, y, n)
                sums: list[Any] = []
                lr_before = self.optimizer.current_learning_rate
                if run_graph is not None:
                    if logged:  # the penalty of the weights before this epoch's update
                        reg_loss = regularization_loss(self.trainable_layers)
                    output = run_graph.epoch()
                    if logged:
                        sums.append(self._batch_metrics(output, y, n))
                for lo, hi in batches if run_graph is None else ():
                    Xb, yb = (Xe, ye) if (lo, hi) == (0, n) else (Xe[lo:hi, ...], ye[lo:hi, ...])
                    output = self.forward(Xb, training=True)
                    if logged:
                        sums.append(self._batch_metrics(output, yb, hi - lo))
                        if len(batches) == 1:
                            # full batch: the penalty of the weights that produced this forward
                            # pass, as the book computes it (before the update)
                            reg_loss = regularization_loss(self.trainable_layers)
                    self.backward(output, yb)
                    self.optimizer.step(self.trainable_layers)
                if not logged:
                    continue
                if len(batches) > 1:
                    # mini-batches: the penalty after the epoch, as the book's calculate_accumulated
                    reg_loss = regularization_loss(self.trainable_layers)
                lr = lr_before if log_before_update else self.optimizer.current_learning_rate
                logs = self._logs(epoch, sums, reg_loss, lr, n)
                if validate_every and epoch % validate_every == 0 and validation_data is not None:
                    val = self.evaluate(*validation_data, batch_size=batch_size)
                    logs["val_acc"], logs["val_loss"] = val["acc"], val["loss"]
                if not math.isfinite(logs["loss"]):
                    since = "" if last_finite is None else f" (last finite at epoch {last_finite})"
                    msg = (
                        f"training diverged at epoch {epoch}: the loss is {logs['loss']}{since}. "
                        f"Lower the learning rate (it is {self.optimizer.learning_rate}), scale "
                        "the inputs, or add regularization."
                    )
                    raise DivergenceError(msg, epoch)
                last_finite = epoch
                history.records.append(logs)
                if any([bool(cb(self, epoch, logs)) for cb in callbacks]):
                    history.stopped_early = True
                    break
        if validation_data is not None:
            history.validation = self.evaluate(*validation_data, batch_size=batch_size)
        return history

    def _check_graph(self, kernels: Kernels | None, batch_size: int | None,
                     shuffle: bool) -> None:
        """Refuse ``graph=True`` where a recorded step could not replay the training."""
        assert self.optimizer is not None
        problem = None
        if kernels is None:
            problem = ("it needs the fused kernels: build the model with fast=True on "
                       f"backend 'cupy' (this one is {self.backend.name!r})")
        elif batch_size is not None or shuffle:
            problem = "it records one full-batch step: drop batch_size and shuffle"
        elif any(isinstance(layer, Dropout) for layer in self.layers):
            problem = ("Dropout draws its masks on the host each step, and a replay would "
                       "reuse the recorded mask: train without graph=True")
        elif self.optimizer.kernel_rule() is None:
            problem = (f"{type(self.optimizer).__name__} has no fused update kernel "
                       "(kernel_rule); use a built-in optimizer")
        elif _trace.ACTIVE is not None:
            problem = "explain mode records every step's arrays, which a replay never forms"
        if problem is not None:
            msg = f"graph=True cannot be used here: {problem}."
            raise ValueError(msg)

    def _batch_metrics(self, output: Any, y: Any, count: int) -> tuple[Any, Any, int]:
        """Data loss and accuracy of one batch (0-d arrays, left on the device)."""
        assert self.loss is not None and self.accuracy is not None
        data_loss = self.loss.calculate(output, y)
        acc = self.accuracy.calculate(self.predictions(output), y)
        return data_loss, acc, count

    @staticmethod
    def _logs(
        epoch: int, sums: Sequence[tuple[Any, Any, int]], reg_loss: Any, lr: float, n: int
    ) -> dict[str, Any]:
        """One epoch's metrics as Python floats (this is where device values are read)."""
        if len(sums) == 1:
            data_loss, acc = sums[0][0], sums[0][1]
        else:  # mini-batches: sample-weighted means over the epoch, as the book accumulates
            data_loss = sum(float(d) * c for d, _, c in sums) / n
            acc = sum(float(a) * c for _, a, c in sums) / n
        loss = data_loss + reg_loss
        return {
            "epoch": epoch, "acc": float(acc), "loss": float(loss),
            "data_loss": float(data_loss), "reg_loss": float(reg_loss), "lr": lr,
        }

    def _shuffled(self, X: Any, y: Any, n: int) -> tuple[Any, Any]:
        xp = self.backend.xp
        index = self.backend.asarray(self.rng.permutation(n), dtype=xp.int64)
        return xp.take(X, index, axis=0), xp.take(y, index, axis=0)

    # -- using a trained model ---------------------------------------------------------
    def evaluate(self, X: Any, y: Any, *, batch_size: int | None = None) -> dict[str, float]:
        """Data loss and accuracy on ``(X, y)`` with dropout off: ``{"acc", "loss"}``."""
        self._ready(training=False)
        n = self._check_data(X, y, "X", "y")
        if batch_size is None:
            data_loss, acc, _ = self._batch_metrics(self.forward(X, training=False), y, n)
            return {"acc": float(acc), "loss": float(data_loss)}
        sums = []
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            output = self.forward(X[lo:hi, ...], training=False)
            data_loss, acc, count = self._batch_metrics(output, y[lo:hi, ...], hi - lo)
            sums.append((float(data_loss), float(acc), count))
        return {
            "acc": sum(a * c for _, a, c in sums) / n,
            "loss": sum(d * c for d, _, c in sums) / n,
        }

    def predict(self, X: Any, *, batch_size: int | None = None) -> Any:
        """The network's outputs for ``X`` (dropout off)."""
        self._check_inputs(X, "X")
        if batch_size is None:
            return self.forward(X, training=False)
        xp = self.backend.xp
        n = X.shape[0]
        parts = [self.forward(X[lo:lo + batch_size, ...], training=False)
                 for lo in range(0, n, batch_size)]
        return xp.concat(parts, axis=0)

    # -- input checks --------------------------------------------------------------------
    def _check_inputs(self, X: Any, what: str) -> int:
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
        if not self.precision.float64_matmul and X.dtype != getattr(xp, self.precision.dtype):
            msg = (
                f"{what} has dtype {X.dtype} but the model computes in {self.precision.dtype}. "
                f"Convert the data (xp.astype(X, xp.{self.precision.dtype})) or create the model "
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

    def _check_data(self, X: Any, y: Any, xname: str, yname: str) -> int:
        n = self._check_inputs(X, xname)
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
        n_outputs = _n_outputs(self.layers)
        self.loss.check_targets(y, n_outputs)
        return n

    # -- state ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """Every parameter array by name, ``"layers.{i}.{W|b}"``."""
        return {
            f"layers.{i}.{name}": p
            for i, layer in enumerate(self.layers)
            for name, p in getattr(layer, "params", {}).items()
        }

    def save(self, path: Any) -> None:
        """Write parameters, architecture and optimizer state to one ``.npz`` file
        (atomically; no pickle). See :mod:`xpnet.io`."""
        from .io import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: Any, *, backend: Any = None, device: Any = None) -> Model:
        """Read a model written by :meth:`save`, onto ``backend`` (NumPy by default)."""
        from .io import load_model

        return load_model(path, backend=backend, device=device)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return (f"Model(backend={self.backend.name!r}, precision={self.precision.name!r}, "
                f"layers=[\n  {inner}\n])")


class _GraphRun:
    """The epochs of ``train(graph=True)``: the first runs eagerly (buffers, optimizer state
    and kernels come into being), the second records the step, every later one replays it.

    The optimizer's host state (decayed learning rate, step count) advances every epoch as
    usual; what the device needs of it comes from a table written once for the whole run.
    """

    def __init__(self, model: Model, kernels: Kernels, X: Any, y: Any, epochs: int):
        import copy

        optimizer = model.optimizer
        assert optimizer is not None
        shadow = copy.copy(optimizer)  # the coming steps' scalars, without touching optimizer
        rows = []
        for _ in range(epochs):
            shadow.pre_update_params()
            rows.append(shadow.kernel_scalars())
            shadow.post_update_params()
        self.model, self.kernels, self.X, self.y = model, kernels, X, y
        dtype = next(iter(model.trainable_layers[0].params.values())).dtype
        self.table = ScalarTable(model.backend, rows, dtype)
        self.launch: Callable[[], Any] | None = None
        self.eager_done = False

    def step(self) -> Any:
        """One training step on the device, the optimizer's scalars read from the table."""
        model = self.model
        assert model.optimizer is not None
        output = model.forward(self.X, training=True)
        model.backward(output, self.y)
        model.optimizer.update_layers(model.trainable_layers)
        self.table.advance()
        return output

    def epoch(self) -> Any:
        optimizer = self.model.optimizer
        assert optimizer is not None
        self.kernels.table = self.table
        try:
            optimizer.pre_update_params()
            if not self.eager_done:
                output = self.step()
                self.eager_done = True
            else:
                if self.launch is None:
                    self.launch = self.kernels.capture(self.step)
                output = self.launch()
            optimizer.post_update_params()
        finally:
            self.kernels.table = None
        return output


def _n_outputs(layers: Sequence[Layer]) -> int:
    for layer in reversed(layers):
        if isinstance(layer, Dense):
            return layer.n_out
    return 0


def _dtype_name(xp: Any, dtype: Any) -> str:
    return "float64" if dtype == xp.float64 else "float32"
