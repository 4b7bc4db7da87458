"""Callbacks of a training run: what ``train(..., callbacks=[...])`` takes, what a callback
returns, and the model it hands back.

A callback is ``callback(model, epoch, logs)``, called after each logged epoch; it returns
True to stop training after that epoch, None (or False) to go on. It holds the whole model,
and may change its learning rate, its weights' values, even its optimizer; what the next
epoch cannot train with (no optimizer, a loss given as a string, a weight of another
shape, a layer list changed) is named at once, with the callback and the epoch, instead of
an AttributeError deep in the next step. The checks run only after a callback ran, a few
comparisons per parameter: a run without callbacks never makes them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from . import validate
from .nn.losses import Loss
from .nn.metrics import Accuracy
from .nn.optimizers import Optimizer

__all__ = ["BatchCallback", "Callback", "Guard", "call", "checked"]

#: ``callback(model, epoch, logs)``; return True to stop training after this epoch.
Callback = Callable[[Any, int, dict], Any]
#: ``batch_callback(model, step, logs)``, after each batch's update (what it returns is not
#: read).
BatchCallback = Callable[[Any, int, dict], Any]


def name(callback: Callback) -> str:
    """How messages name ``callback``: its function's name, else its class's."""
    return getattr(callback, "__name__", type(callback).__name__)


def checked(callbacks: Any, what: str = "callbacks", count: str = "epoch") -> list[Callback]:
    """``callbacks`` as a list, each callable as ``callback(model, epoch, logs)`` (or
    ``batch_callbacks``, called with the ``step``: ``what="batch_callbacks", count="step"``)."""
    one = what.removesuffix("s")
    call = f"{one}(model, {count}, logs)"
    if callable(callbacks) or isinstance(callbacks, str) or not isinstance(callbacks, Iterable):
        msg = (f"{what} must be a list of functions {call}, got "
               f"{validate.describe(callbacks)}; e.g. {what}=[my_{one}].")
        raise TypeError(msg)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            msg = f"each {one} must be a function {call}, got {validate.describe(cb)}."
            raise TypeError(msg)
        try:
            signature = inspect.signature(cb)
        except (TypeError, ValueError):  # a builtin without one: called as it is
            continue
        try:
            signature.bind(None, 0, {})
        except TypeError:
            msg = (f"each {one} is called as {call}, but {name(cb)} takes {signature}; give "
                   f"it those three arguments, e.g. def on_{count}(model, {count}, logs): ...")
            raise TypeError(msg) from None
    return callbacks


def call(callback: Callback, model: Any, epoch: int, logs: dict[str, Any]) -> bool:
    """Call ``callback`` and say whether it asks to stop: True stops, None or False goes on;
    anything else is refused (a returned ``logs`` or ``"False"`` would stop silently). An
    error it raises gets a note naming it."""
    try:
        result = callback(model, epoch, logs)
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python 3.11+
            exc.add_note(f"(raised in callback {name(callback)} after epoch {epoch})")
        raise
    if result is None or validate.is_bool(result):
        return bool(result)
    msg = (f"callback {name(callback)} returned {validate.describe(result)}: a callback "
           "returns True to stop training after this epoch, or None (or False) to go on.")
    raise TypeError(msg)


#: The parts a callback may replace, each by an instance of its class
_PARTS = (("optimizer", Optimizer, "xpnet.nn.Adam(learning_rate=0.01)"),
          ("loss", Loss, "xpnet.nn.CategoricalCrossentropy()"),
          ("accuracy", Accuracy, "xpnet.nn.CategoricalAccuracy()"))


class Guard:
    """What the next epoch trains with, as the run started: the layer objects, each
    parameter's kind, shape and dtype, the loss, optimizer and accuracy (a callback may set
    others of their kind). :meth:`check` raises, naming the callback and the epoch, where a
    callback left the model so that the next epoch could not train it."""

    def __init__(self, model: Any) -> None:
        self.layers = list(model.layers)
        self.params = [{key: _form(p) for key, p in getattr(layer, "params", {}).items()}
                       for layer in self.layers]
        self.parts = {attr: getattr(model, attr) for attr, _, _ in _PARTS}

    def check(self, model: Any, callback: Callback, epoch: int) -> None:
        problem = self.problem(model)
        if problem is not None:
            kind, text = problem
            msg = (f"callback {name(callback)} left the model unable to train after epoch "
                   f"{epoch}: {text} Return True from the callback to stop training instead.")
            raise kind(msg)

    def problem(self, model: Any) -> tuple[type[Exception], str] | None:
        """What the next epoch could not train with, and the error's class; None when
        nothing."""
        layers = model.layers
        changed = _layers_changed(self.layers, layers)
        if changed:
            return ValueError, (f"{changed}; training keeps the layers it started with. "
                                "Build another model (model.add) between runs instead.")
        for i, (layer, forms) in enumerate(zip(layers, self.params, strict=True)):
            if not forms:
                continue
            params = getattr(layer, "params", None)
            if not isinstance(params, dict) or params.keys() != forms.keys():
                held = f"a dict of {sorted(params)}" if isinstance(params, dict) else \
                    validate.describe(params)
                return TypeError, (f"it set model.layers[{i}].params ({layer.name}) to "
                                   f"{held}, but training needs a dict of its arrays "
                                   f"{sorted(forms)}.")
            for key, form in forms.items():
                if _form(params[key]) != form:
                    kind, shape, dtype = form
                    return TypeError, (
                        f"it set model.layers[{i}].params[{key!r}] ({layer.name}) to "
                        f"{validate.describe(params[key])}{_dtype(params[key])}, but "
                        f"training needs an array ({kind.__name__}) of shape {shape} and "
                        f"dtype {dtype}, as when it started. Assign one of that shape and "
                        f"dtype (e.g. new.astype(p.dtype) for p = layer.params[{key!r}]).")
        replaced = False
        for attr, cls, example in _PARTS:
            value = getattr(model, attr)
            if value is self.parts[attr]:
                continue
            if not isinstance(value, cls):
                return TypeError, (f"it set model.{attr} to {validate.describe(value)}, but "
                                   f"training needs an xpnet {cls.__name__}: set one, e.g. "
                                   f"model.{attr} = {example}.")
            self.parts[attr], replaced = value, True
        try:
            validate.non_negative_int("model.optimizer.iterations",
                                      model.optimizer.iterations)
            if replaced:  # a loss or an accuracy that cannot take the last layer's output
                model.check_loss_fits()
        except (TypeError, ValueError) as exc:
            return type(exc), str(exc)
        return None


def _layers_changed(before: list[Any], now: Any) -> str:
    """How ``now`` differs from the layer list ``before`` (in words), or ""."""
    if not isinstance(now, list):
        return f"it set model.layers to {validate.describe(now)}"
    if len(now) != len(before):
        return f"it changed model.layers from {len(before)} layers to {len(now)}"
    for i, (old, new) in enumerate(zip(before, now, strict=True)):
        if old is not new:
            return (f"it replaced model.layers[{i}] ({old.name}) with "
                    f"{validate.describe(new)}")
    return ""


def _form(p: Any) -> tuple[type, tuple[int, ...] | None, Any]:
    """The kind, shape and dtype of a parameter (a list has no shape nor dtype)."""
    shape = getattr(p, "shape", None)
    return type(p), None if shape is None else tuple(shape), getattr(p, "dtype", None)


def _dtype(p: Any) -> str:
    dtype = getattr(p, "dtype", None)
    return "" if dtype is None else f" of dtype {dtype}"
