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
>>> model.set(loss=xpnet.nn.CategoricalCrossentropy(),
...           optimizer=xpnet.nn.Adam(learning_rate=0.02))
>>> history = model.train(X, y, epochs=200, log_every=50)
>>> history["epoch"]
[50, 100, 150, 200]
>>> history["acc"][-1] > history["acc"][0]
True
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from . import engine, io, validate
from .backend import Backend, resolve
from .engine.fused import Kernels, kernels_for
from .errors import BackendError
from .nn.activations import Linear, ReLU, Sigmoid, Softmax
from .nn.layers import Dense, Dropout, Layer
from .nn.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, SoftmaxCrossentropy
from .nn.metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from .nn.optimizers import Optimizer
from .nn.registry import is_builtin
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
    fast : bool or "auto"
        Train with fused kernels (:mod:`xpnet.engine.fused`): one kernel per optimizer
        update instead of a dozen, and the book's ``Dense → ReLU → [Dropout] → Dense →
        Softmax`` networks' forward and backward passes as three kernels that never store
        the hidden layer (:mod:`xpnet.engine.step`; values equal the layered path's to
        rounding). CuPy has them; elsewhere the flag changes nothing. ``"auto"`` (default):
        on CuPy, except in faithful mode, whose rounding is the book's (``fast=True`` is
        refused there). (Tests pass a :class:`xpnet.engine.fused.Kernels` to run the
        reference implementation on NumPy.)
    dropout_masks : {"auto", "host", "counter"}
        Where Dropout layers' masks come from while training. ``"host"``: drawn from the
        model's random stream on the host and copied to the device. ``"counter"``: computed
        on the device by a counter-based generator (Philox4x32-10, :mod:`xpnet.philox`) keyed
        from the seed, one stream per Dropout layer, reproducible from the seed and with no
        host round trip; the host stream (data, weights, shuffles) is then the same as
        without dropout. ``"auto"`` (default): ``"counter"`` on CuPy, ``"host"`` elsewhere (on
        the CPU the host stream is faster and keeps earlier runs' figures). Faithful mode
        always draws the book's masks on the host (``"counter"`` is refused there).

    Attributes
    ----------
    ops : Ops
        The model's engine (plain or faithful), which its layers compute with outside
        training steps.
    dropout_masks : str
        ``"host"`` or ``"counter"``: where the masks come from (``"auto"`` resolved).

    Notes
    -----
    **Data in.** :meth:`train`, :meth:`evaluate` and :meth:`predict` take data as users have
    it, converted by one rule:

    * host data (NumPy arrays and nested Python lists) of any real dtype, and arrays already
      on the model's backend and device, are converted to the model's ``dtype`` on the
      model's device (``float64`` NumPy data trains a ``float32`` model in float32);
    * integer (and boolean) targets ``y`` become ``int64`` labels; floating targets follow
      the inputs' rule;
    * in faithful mode (``precision="nnfs"``) float32 and float64 data keep their dtype, as
      in the book (its sine data is float64);
    * arrays of another backend or device (a CUDA tensor for a CPU model, a JAX array for a
      NumPy model) raise :class:`~xpnet.errors.BackendError` saying how to move them:
      ``xpnet.backend.to_numpy(X)`` brings any array to the host.

    Complex, string or object data, NaN and infinity are refused with an error naming them.
    """

    def __init__(
        self,
        *,
        backend: str | Backend | Any = "numpy",
        device: Any = None,
        seed: SeedLike = 0,
        precision: str | None = None,
        dtype: str = "float32",
        fast: bool | str | Kernels = "auto",
        dropout_masks: str = "auto",
    ):
        self.backend = resolve(backend, device)
        self.rng = as_generator(seed)
        if precision is None:
            precision = "nnfs" if self.rng.nnfs else "default"
        validate.one_of("precision", precision, PRECISIONS)
        dtype = validate.real_float_dtype("Model dtype", dtype)
        if not isinstance(fast, Kernels):
            choice = validate.flag("fast", fast, auto=True)
            # "auto": the fused kernels wherever they exist, but not in faithful mode
            fast = self.backend.name == "cupy" and precision != "nnfs" if choice == "auto" \
                else bool(choice)
        if fast and precision == "nnfs":
            msg = ("fast=True cannot be combined with faithful mode: the fused kernels round "
                   "differently from the book's code. Drop fast=True (--fast on the command "
                   "line), or use an integer seed.")
            raise ValueError(msg)
        self.precision, self.dtype = precision, dtype
        #: whether the model trains with fused kernels (``"auto"`` resolved), or the
        #: kernels themselves (the tests' reference)
        self.fast: bool | Kernels = fast
        self.dropout_masks = engine.mask_source(dropout_masks, self.backend, precision)
        self.ops = engine.for_model(self.backend, precision, dtype, self.dropout_masks)
        self._kernels: Kernels | None = None  # built on the first training run that uses them
        self.layers: list[Layer] = []
        #: the indices of the layers that are not xpnet's own (the user's classes, subclasses
        #: included): each of their steps is checked, their errors name them
        self._user: set[int] = set()
        self._user_inputs: dict[int, tuple[int, ...]] = {}
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.accuracy: Accuracy | None = None
        #: keep the gradients of the last backward pass in :attr:`input_grads` (the book's
        #: ``dinputs``, for ``xpnet.book``); off by default: they would stay in memory
        #: between steps
        self.keep_input_grads = False
        #: with ``keep_input_grads``, the last backward pass's gradient of the data loss at
        #: each layer's input, then (``input_grads[len(layers)]``) at the loss's input; None
        #: where it was not computed: at the first layer's input, which nothing needs, and at
        #: the loss's where softmax + cross-entropy start from their joint gradient
        self.input_grads: list[Any] = []

    # -- building ------------------------------------------------------------------------
    def add(self, layer: Layer) -> Layer:
        """Append ``layer``, drawing its initial weights from the model's stream now
        (so construction order is draw order, as in the book). Returns the layer."""
        validate.layer_like("Model.add", layer, call="model.add({}(...))",
                            example="model.add(xpnet.nn.Dense(2, 64))")
        if type(layer).__module__ == "xpnet.book":
            twin = type(getattr(layer, "xpnet", None)).__name__
            msg = (f"{type(layer).__name__} is xpnet.book's name for xpnet.nn.{twin}: in "
                   "xpnet.Model add xpnet.nn's layers (e.g. xpnet.nn.Dense(2, 64)), or build "
                   "the network with xpnet.book's Model.")
            raise TypeError(msg)
        for i, present in enumerate(self.layers):
            if present is layer:
                msg = (f"{layer!r} is already layer {i} of this model; one layer object is one "
                       f"layer (its weights and its step's values are its own): add a new "
                       f"one, e.g. model.add({type(layer).__name__}(...)).")
                raise ValueError(msg)
        previous = _n_outputs(self.layers)
        if isinstance(layer, Dense) and previous and layer.n_in != previous:
            msg = (f"Dense({layer.n_in}, {layer.n_out}) cannot follow a layer with {previous} "
                   f"outputs: its n_in must be {previous}; add Dense({previous}, "
                   f"{layer.n_out}).")
            raise ValueError(msg)
        if getattr(layer, "built", False) and layer.backend != self.backend:
            msg = (
                f"{layer!r} was built on {layer.backend!r} but this model uses "
                f"{self.backend!r}; create a new layer for this model."
            )
            raise BackendError(msg)
        if getattr(layer, "built", False) and type(layer.ops) is not type(self.ops):
            msg = (f"{layer!r} was built on its own (with the {layer.ops.name} engine) but this "
                   f"model computes with the {self.ops.name} engine (its precision "
                   f"{self.precision!r}); create a new layer for this model.")
            raise ValueError(msg)
        held = {str(p.dtype).rpartition(".")[2] for p in getattr(layer, "params", {}).values()}
        if getattr(layer, "built", False) and held and held != {self.dtype}:
            msg = (f"{layer!r} was built in {', '.join(sorted(held))} (used on its own first) "
                   f"but this model computes in {self.dtype}; create a new layer for this "
                   "model.")
            raise ValueError(msg)
        if not getattr(layer, "built", False) and hasattr(layer, "build"):
            try:
                layer.build(self.ops, self.rng, self.dtype)
            except MemoryError as exc:
                size = f" for its {layer.n_in * layer.n_out:,} weights" \
                    if isinstance(layer, Dense) else ""
                msg = (f"{layer!r} needs more memory than this machine could give{size} "
                       f"({exc}); use fewer units.")
                raise ValueError(msg) from exc
        owner = getattr(layer, "_owner", None)
        other = owner() if owner is not None else None
        if other is not None and other is not self and any(each is layer for each in other.layers):
            msg = (f"{layer!r} is already a layer of another model: both would train the same "
                   f"weights. Give each model its own, e.g. model.add("
                   f"{type(layer).__name__}(...)) (copy.deepcopy(layer) copies its weights).")
            raise ValueError(msg)
        if not is_builtin(type(layer)):
            _check_layer_signature(len(self.layers), layer)
        layer.name = f"{type(layer).__name__}[{len(self.layers)}]"
        self.layers.append(layer)
        with contextlib.suppress(AttributeError, TypeError):  # a class with __slots__
            layer._owner = weakref.ref(self)
        self._user = _user_layers(self.layers)
        return layer

    def set(
        self, *, loss: Loss, optimizer: Optimizer | None = None, accuracy: Accuracy | None = None
    ) -> None:
        """Choose the loss, the optimizer and the accuracy (inferred from the loss if omitted)."""
        _instance_of("loss", loss, Loss, "xpnet.nn.CategoricalCrossentropy()")
        if optimizer is not None:
            _instance_of("optimizer", optimizer, Optimizer, "xpnet.nn.Adam()")
            owner = getattr(optimizer, "_owner", None)
            other = owner() if owner is not None else None
            if other is not None and other is not self and other.optimizer is optimizer:
                msg = (f"{optimizer!r} is already the optimizer of another model: the two "
                       "would share its step count (and so its decayed rate). Give each model "
                       f"its own, e.g. optimizer={type(optimizer).__name__}(...).")
                raise ValueError(msg)
            with contextlib.suppress(AttributeError, TypeError):
                optimizer._owner = weakref.ref(self)
        if accuracy is not None:
            _instance_of("accuracy", accuracy, Accuracy, "xpnet.nn.CategoricalAccuracy()")
        self.loss = loss
        self.optimizer = optimizer
        self._accuracy_inferred = accuracy is None
        self.accuracy = self._inferred_accuracy() if accuracy is None else accuracy

    def _inferred_accuracy(self) -> Accuracy:
        """The accuracy that fits what the model predicts: classes after Softmax (or with a
        cross-entropy loss), 0/1 after Sigmoid (or with binary cross-entropy), else values
        within a precision (regression)."""
        last = self.layers[-1] if self.layers else None
        kind: type[Accuracy]
        if isinstance(last, Softmax) or isinstance(
                self.loss, (CategoricalCrossentropy, SoftmaxCrossentropy)):
            kind = CategoricalAccuracy
        elif isinstance(last, Sigmoid) or isinstance(self.loss, BinaryCrossentropy):
            kind = BinaryAccuracy
        else:
            kind = RegressionAccuracy
        current = getattr(self, "accuracy", None)
        return current if type(current) is kind else kind()

    @property
    def trainable_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if getattr(layer, "params", None)]

    @property
    def engine(self) -> str:
        """The name of the engine a training step runs on here (see :mod:`xpnet.engine`):
        ``"step"`` where the whole-step engine runs forward and backward, else the first
        layer's."""
        kernels = self.fused_kernels()
        if engine.whole_step_applies(self.ops, self.layers, self.loss, kernels):
            return engine.step.WholeStep.name
        views = engine.training_views(self.ops, self.layers, self.loss, kernels)
        return views[0].name if views else self.ops.name

    def check_ready(self, training: bool) -> None:
        """Raise unless the model has layers, a loss and (to train) an optimizer."""
        self.check_layers()
        if self.loss is None or (training and self.optimizer is None):
            msg = "set the loss and optimizer first: model.set(loss=..., optimizer=...)."
            raise RuntimeError(msg)
        self.check_loss_fits()
        for i, layer in enumerate(self.layers):
            layer.need_input_grad = i > 0

    def check_loss_fits(self) -> None:
        """Raise where the loss cannot take what the last layer outputs (the loss's
        ``check_input``: cross-entropy on outputs that are not a Softmax's probabilities, a
        softmax applied twice)."""
        last = self.layers[-1]
        if isinstance(last, Dropout):
            msg = ("the model ends with Dropout, which would drop the outputs themselves: put "
                   "Dropout between hidden layers (Dense, ReLU, Dropout, Dense, ...) and end "
                   "with the output activation (Softmax(), Sigmoid() or Linear()).")
            raise ValueError(msg)
        width = next((layer.n_out for layer in reversed(self.layers)
                      if isinstance(layer, Dense)), None)
        if isinstance(last, Softmax) and width == 1:
            msg = ("the model ends with Softmax over 1 output, which is always 1.0: nothing "
                   "can be learned. For two classes use Dense(..., 1) + Sigmoid() with "
                   "BinaryCrossentropy(), or Dense(..., 2) + Softmax() with "
                   "CategoricalCrossentropy().")
            raise ValueError(msg)
        check = getattr(self.loss, "check_input", None)  # a duck-typed loss may have none
        if check is not None:
            check(last)
        if getattr(self, "_accuracy_inferred", False):  # layers may come after set()
            self.accuracy = self._inferred_accuracy()
        check = getattr(self.accuracy, "check_input", None)
        if check is not None:
            check(self.layers[-1])

    def check_layers(self) -> None:
        """Raise unless the model has layers (a model without any would return its input)."""
        if not self.layers:
            msg = ("the model has no layers; add some first, e.g. "
                   "model.add(xpnet.nn.Dense(2, 64)).")
            raise RuntimeError(msg)
        for i, layer in enumerate(self.layers):  # model.layers edited by hand
            fresh = hasattr(layer, "build") and not getattr(layer, "built", True)
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")) or fresh:
                what = (f"{layer!r} was never added with model.add (its weights were never "
                        "drawn)" if fresh else f"{validate.describe(layer)} is not a layer")
                msg = (f"layer {i} of the model: {what}. Build the list with model.add(...), "
                       "not by changing model.layers.")
                raise RuntimeError(msg)
        self._user = _user_layers(self.layers)

    def fused_kernels(self) -> Kernels | None:
        """The fused kernels this model trains with, or None (see ``fast``)."""
        if self.fast and self._kernels is None:
            self._kernels = kernels_for(self.backend, self.fast)
        return self._kernels if self.fast else None

    # -- computing -----------------------------------------------------------------------
    def forward(self, X: Any, training: bool = False) -> Any:
        """Run ``X`` through every layer (dropout active only when ``training``)."""
        training = validate.flag("training", training)
        out = X
        for i, layer in enumerate(self.layers):
            if i in self._user:
                out = self._user_step(i, layer, "forward", out, training)
                continue
            out = layer.forward(out, training)
            if out is None:
                raise self._returned_none(layer, "forward")
        return out

    def backward(self, output: Any, y: Any) -> None:
        """Backpropagate the data loss of ``output`` against ``y`` through every layer.

        When the loss and the last layer have a joint gradient (softmax + cross-entropy:
        ``(s - y) / n``), it starts from that, at the last layer's input.
        """
        assert self.loss is not None
        layers = self.layers
        kept = [None] * (len(layers) + 1) if self.keep_input_grads else None
        self.input_grads = kept or []  # (the last pass's are let go first)
        dx = self.loss.backward_through(layers[-1], output, y)
        if dx is None:
            dx = self.loss.backward(output, y)
            if not is_builtin(type(self.loss)):
                _check_loss_gradient(self.loss, dx, output)
        else:
            layers = layers[:-1]
        if kept is not None:  # at the loss's input, or (joint gradient) the last layer's
            kept[len(layers)] = dx
        for i in reversed(range(len(layers))):
            layer = layers[i]
            if i in self._user:
                dx = self._user_step(i, layer, "backward", dx)
            else:
                dx = layer.backward(dx)
                if dx is None and i:
                    raise self._returned_none(layer, "backward")
            if kept is not None:
                kept[i] = dx

    def _user_step(self, i: int, layer: Any, method: str, value: Any, *args: Any) -> Any:
        """``layer.forward`` or ``layer.backward`` of a layer of the user's, checked: an error
        it raises names it; its output must be an array of the model's backend with a row per
        sample, and its gradient must have its input's shape."""
        name = f"layer {i} ({type(layer).__name__})"
        try:
            result = getattr(layer, method)(value, *args)
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"(raised in {name}.{method} of the model)")
            raise
        if result is None:
            if method == "backward" and i == 0:  # nothing needs the first layer's dx
                return None
            raise self._returned_none(layer, method)
        if not self.backend.is_array(result):
            msg = (f"{name}.{method} returned {validate.describe(result)}, not an array of the "
                   f"model's backend, {self.backend!r}: compute with the functions of the "
                   "input's own library (xp = array_api_compat.array_namespace(x)); np.asarray "
                   "or float() would move the values off it.")
            raise BackendError(msg)
        shape = tuple(result.shape)
        xp = self.backend.xp
        if method == "forward" and not bool(xp.all(xp.isfinite(result))) and \
                bool(xp.all(xp.isfinite(value))):
            msg = (f"{name}.forward returned values that are not finite from finite inputs: "
                   "it computes a division by 0, the log of 0 or of a negative number, or an "
                   "overflowing exp (the learning rate is not the cause unless the inputs "
                   "grew huge). Fix that forward.")
            raise FloatingPointError(msg)
        if method == "forward":
            self._user_inputs[i] = before = tuple(value.shape)
            if shape[:1] != before[:1] or len(shape) != len(before):
                msg = (f"{name}.forward returned shape {shape} for an input of shape {before}: "
                       "a layer must keep one row per sample, each a row of features (it may "
                       "change how many).")
                raise ValueError(msg)
        elif shape != self._user_inputs.get(i, shape):
            msg = (f"{name}.backward returned a gradient of shape {shape} for an input of shape "
                   f"{self._user_inputs[i]}: dx must have the input's shape (the gradient of "
                   "the loss with respect to each input value).")
            raise ValueError(msg)
        return result

    def _returned_none(self, layer: Any, method: str) -> TypeError:
        """The error for a layer of the user's whose ``method`` forgot its return."""
        what = ("its output" if method == "forward" else
                "dx, the gradient with respect to its input")
        msg = (f"layer {self.layers.index(layer)} ({type(layer).__name__}) returned None from "
               f"{method}: an xpnet layer's {method} must return {what}; add the return at "
               f"its end (a layer written in the book's style, which sets self.output and "
               f"self.dinputs, belongs in xpnet.book's Model).")
        return TypeError(msg)

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
        """Data loss and accuracy on ``(X, y)`` with dropout off: ``{"acc", "loss"}``.

        ``X`` and ``y`` are converted as :class:`Model` describes (lists, NumPy arrays of
        any real dtype)."""
        self.check_ready(training=False)
        batch_size = _batch_size(batch_size)
        X, y = self.convert_data(X, y, "X", "y")
        n = int(X.shape[0])
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
        """The network's outputs for ``X`` (dropout off), an array of the model's backend.

        ``X`` is converted as :class:`Model` describes (a list, a NumPy array of any real
        dtype)."""
        self.check_layers()
        batch_size = _batch_size(batch_size)
        X = self.convert_inputs(X, "X")
        if batch_size is None:
            return self.forward(X, training=False)
        xp = self.backend.xp
        n = X.shape[0]
        # stops within the array: array-api-strict refuses a slice that runs past the end
        parts = [self.forward(X[lo:min(lo + batch_size, n), ...], training=False)
                 for lo in range(0, n, batch_size)]
        return xp.concat(parts, axis=0)

    def summary(self) -> str:
        """A text table of the layers (name, output shape, parameter count) and the totals.

        The library never prints: ``print(model.summary())``.

        >>> from xpnet.nn.layers import Dense
        >>> from xpnet.nn.activations import ReLU
        >>> model = Model()
        >>> for layer in (Dense(2, 8), ReLU(), Dense(8, 3)):
        ...     _ = model.add(layer)
        >>> print(model.summary())
        Layer      Output shape   Parameters
        Dense[0]   (n, 8)                 24
        ReLU[1]    (n, 8)                  0
        Dense[2]   (n, 3)                 27
        Total parameters: 51 (float32, 204 bytes)
        """
        rows = [("Layer", "Output shape", "Parameters")]
        width: int | None = None
        total = 0
        for layer in self.layers:
            if isinstance(layer, Dense):
                width = layer.n_out
            elif type(layer) not in SHAPE_KEEPING:
                width = None  # a layer of the user's: its output shape is unknown here
            count = sum(math.prod(p.shape) for p in getattr(layer, "params", {}).values())
            total += count
            shape = "?" if width is None else f"(n, {width})"
            rows.append((layer.name, shape, f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}   {b:<{widths[1]}}   {c:>{widths[2]}}" for a, b, c in rows]
        size = total * (8 if self.dtype == "float64" else 4)
        lines.append(f"Total parameters: {total:,} ({self.dtype}, {size:,} bytes)")
        return "\n".join(lines)

    # -- data in: the conversion rule (see the class docstring) ------------------------
    def convert_inputs(self, X: Any, what: str = "X") -> Any:
        """``X`` converted by the rule (see :class:`Model`) and checked: a non-empty 2-D
        array of finite values with the first layer's number of features."""
        X = self._convert(X, what, labels=False)
        xp = self.backend.xp
        validate.non_empty(what, X, "2-D array (n_samples, n_features)", ndim=2,
                           fix="A single feature is X[:, None]; a single sample X[None, :].")
        first = self.layers[0] if self.layers else None
        if isinstance(first, Dense) and X.shape[1] != first.n_in:
            msg = (
                f"{what} has {X.shape[1]} features but the first layer, Dense({first.n_in}, "
                f"{first.n_out}), expects {first.n_in}. Pass data with {first.n_in} columns "
                f"or start the model with Dense({X.shape[1]}, {first.n_out})."
            )
            raise ValueError(msg)
        if not bool(xp.all(xp.isfinite(X))):
            msg = (f"{what} contains NaN or infinite values; clean or impute the data first "
                   "(np.isfinite(X).all(axis=1) marks the good rows).")
            raise ValueError(msg)
        return X

    def convert_data(self, X: Any, y: Any, xname: str = "X",
                     yname: str = "y") -> tuple[Any, Any]:
        """Inputs and targets converted and checked together (see :meth:`convert_inputs`):
        as many targets as samples, finite, and what the loss expects of them."""
        X = self.convert_inputs(X, xname)
        y = self._convert(y, yname, labels=True)
        n = int(X.shape[0])
        if y.ndim == 0 or y.shape[0] != n:
            msg = (f"{xname} has {n} samples but {yname} has shape {tuple(y.shape)}; they must "
                   "match (one target per sample).")
            raise ValueError(msg)
        xp = self.backend.xp
        if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.isfinite(y))):
            msg = f"{yname} contains NaN or infinite values; clean or drop those samples first."
            raise ValueError(msg)
        assert self.loss is not None
        outputs = _n_outputs(self.layers)
        if not outputs and all(type(layer) in SHAPE_KEEPING for layer in self.layers):
            outputs = int(X.shape[1])  # no Dense layer: the outputs are as wide as the inputs
        self.loss.check_targets(y, outputs)
        return X, y

    def _convert(self, a: Any, what: str, *, labels: bool) -> Any:
        """``a`` on this model's backend and device, in the dtype the rule gives it."""
        b, xp = self.backend, self.backend.xp
        if isinstance(a, np.ndarray) or not array_api_compat.is_array_api_obj(a):
            host = _host_array(a, what)
            floating = host.dtype.kind == "f"
            name = host.dtype.name
        else:
            b.check(a, what)  # an array of another backend or device: BackendError
            if not xp.isdtype(a.dtype, ("real floating", "integral", "bool")):
                msg = (f"{what} must hold real numbers, got dtype {a.dtype}; take the real "
                       f"part or convert it: xpnet.backend.to_numpy({what.split()[-1]}).real.")
                raise TypeError(msg)
            host, floating = a, xp.isdtype(a.dtype, "real floating")
            name = _dtype_name(xp, a.dtype)
        if not floating:
            dtype = xp.int64 if labels else getattr(xp, self.dtype)
            if labels and isinstance(host, np.ndarray) and host.dtype == np.uint64 and \
                    host.size and host.max() > np.iinfo(np.int64).max:
                msg = (f"{what} has labels up to {host.max()}, beyond int64's range: cast to "
                       "int64 they would turn negative. Number the classes 0, 1, ... "
                       "(np.unique(y, return_inverse=True)[1] does).")
                raise ValueError(msg)
        elif self.precision == "nnfs" and name in validate.FLOAT_DTYPES:
            dtype = getattr(xp, name)  # the book's dtype flow: its data keeps its dtype
        else:
            dtype = getattr(xp, self.dtype)
        if isinstance(host, np.ndarray) and floating and dtype == getattr(xp, "float32", None):
            _check_float32_range(host, what)
        return b.asarray(host, dtype=dtype)

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
             device: Any = None, dropout_masks: str | None = None) -> Model:
        """Read a model written by :meth:`save`, onto ``backend`` (NumPy by default).

        Its dropout masks come from where the saved model's came from (and each Dropout
        layer's counter-based stream goes on from where it was), so that training resumes
        as if it had not stopped, on any backend; ``dropout_masks`` chooses otherwise (as
        ``Model(dropout_masks=...)``; files from before masks were saved: ``"auto"``)."""
        saved = io.read_model_file(path)
        if dropout_masks is None:
            dropout_masks = saved.meta.get("dropout_masks", "auto")
        model = cls(backend=backend or "numpy", device=device, seed=0,
                    precision=saved.meta["precision"], dtype=saved.meta.get("dtype", "float32"),
                    dropout_masks=dropout_masks)
        saved.restore(model)
        return model

    def __deepcopy__(self, memo: dict[int, Any]) -> Model:
        """A copy whose layers are the copy's own (a copied layer would still name this
        model as the one that holds it)."""
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        twin.__dict__.update(copy.deepcopy(self.__dict__, memo))
        for layer in twin.layers:
            with contextlib.suppress(AttributeError, TypeError):
                layer._owner = weakref.ref(twin)
        return twin

    if not TYPE_CHECKING:  # (a __getattr__ would hide misspelt attributes from mypy)
        def __getattr__(self, name: str) -> Any:
            # only for attributes not found: the names other libraries (and the book) use
            other = _OTHER_NAMES.get(name)
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(f"{msg}; {other}" if other else msg)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return (f"Model(backend={self.backend.name!r}, precision={self.precision!r}, "
                f"layers=[\n  {inner}\n])")


#: What xpnet's Model calls the methods other libraries' models have.
_OTHER_NAMES = {
    "fit": "xpnet trains with model.train(X, y, epochs=..., batch_size=...)",
    "compile": "xpnet sets the loss and optimizer with model.set(loss=..., optimizer=...)",
    "finalize": "xpnet.Model needs no finalize(): model.set(...), then model.train(...) (the "
                "book's Model, with finalize, is xpnet.book.Model)",
}


#: Layers whose output has their input's shape (what :meth:`Model.summary` and
#: :meth:`Model.add` may look through to the last Dense layer).
SHAPE_KEEPING = (Dropout, ReLU, Softmax, Sigmoid, Linear)


def _n_outputs(layers: Sequence[Any]) -> int:
    """The last Dense layer's number of outputs, where only xpnet's own shape-keeping layers
    come after it (0, unknown, when there is none, or after a layer of another kind: a
    user's subclass of ReLU may change the width)."""
    for layer in reversed(layers):
        if isinstance(layer, Dense):
            return layer.n_out
        if type(layer) not in SHAPE_KEEPING:
            return 0
    return 0


def _dtype_name(xp: Any, dtype: Any) -> str:
    for name in ("float64", "float32", "float16"):
        if dtype == getattr(xp, name, None):
            return name
    return str(dtype)


def _host_array(a: Any, what: str) -> np.ndarray:
    """Host data (a NumPy array, nested lists of numbers) as a NumPy array of real numbers."""
    var = what.split()[-1]
    try:
        host = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged lists
        msg = (f"{what} must be an array or nested lists of numbers of one shape, got "
               f"{validate.describe(a)} ({exc}). Build it with np.asarray({var}, "
               "dtype=np.float32) to see which row differs.")
        raise TypeError(msg) from exc
    if host.dtype.kind not in "biuf":
        got = f"{validate.describe(a)} of dtype {host.dtype}" if isinstance(a, np.ndarray) \
            else validate.describe(a)  # (None, a dict, a string: no dtype of theirs)
        msg = (f"{what} must hold real numbers, got {got}; convert it first, e.g. "
               f"np.asarray({var}, dtype=np.float32).")
        raise TypeError(msg)
    return host


def _check_loss_gradient(loss: Any, dx: Any, output: Any) -> None:
    """Refuse what a loss of the user's ``backward`` returned unless it is an array of the
    predictions' shape (the last layer would name the wrong culprit, or broadcast it)."""
    if getattr(dx, "shape", None) == output.shape:
        return
    got = "None (add 'return dx' at its end)" if dx is None else (
        f"a gradient of shape {tuple(dx.shape)}" if hasattr(dx, "shape") else
        validate.describe(dx))
    msg = (f"{type(loss).__name__}.backward returned {got} for predictions of shape "
           f"{tuple(output.shape)}: a loss's backward returns the gradient of the data loss "
           "with respect to each prediction, an array of y_pred's shape.")
    raise (ValueError if hasattr(dx, "shape") else TypeError)(msg)


def _check_float32_range(host: np.ndarray, what: str) -> None:
    """Refuse finite host values that float32 cannot hold (they would become infinite)."""
    if host.dtype.itemsize <= 4 or not host.size:
        return
    finite = np.isfinite(host)
    largest = float(np.max(np.abs(host), where=finite, initial=0.0))
    if largest > float(np.finfo(np.float32).max):
        msg = (f"{what} has values up to {largest:.3g}, beyond float32's range (about "
               f"3.4e38): they would become infinite. Scale the data first (e.g. divide by "
               f"its largest value), or train in float64: Model(dtype='float64').")
        raise ValueError(msg)


def _batch_size(batch_size: Any) -> int | None:
    return None if batch_size is None else validate.positive_int("batch_size", batch_size)


def _instance_of(name: str, value: Any, cls: type, example: str) -> None:
    """Refuse a class where an instance goes, and an object without what ``cls`` offers
    (duck-typed: the methods the model calls)."""
    if isinstance(value, type):
        msg = (f"{name} must be an instance, got the class {value.__name__}; call it: "
               f"{name}={value.__name__}().")
        raise TypeError(msg)
    needed = _NEEDED[cls]
    if not isinstance(value, cls) and not all(hasattr(value, m) for m in needed):
        msg = (f"{name} must be an xpnet {cls.__name__} (with {', '.join(needed)}), got "
               f"{validate.describe(value)}; e.g. {name}={example}.")
        raise TypeError(msg)


_NEEDED: dict[type, tuple[str, ...]] = {
    Loss: ("calculate", "backward", "check_targets"),
    Optimizer: ("pre_update_params", "update_layers", "post_update_params"),
    Accuracy: ("init", "calculate"),
}


def _user_layers(layers: Sequence[Any]) -> set[int]:
    """The indices of ``layers`` whose classes are not xpnet's own (a file's, a notebook's)."""
    return {i for i, layer in enumerate(layers)
            if not is_builtin(type(layer))}


def _check_layer_signature(i: int, layer: Any) -> None:
    """Refuse a layer whose ``forward`` cannot be called as the model calls it,
    ``forward(x, training)`` (one written in the book's style, ``forward(inputs)``)."""
    try:
        signature = inspect.signature(layer.forward)
    except (TypeError, ValueError):  # a builtin or C function: nothing to read
        return
    try:
        signature.bind(None, True)
    except TypeError:
        msg = (f"layer {i} ({type(layer).__name__}): its forward{signature} cannot be called as "
               "forward(x, training), as the model calls it. An xpnet layer's forward takes "
               "(x, training=True) and returns its output; a layer written in the book's "
               "style, forward(inputs) setting self.output, belongs in xpnet.book's Model.")
        raise TypeError(msg) from None
