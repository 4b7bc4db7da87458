"""The book's own names on xpnet: ``from xpnet.book import *`` runs a chapter script.

*Neural Networks from Scratch* (Kinsley & Kukieła) builds its network from classes named
``Layer_Dense``, ``Activation_ReLU``, ``Optimizer_Adam``, ``Model`` ... whose ``forward`` and
``backward`` methods set attributes (``.output``, ``.dinputs``, ``.dweights``) instead of
returning values. This module gives those names, signatures and attributes to thin adapters
over xpnet's own classes, so a chapter script runs on xpnet with its imports changed::

    # import nnfs                                 from xpnet.book import *
    # from nnfs.datasets import spiral_data
    # nnfs.init()                                 init()

Each adapter holds the xpnet object doing the work as ``.xpnet`` (``Layer_Dense(2, 64).xpnet``
is an :class:`xpnet.nn.layers.Dense`), so the maths is xpnet's one copy, the arrays are
those of xpnet's backend, ``xpnet gradcheck`` checks a book-style layer, and explain mode
sees the xpnet classes underneath.

:func:`init` is what ``nnfs.init()`` does for the book, without touching NumPy: every object
created after it draws from the book's random stream (``xpnet.random.Generator("nnfs")``,
shared by the data functions and the layers, in the book's order) and computes with the
faithful engine (:mod:`xpnet.engine.faithful`), so the scripts print the book's numbers.
``init(backend="torch")`` (or :func:`set_backend`) puts everything created afterwards on
another backend; the choice is module-wide, like ``nnfs.init()``'s. As ``nnfs.init()``,
:func:`init` also makes ``np.dot`` compute in float64 and return float32, and ``np.zeros``,
``np.eye`` and ``np.random.randn`` return float32, for the classes a script types itself
(``init(patch_numpy=False)`` leaves NumPy alone). Before :func:`init`, objects use NumPy,
the plain engine and a stream seeded with 0.

Printing: :meth:`Model.train` and :meth:`Model.evaluate` print the book's progress lines,
exactly in the book's format. That is this compatibility layer's contract, and the only
place where xpnet prints: the rest of the library reports through return values and
callbacks (``xpnet.Model.train`` returns a History).

Examples
--------
>>> from xpnet.book import *
>>> init()
>>> X, y = spiral_data(samples=100, classes=3)
>>> dense1 = Layer_Dense(2, 3)
>>> dense1.forward(X)
>>> dense1.output.shape, dense1.weights.dtype
((300, 3), dtype('float32'))
>>> restore_numpy()  # NumPy's own np.dot, np.zeros, np.eye, np.random.randn again
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import weakref
import zipfile
from dataclasses import dataclass
from typing import Any, ClassVar
from zlib import error as zlib_error

import numpy as np

from . import datasets, training, validate
from . import io as xpnet_io
from . import model as xpnet_model
from .backend import Backend, backend_of, resolve, to_numpy
from .engine import for_model
from .errors import ModelFileError
from .io import atomic_write_bytes
from .nn import activations, layers, losses, metrics, optimizers
from .nn.ops import Ops
from .random import NUMPY_GLOBAL, DropoutStream, Generator

__all__ = [
    "Accuracy",
    "Accuracy_Categorical",
    "Accuracy_Regression",
    "Activation_Linear",
    "Activation_ReLU",
    "Activation_Sigmoid",
    "Activation_Softmax",
    "Activation_Softmax_Loss_CategoricalCrossentropy",
    "Layer_Dense",
    "Layer_Dropout",
    "Layer_Input",
    "Loss",
    "Loss_BinaryCrossentropy",
    "Loss_CategoricalCrossentropy",
    "Loss_MeanAbsoluteError",
    "Loss_MeanSquaredError",
    "Model",
    "Optimizer_Adagrad",
    "Optimizer_Adam",
    "Optimizer_RMSprop",
    "Optimizer_SGD",
    "init",
    "restore_numpy",
    "set_backend",
    "sine_data",
    "spiral_data",
    "vertical_data",
]


# -- the module-wide choice: backend, stream, engine -------------------------------------------

@dataclass
class _Session:
    """What objects created now are built with (changed by :func:`init`, :func:`set_backend`)."""

    backend: Backend
    rng: Generator
    precision: str  # "nnfs" after init(): the faithful engine

    def ops(self) -> Ops:
        return for_model(self.backend, self.precision, "float32")


_session = _Session(resolve("numpy"), Generator(0), "default")


def init(backend: Any = None, device: Any = None, *, patch_numpy: bool = True) -> None:
    """Do for xpnet what ``nnfs.init()`` does for the book.

    Everything created afterwards (data, layers, models) draws from the book's stream:
    NumPy's global legacy generator, seeded with 0 as ``nnfs.init()`` seeds it
    (:meth:`Generator.numpy_global`), so the script's own ``np.random`` draws come in the
    book's order too; and computes with the faithful engine (float64 products cast back to
    float32, float64 dropout masks), so a chapter script prints the book's numbers.

    With ``patch_numpy`` (the default) it also changes four NumPy functions as
    ``nnfs.init()`` does, for the classes a script types itself: ``np.dot`` multiplies in
    float64 and returns float32; ``np.zeros`` and ``np.eye`` without a dtype, and
    ``np.random.randn``, return float32. ``init(patch_numpy=False)`` (or
    :func:`restore_numpy`) puts NumPy's own functions back.

    Parameters
    ----------
    backend : str or namespace, optional
        Where the arrays live (``"numpy"``, ``"torch"``, ``"array_api_strict"``, ...);
        the current one (NumPy unless :func:`set_backend` chose another) when omitted.
    device : optional
        The backend's device (its default when omitted).
    patch_numpy : bool
        Change NumPy's functions as ``nnfs.init()`` does (the default), or leave them be.
    """
    global _session
    if not isinstance(patch_numpy, bool):
        msg = f"init: patch_numpy must be True or False, got {validate.describe(patch_numpy)}."
        raise TypeError(msg)
    chosen = _session.backend if backend is None else resolve(backend, device)
    _session = _Session(chosen, Generator.numpy_global(), "nnfs")
    if patch_numpy:
        _patch_numpy()
    else:
        restore_numpy()


#: NumPy's own functions, kept while :func:`init` has replaced them
_NUMPY_OWN: dict[tuple[Any, str], Any] = {}


def _patch_numpy() -> None:
    """Replace ``np.dot``, ``np.zeros``, ``np.eye`` and ``np.random.randn`` as
    ``nnfs.init()`` does (once: a second :func:`init` keeps the first replacement)."""
    if _NUMPY_OWN:
        return
    dot, zeros, eye, randn = np.dot, np.zeros, np.eye, np.random.randn

    def nnfs_dot(*args: Any, **kwargs: Any) -> Any:
        """``np.dot`` as ``nnfs.init()`` makes it: float64 products returned as float32
        (see ``xpnet.book.init``)."""
        return dot(*[np.asarray(a).astype("float64") for a in args], **kwargs).astype(
            "float32")

    def float32_by_default(own: Any) -> Any:
        def made(*args: Any, **kwargs: Any) -> Any:
            if len(args) <= 1 and "dtype" not in kwargs:
                kwargs["dtype"] = "float32"
            return own(*args, **kwargs)
        made.__doc__ = (f"``np.{own.__name__}``, float32 unless a dtype is given, as "
                        "``nnfs.init()`` makes it (see ``xpnet.book.init``).")
        return made

    def nnfs_randn(*args: Any) -> Any:
        """``np.random.randn`` returning float32, as ``nnfs.init()`` makes it (see
        ``xpnet.book.init``)."""
        return randn(*args).astype("float32")

    for owner, name, new in ((np, "dot", nnfs_dot), (np, "zeros", float32_by_default(zeros)),
                             (np, "eye", float32_by_default(eye)),
                             (np.random, "randn", nnfs_randn)):
        _NUMPY_OWN[owner, name] = getattr(owner, name)
        setattr(owner, name, new)


def restore_numpy() -> None:
    """Put back the NumPy functions :func:`init` replaced (nothing if it replaced none)."""
    for (owner, name), own in _NUMPY_OWN.items():
        setattr(owner, name, own)
    _NUMPY_OWN.clear()


def set_backend(backend: Any, device: Any = None) -> None:
    """Create everything from now on on ``backend`` (keeping the stream and the engine).

    Objects created before keep their backend: arrays of two backends cannot be mixed.
    """
    global _session
    _session = _Session(resolve(backend, device), _session.rng, _session.precision)


# -- the nnfs package's data functions -------------------------------------------------------

def spiral_data(samples: int, classes: int) -> tuple[Any, Any]:
    """``nnfs.datasets.spiral_data``: ``samples`` points per class of interleaved spirals,
    drawn from the module's stream (see :func:`xpnet.datasets.spiral`); labels are uint8 on
    NumPy, as the nnfs package's are."""
    return _as_nnfs_labels(*datasets.spiral(samples, classes, seed=_session.rng,
                                            backend=_session.backend))


def vertical_data(samples: int, classes: int) -> tuple[Any, Any]:
    """``nnfs.datasets.vertical_data`` (see :func:`xpnet.datasets.vertical`)."""
    return _as_nnfs_labels(*datasets.vertical(samples, classes, seed=_session.rng,
                                              backend=_session.backend))


def _named(obj: Any, name: str) -> bool:
    """Whether ``obj``'s class or one it derives from is called ``name``: the book's
    ``isinstance`` checks, for the classes a student's script defines itself."""
    return any(cls.__name__ == name for cls in type(obj).__mro__)


def _as_nnfs_labels(X: Any, y: Any) -> tuple[Any, Any]:
    """The nnfs package's label type on NumPy, uint8, so that a student's own loss that
    multiplies by the labels computes in the book's float32; int64 on the other backends
    (PyTorch reads a uint8 index as a mask)."""
    if isinstance(y, np.ndarray):
        y = y.astype(np.uint8)
    return X, y


def sine_data(samples: int = 1000) -> tuple[Any, Any]:
    """``nnfs.datasets.sine_data``: float64 after :func:`init`, as the nnfs package's arrays
    are; float32 before, the dtype the plain engine trains in (see
    :func:`xpnet.datasets.sine`)."""
    dtype = "float64" if _session.precision == "nnfs" else "float32"
    return datasets.sine(samples, backend=_session.backend, dtype=dtype)


# -- attributes under the book's names ---------------------------------------------------------

class _Through:
    """An attribute of the xpnet object underneath (``obj.xpnet``) under the book's name."""

    def __init__(self, name: str, *, writable: bool = True):
        self.name, self.writable = name, writable

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj.xpnet, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        if not self.writable:
            msg = f"{type(obj).__name__}.{self.name} is read-only; create a new object instead."
            raise AttributeError(msg)
        setattr(obj.xpnet, self.name, value)


class _Entry:
    """The book's name for an entry of one of the xpnet layer's dicts: ``weights`` is
    ``params["W"]``, ``dweights`` is ``grads["W"]``, ``weight_momentums`` is Adam's
    ``optimizer_state["W"]["m"]`` (and SGD's ``"u"``). Missing until set, as in the book
    (``hasattr(layer, "dweights")`` is False before a backward pass)."""

    def __init__(self, table: str, key: str, *slots: str):
        self.table, self.key, self.slots = table, key, slots

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        entry = getattr(obj.xpnet, self.table, {}).get(self.key)
        if self.slots:  # optimizer state: the first of the slots this optimizer keeps
            kept = [entry[slot] for slot in self.slots if entry is not None and slot in entry]
            entry = kept[0] if kept else None
        if entry is None:
            msg = f"{type(obj).__name__} has no {self.attr} yet."
            raise AttributeError(msg)
        return entry

    def __set__(self, obj: Any, value: Any) -> None:
        if not self.slots:
            getattr(obj.xpnet, self.table)[self.key] = value
            return
        # optimizer state, as a book-style optimizer a student types sets it: into the
        # slot this name reads (the first one held, else the first one)
        table = getattr(obj.xpnet, self.table, None)
        if table is None:
            table = {}
            setattr(obj.xpnet, self.table, table)
        entry = table.setdefault(self.key, {})
        held = [slot for slot in self.slots if slot in entry]
        entry[held[0] if held else self.slots[0]] = value


def _copy_sharing_the_stream(obj: Any, memo: dict[int, Any]) -> Any:
    """A deep copy of a book object that keeps drawing from NumPy's global stream, as a
    copy of the book's own objects does (xpnet's streams copy apart otherwise)."""
    memo.setdefault(id(NUMPY_GLOBAL), NUMPY_GLOBAL)
    twin = object.__new__(type(obj))
    memo[id(obj)] = twin
    twin.__dict__.update(copy.deepcopy(obj.__dict__, memo))
    return twin


class _Adapter:
    """A book-style face of an xpnet object, kept as ``.xpnet``."""

    xpnet: Any

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return _copy_sharing_the_stream(self, memo)

    @classmethod
    def around(cls, obj: Any) -> Any:
        """The adapter of an existing xpnet object (a loaded model's part, already built)."""
        adapter = cls.__new__(cls)
        adapter.xpnet = obj
        return adapter


class _Accumulating(_Adapter):
    """The book's running totals over the batches of a pass (``calculate_accumulated``)."""

    accumulated_sum: Any = 0.0
    accumulated_count = 0

    def _accumulate(self, total: Any, count: int) -> None:
        self.accumulated_sum = self.accumulated_sum + total
        self.accumulated_count += count

    def new_pass(self) -> None:
        self.accumulated_sum, self.accumulated_count = 0.0, 0

    def _mean_of_pass(self) -> Any:
        """The accumulated mean (``calculate_accumulated``), once a batch was measured."""
        if not self.accumulated_count:
            msg = (f"{type(self).__name__}.calculate_accumulated: no batch was measured since "
                   "new_pass() (nothing to average): call calculate(...) on each batch first, "
                   "as the book's Model.train does.")
            raise RuntimeError(msg)
        return _printable(self.accumulated_sum / self.accumulated_count)


# -- layers and activations ------------------------------------------------------------------

class _Layer(_Adapter):
    """A book-style face of an xpnet layer: ``forward``/``backward`` set ``.output`` and
    ``.dinputs`` (and return None, as the book's do)."""

    xpnet: layers.Layer

    def __init__(self, layer: layers.Layer):
        # built now, from the module's stream: construction order is draw order, as in the book
        layer.build(_session.ops(), _session.rng, "float32")
        self.xpnet = layer

    @property
    def ops(self) -> Ops:
        """The engine the layer computes with (``xpnet gradcheck`` swaps in a plain one)."""
        return self.xpnet.ops

    @ops.setter
    def ops(self, ops: Ops) -> None:
        self.xpnet.ops = ops

    def forward(self, inputs: Any, training: bool = True) -> None:
        self.inputs = self._numbers(inputs)  # host data is moved once
        self.output = self.xpnet.forward(self.inputs, validate.flag("training", training))
        self._fed = self.inputs  # what the xpnet layer's saved state was computed from

    def _numbers(self, inputs: Any) -> Any:
        """``inputs`` as an array of the layer's backend (host data and lists are moved),
        refusing what holds no numbers (a string, a list of them)."""
        array = self.xpnet.ops.backend.asarray(inputs)
        if isinstance(array, np.ndarray) and array.dtype.kind not in "biuf":
            msg = (f"{type(self).__name__}.forward expects numbers (an array, or a list of "
                   f"lists of numbers), got {validate.describe(inputs)}: convert the data "
                   "first, e.g. np.array(data, dtype=np.float32).")
            raise TypeError(msg)
        xp = self.xpnet.ops.xp
        if xp.isdtype(array.dtype, ("integral", "bool")):  # np.dot takes them: so do these
            array = xp.astype(array, xp.float32)
        return array

    def backward(self, dvalues: Any) -> None:
        self._sync()
        dvalues = self.xpnet.ops.backend.asarray(dvalues)
        output = self.__dict__.get("output")
        if output is not None and tuple(dvalues.shape) != tuple(output.shape):
            msg = (f"{type(self).__name__}.backward got dvalues of shape "
                   f"{tuple(dvalues.shape)}, but its output has shape {tuple(output.shape)}: "
                   "dvalues holds the gradient of the loss with respect to each output value "
                   "(the next layer's dinputs, or the loss's), one per output value.")
            raise ValueError(msg)
        self.dinputs = self.xpnet.backward(dvalues)

    def _sync(self) -> None:
        """Make the xpnet layer's saved forward state the one the book's backward reads.

        A subclass's own ``forward`` (one that does not call ``super().forward``) sets
        ``self.inputs`` as the book's do, but leaves the xpnet layer holding an older pass
        (or none): the inherited ``backward`` then runs the xpnet layer's forward on those
        inputs first, as the book's backward reads ``self.inputs``."""
        inputs = self.__dict__.get("inputs")
        if inputs is None:
            if "_fed" not in self.__dict__:
                msg = (f"{type(self).__name__}.backward (inherited from xpnet.book) reads "
                       "self.inputs, which your forward did not set: set self.inputs = "
                       "inputs in forward, as the book's layers do, or call "
                       "super().forward(inputs).")
                raise AttributeError(msg)
            return
        if inputs is not self.__dict__.get("_fed"):
            self.inputs = inputs = self.xpnet.ops.backend.asarray(inputs)
            self.xpnet.forward(inputs, True)
            self._fed = inputs

    def __getattr__(self, name: str) -> Any:
        # (only called for a missing attribute) a pass's arrays, before the pass that sets
        # them: say which does, since Model.train's loop does not keep them
        if name not in ("inputs", "output", "dinputs"):
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(msg, name=name, obj=self)
        setter = ("model.backward(output, y) or layer.backward(dvalues)" if name == "dinputs"
                  else "model.forward(X, training=False), model.predict, model.evaluate or "
                       "layer.forward(inputs)")
        msg = (f"this {type(self).__name__} has no {name} yet: {setter} sets it. A Model's "
               "train runs xpnet's loop, which keeps the parameters, their gradients "
               "(weights, dweights, ...) and each layer's dinputs but the first layer's "
               "(which nothing needs, so it is not computed), not each layer's inputs and "
               "output; a validation pass (train(..., validation_data=...)) or evaluate "
               "afterwards leaves each layer's inputs and output, as the book's do.")
        raise AttributeError(msg)

    def __repr__(self) -> str:
        return f"{type(self).__name__} over {self.xpnet!r}"


class Layer_Dense(_Layer):
    """The book's dense layer, over :class:`xpnet.nn.layers.Dense`.

    ``weights`` (``(n_inputs, n_neurons)``, ``init_scale * randn``, drawn when the layer is
    created) and ``biases`` are the xpnet layer's ``params["W"]`` and ``params["b"]``;
    ``dweights``/``dbiases`` its ``grads``; ``weight_momentums``, ``weight_cache``,
    ``bias_momentums``, ``bias_cache`` its ``optimizer_state`` after an optimizer step.
    ``init_scale`` (keyword) is the ``0.01`` of the listing (chapter 17 ends with 0.1).
    """

    weights = _Entry("params", "W")
    biases = _Entry("params", "b")
    dweights = _Entry("grads", "W")
    dbiases = _Entry("grads", "b")
    weight_momentums = _Entry("optimizer_state", "W", "m", "u")
    weight_cache = _Entry("optimizer_state", "W", "v", "cache")
    bias_momentums = _Entry("optimizer_state", "b", "m", "u")
    bias_cache = _Entry("optimizer_state", "b", "v", "cache")
    weight_regularizer_l1 = _Through("weight_l1")
    weight_regularizer_l2 = _Through("weight_l2")
    bias_regularizer_l1 = _Through("bias_l1")
    bias_regularizer_l2 = _Through("bias_l2")

    def __init__(self, n_inputs: int, n_neurons: int,
                 weight_regularizer_l1: float = 0, weight_regularizer_l2: float = 0,
                 bias_regularizer_l1: float = 0, bias_regularizer_l2: float = 0,
                 *, init_scale: float = layers.DEFAULT_INIT_SCALE):
        super().__init__(layers.Dense(
            n_inputs, n_neurons, weight_l1=weight_regularizer_l1,
            weight_l2=weight_regularizer_l2, bias_l1=bias_regularizer_l1,
            bias_l2=bias_regularizer_l2, init_scale=init_scale))

    def forward(self, inputs: Any, training: bool = True) -> None:
        if getattr(inputs, "ndim", None) == 1 or (
                isinstance(inputs, (list, tuple)) and np.ndim(inputs) == 1):
            # one sample as a vector: the book's np.dot(x, W) + b makes it a row
            inputs = self._numbers(inputs)[None, :]
        super().forward(inputs, training)

    def get_parameters(self) -> tuple[Any, Any]:
        """``(weights, biases)``."""
        return self.weights, self.biases

    def set_parameters(self, weights: Any, biases: Any) -> None:
        """Replace the weights and biases (host arrays are moved to the layer's backend);
        their shapes must be the layer's."""
        b, params = self.xpnet.ops.backend, self.xpnet.params
        for name, value, key in (("weights", weights, "W"), ("biases", biases, "b")):
            shape = tuple(getattr(value, "shape", np.shape(value)))
            if shape != tuple(params[key].shape):
                msg = (f"set_parameters: this Layer_Dense's {name} have shape "
                       f"{tuple(params[key].shape)}, got {shape}. Pass the arrays of a layer "
                       "of the same size (get_parameters() of the same architecture).")
                raise ValueError(msg)
        weights = b.asarray(weights, dtype=params["W"].dtype)
        biases = b.asarray(biases, dtype=params["b"].dtype)
        for name, value in (("weights", weights), ("biases", biases)):
            if not bool(b.xp.all(b.xp.isfinite(value))):  # (each later number would be NaN)
                msg = (f"set_parameters: the {name} hold NaN or infinite values, which would "
                       "make every output and loss NaN. Pass the parameters of a model that "
                       "trained without diverging (get_parameters() of a finite one).")
                raise ValueError(msg)
        self.weights, self.biases = weights, biases


class Layer_Dropout(_Layer):
    """The book's dropout layer, over :class:`xpnet.nn.layers.Dropout`.

    ``rate`` is the fraction of units to drop, and, as in the book, the attribute ``.rate``
    holds the fraction kept (``1 - rate``). ``binary_mask`` is the last training pass's
    scaled mask (a pass with dropout off leaves it, as the book's does). ``forward(inputs)``
    drops (the chapter 15 listing); ``forward(inputs, False)`` passes the inputs through
    (chapter 18).
    """

    xpnet: layers.Dropout
    rate = _Through("keep", writable=False)

    def __init__(self, rate: float):
        super().__init__(layers.Dropout(rate))

    @property
    def binary_mask(self) -> Any:
        """The scaled mask of the last training pass, ``binomial(1, keep) / keep``."""
        mask = self.xpnet.mask  # None after a pass with dropout off, which frees it
        if mask is None:
            mask = self.__dict__.get("_kept_mask")
        if mask is None:  # (none drawn yet: __getattr__ says so)
            raise AttributeError
        return mask

    def forward(self, inputs: Any, training: bool = True) -> None:
        # the book's forward with training off returns before the mask: keep the last one
        drawn = self.xpnet.mask
        super().forward(inputs, training)
        if drawn is not None and self.xpnet.mask is None:
            self._kept_mask = drawn

    def __getattr__(self, name: str) -> Any:
        if name == "binary_mask":
            msg = ("this Layer_Dropout has no binary_mask yet: a forward pass with training "
                   "on (layer.forward(inputs) or model.train) draws it.")
            raise AttributeError(msg, name=name, obj=self)
        return super().__getattr__(name)

    @property
    def rng(self) -> DropoutStream:
        """The stream the masks are drawn from (``xpnet gradcheck`` rewinds it)."""
        return self.xpnet.rng

    def _sync(self) -> None:
        # the backward applies the mask the last forward drew; a forward run again here
        # would draw another
        return


class Layer_Input:
    """The book's input "layer" (chapter 18): its output is the model's input."""

    def forward(self, inputs: Any, training: bool = True) -> None:
        self.output = inputs


class _Activation(_Layer):
    xpnet: activations.Activation

    #: whether the backward pass differentiates the output (the xpnet layer's ``s``)
    from_output = False

    def _sync(self) -> None:
        # the book's softmax and sigmoid differentiate their ``self.output``, which a listing
        # may write itself (chapter 9 checks the combined gradient against softmax outputs it
        # sets by hand): the xpnet layer differentiates what it holds, so hand it that
        output = self.__dict__.get("output")
        if self.from_output and output is not None:
            if output is not getattr(self.xpnet, "s", None):
                setattr(self.xpnet, "s", self.xpnet.ops.backend.asarray(output))  # noqa: B010
            return
        super()._sync()

    def predictions(self, outputs: Any) -> Any:
        """What accuracy compares with the targets (chapter 18)."""
        return self.xpnet.predictions(outputs)


class Activation_ReLU(_Activation):
    """The book's ReLU, over :class:`xpnet.nn.activations.ReLU`."""

    def __init__(self) -> None:
        super().__init__(activations.ReLU())


class Activation_Softmax(_Activation):
    """The book's softmax, over :class:`xpnet.nn.activations.Softmax` (whose backward pass
    is the Jacobian-vector product the book computes sample by sample)."""

    from_output = True

    def __init__(self) -> None:
        super().__init__(activations.Softmax())


class Activation_Sigmoid(_Activation):
    """The book's sigmoid, over :class:`xpnet.nn.activations.Sigmoid`."""

    from_output = True

    def __init__(self) -> None:
        super().__init__(activations.Sigmoid())


class Activation_Linear(_Activation):
    """The book's linear activation, over :class:`xpnet.nn.activations.Linear`."""

    def __init__(self) -> None:
        super().__init__(activations.Linear())


# -- losses ---------------------------------------------------------------------------------

class Loss(_Accumulating):
    """The book's loss base class: ``calculate`` is the mean of ``forward``'s sample losses.

    A subclass from the book (``Loss_CategoricalCrossentropy``...) runs an xpnet loss,
    ``.xpnet``; one written in the book's style (``forward`` returning sample losses,
    ``backward`` setting ``self.dinputs``) gets ``calculate``, the regularization penalty
    and the accumulated loss from here.
    """

    xpnet: losses.Loss
    trainable_layers: list[Any] = []  # noqa: RUF012 (replaced, never mutated)
    def forward(self, y_pred: Any, y_true: Any) -> Any:
        y_pred = _as_array(y_pred)
        y_true = self._targets(y_true, y_pred)
        return self.xpnet.forward(y_pred, y_true)

    def backward(self, dvalues: Any, y_true: Any) -> None:
        dvalues = _as_array(dvalues)
        self.dinputs = self.xpnet.backward(dvalues, self._targets(y_true, dvalues))

    def _targets(self, y_true: Any, y_pred: Any) -> Any:
        """``y_true`` as an array, its values checked as Model.train checks them: the book's
        loops hand the loss its targets directly (checked once per targets array: the loops
        pass the same one every epoch)."""
        y_true = _as_array(y_true, y_pred)
        if y_true is not self.__dict__.get("_checked"):
            validate.non_empty("y_pred", y_pred, "array (n_samples, n_outputs)",
                               fix=validate.EMPTY_MEAN.format(f"{type(self).__name__}.calculate"))
            self.xpnet.check_targets(y_true, int(y_pred.shape[-1]) if y_pred.ndim else 0)
            self._checked = y_true
        return y_true

    def regularization_loss(self, layer: Any = None) -> Any:
        """The penalty of ``layer`` (chapters 14-17), or of every remembered trainable layer
        (chapter 18's ``regularization_loss()``)."""
        chosen = self.trainable_layers if layer is None else [layer]
        if all(hasattr(each, "xpnet") for each in chosen):
            return _printable(losses.regularization_loss(each.xpnet for each in chosen))
        # a layer of the student's own (no xpnet layer underneath): the book's sums
        total: Any = 0
        for each in chosen:
            total = total + (losses.regularization_loss([each.xpnet])
                             if hasattr(each, "xpnet") else _book_penalty(each))
        return _printable(total)

    def remember_trainable_layers(self, trainable_layers: list[Any]) -> None:
        self.trainable_layers = trainable_layers

    def calculate(self, output: Any, y: Any, *, include_regularization: bool = False) -> Any:
        """The data loss (and, with ``include_regularization``, the penalty too)."""
        sample_losses = self.forward(output, y)
        xp = backend_of(sample_losses).xp
        data_loss = _printable(xp.mean(sample_losses, axis=-1))
        self._accumulate(xp.sum(sample_losses), sample_losses.shape[0])
        if not include_regularization:
            return data_loss
        return data_loss, self.regularization_loss()

    def calculate_accumulated(self, *, include_regularization: bool = False) -> Any:
        """The mean loss over every sample since :meth:`new_pass` (chapter 19's batches)."""
        data_loss = self._mean_of_pass()
        if not include_regularization:
            return data_loss
        return data_loss, self.regularization_loss()


class Loss_CategoricalCrossentropy(Loss):
    """The book's categorical cross-entropy, over
    :class:`xpnet.nn.losses.CategoricalCrossentropy`."""

    def __init__(self) -> None:
        self.xpnet = losses.CategoricalCrossentropy()


class Loss_BinaryCrossentropy(Loss):
    """The book's binary cross-entropy, over :class:`xpnet.nn.losses.BinaryCrossentropy`."""

    def __init__(self) -> None:
        self.xpnet = losses.BinaryCrossentropy()


class Loss_MeanSquaredError(Loss):
    """The book's mean squared error, over :class:`xpnet.nn.losses.MeanSquaredError`."""

    def __init__(self) -> None:
        self.xpnet = losses.MeanSquaredError()


class Loss_MeanAbsoluteError(Loss):
    """The book's mean absolute error, over :class:`xpnet.nn.losses.MeanAbsoluteError`
    (whose gradient has the right sign; the book's listing's points away from the targets)."""

    def __init__(self) -> None:
        self.xpnet = losses.MeanAbsoluteError()


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """The book's softmax with cross-entropy and their joint gradient ``(s - y) / n``
    (:func:`xpnet.nn.losses.softmax_crossentropy_backward`).

    ``forward(inputs, y_true)`` sets ``.output`` (the probabilities) and returns the data
    loss; ``backward(dvalues, y_true)`` sets ``.dinputs``, the gradient at the logits.
    """

    def __init__(self) -> None:
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs: Any, y_true: Any) -> Any:
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)

    def backward(self, dvalues: Any, y_true: Any) -> None:
        dvalues = _as_array(dvalues)
        self.dinputs = losses.softmax_crossentropy_backward(
            dvalues, self.loss._targets(y_true, dvalues))


def _refuse_xpnet_part(call: str, part: Any) -> None:
    """The book's Model drives the book's names (``Layer_Dense``...): one of xpnet's own parts
    (``xpnet.nn.Dense``...) has none of their attributes (``output``, ``dinputs``...)."""
    if isinstance(part, (layers.Layer, losses.Loss, optimizers.Optimizer, metrics.Accuracy)):
        twin = next((book.__name__ for kind, book in _ADAPTERS.items()
                     if type(part) is kind), None)
        instead = f"the book's name for it, {twin}(...)" if twin else "a class of the book's"
        msg = (f"{call} got {type(part).__name__}, a part of xpnet.nn, but the book's Model "
               f"drives the book's classes: use {instead}, or build the network with "
               "xpnet.Model, which takes xpnet.nn's parts.")
        raise TypeError(msg)


def _as_array(x: Any, like: Any = None) -> Any:
    """A Python list or tuple (chapter 5 writes its targets as one) as an array of the
    backend of ``like`` (else of the module's); arrays pass through."""
    if not isinstance(x, (list, tuple)):
        return x
    b = backend_of(like) if like is not None and hasattr(like, "shape") else _session.backend
    return b.asarray(np.asarray(x))


def _printable(value: Any) -> Any:
    """A 0-d result as the book's f-strings can format it (``f"{loss:.3f}"``): arrays of
    array-api-strict cannot be, so there it is the NumPy scalar of its dtype (which prints
    as the book's does: ``print('loss:', loss)`` shows ``1.0986104``, where a Python float
    would show ``1.0986103653907776``); elsewhere the 0-d array itself (NumPy's and
    PyTorch's format, and stay on the device)."""
    if getattr(value, "ndim", None) == 0 and backend_of(value).name == "array_api_strict":
        return to_numpy(value)[()]
    return value


def _book_penalty(layer: Any) -> Any:
    """The book's regularization loss of a layer written in its style (``weights``,
    ``biases`` and ``weight_regularizer_l1`` ... attributes, each 0 when absent)."""
    total: Any = 0
    for name, value in (("weight", "weights"), ("bias", "biases")):
        l1 = getattr(layer, f"{name}_regularizer_l1", 0)
        l2 = getattr(layer, f"{name}_regularizer_l2", 0)
        if l1 > 0 or l2 > 0:
            p = getattr(layer, value)
            xp = backend_of(p).xp
            if l1 > 0:
                total = total + l1 * xp.sum(xp.abs(p))
            if l2 > 0:
                total = total + l2 * xp.sum(p * p)
    return total


# -- optimizers -----------------------------------------------------------------------------

class _Optimizer(_Adapter):
    """A book-style face of an xpnet optimizer: the book's three calls per step, on the
    book's layers."""

    xpnet: optimizers.Optimizer
    learning_rate = _Through("learning_rate")
    current_learning_rate = _Through("current_learning_rate")
    decay = _Through("decay")
    iterations = _Through("iterations")

    def pre_update_params(self) -> None:
        self.xpnet.pre_update_params()

    def update_params(self, layer: Any) -> None:
        inner = getattr(layer, "xpnet", None)
        if inner is not None:
            self.xpnet.update_params(inner)
            return
        # a layer of the student's own, typed from the book: its arrays under the book's
        # names, updated by the same rule and written back as the book's optimizers do
        _OwnLayer(layer).update(self.xpnet)

    def post_update_params(self) -> None:
        self.xpnet.post_update_params()

    def __repr__(self) -> str:
        return f"{type(self).__name__} over {self.xpnet!r}"


class _OwnLayer:
    """A student's own book-style layer (``weights``, ``dweights``, ``biases``,
    ``dbiases``, and the optimizers' ``weight_momentums``, ``weight_cache``, ...) as an
    xpnet optimizer reads a layer: ``params``, ``grads`` and ``optimizer_state``."""

    #: xpnet's parameter names and the book's: (value, gradient, state prefix)
    NAMES = (("W", "weights", "dweights", "weight"), ("b", "biases", "dbiases", "bias"))
    #: xpnet's optimizer state slots and the book's attribute suffixes
    SLOTS: ClassVar[dict[str, str]] = {"m": "_momentums", "u": "_momentums", "v": "_cache",
                                       "cache": "_cache"}

    def __init__(self, layer: Any):
        self.layer, self.name = layer, type(layer).__name__
        self.ops = _session.ops()  # the engine the book's own layers compute with
        missing = [attr for _, value, grad, _ in self.NAMES for attr in (value, grad)
                   if not hasattr(layer, attr)]
        if missing:
            msg = (f"the optimizer updates weights and biases from dweights and dbiases; "
                   f"this {self.name} has no {', '.join(missing)}. Call update_params on "
                   "layers with parameters, after their backward pass.")
            raise AttributeError(msg)
        self.params = {key: getattr(layer, value) for key, value, _, _ in self.NAMES}
        self.grads = {key: getattr(layer, grad) for key, _, grad, _ in self.NAMES}
        self.optimizer_state = {
            key: {slot: getattr(layer, prefix + suffix)
                  for slot, suffix in self.SLOTS.items() if hasattr(layer, prefix + suffix)}
            for key, _, _, prefix in self.NAMES}

    def update(self, optimizer: optimizers.Optimizer) -> None:
        # the state the book's attribute names hold, in the slots this optimizer keeps
        for state in self.optimizer_state.values():
            for slot in [s for s in state if s not in optimizer.state_names]:
                del state[slot]
        optimizer.update_params(self)
        for key, value, _, prefix in self.NAMES:
            setattr(self.layer, value, self.params[key])
            for slot, array in self.optimizer_state[key].items():
                setattr(self.layer, prefix + self.SLOTS[slot], array)


class Optimizer_SGD(_Optimizer):
    """The book's SGD with momentum, over :class:`xpnet.nn.optimizers.SGD`."""

    momentum = _Through("momentum", writable=False)

    def __init__(self, learning_rate: float = 1., decay: float = 0., momentum: float = 0.):
        self.xpnet = optimizers.SGD(learning_rate, decay, momentum)


class Optimizer_Adagrad(_Optimizer):
    """The book's Adagrad, over :class:`xpnet.nn.optimizers.Adagrad`."""

    epsilon = _Through("epsilon")

    def __init__(self, learning_rate: float = 1., decay: float = 0., epsilon: float = 1e-7):
        self.xpnet = optimizers.Adagrad(learning_rate, decay, epsilon)


class Optimizer_RMSprop(_Optimizer):
    """The book's RMSprop, over :class:`xpnet.nn.optimizers.RMSprop`."""

    epsilon = _Through("epsilon")
    rho = _Through("rho")

    def __init__(self, learning_rate: float = 0.001, decay: float = 0., epsilon: float = 1e-7,
                 rho: float = 0.9):
        self.xpnet = optimizers.RMSprop(learning_rate, decay, epsilon, rho)


class Optimizer_Adam(_Optimizer):
    """The book's Adam, over :class:`xpnet.nn.optimizers.Adam`."""

    epsilon = _Through("epsilon")
    beta_1 = _Through("beta_1")
    beta_2 = _Through("beta_2")

    def __init__(self, learning_rate: float = 0.001, decay: float = 0., epsilon: float = 1e-7,
                 beta_1: float = 0.9, beta_2: float = 0.999):
        self.xpnet = optimizers.Adam(learning_rate, decay, epsilon, beta_1, beta_2)


# -- accuracy -------------------------------------------------------------------------------

class Accuracy(_Accumulating):
    """The book's accuracy base class: ``calculate`` is the mean of ``compare``."""

    xpnet: metrics.Accuracy
    def init(self, y: Any, reinit: bool = False) -> None:
        self.xpnet.init(y, reinit)

    def compare(self, predictions: Any, y: Any) -> Any:
        predictions = _as_array(predictions)
        return self.xpnet.compare(predictions, _as_array(y, predictions))

    def calculate(self, predictions: Any, y: Any) -> Any:
        self.xpnet.check_samples(_as_array(predictions), y)
        comparisons = self.compare(predictions, y)
        b = backend_of(comparisons)
        # float64 where the device has it, as xpnet's accuracies (the book's np.mean)
        matches = b.xp.astype(comparisons, b.xp.float64 if b.has_float64 else b.xp.float32)
        self._accumulate(b.xp.sum(matches), math.prod(matches.shape))
        return _printable(b.xp.mean(matches))

    def calculate_accumulated(self) -> Any:
        """The accuracy over every comparison since :meth:`new_pass` (chapter 19)."""
        return self._mean_of_pass()


class Accuracy_Categorical(Accuracy):
    """The book's classification accuracy: :class:`xpnet.nn.metrics.CategoricalAccuracy`,
    or with ``binary=True`` :class:`xpnet.nn.metrics.BinaryAccuracy`."""

    def __init__(self, *, binary: bool = False):
        self.xpnet = metrics.BinaryAccuracy() if binary else metrics.CategoricalAccuracy()

    @property
    def binary(self) -> bool:
        return isinstance(self.xpnet, metrics.BinaryAccuracy)


class Accuracy_Regression(Accuracy):
    """The book's regression accuracy, over :class:`xpnet.nn.metrics.RegressionAccuracy`
    (``precision`` is ``std(y) / 250`` of the targets ``init`` sees)."""

    precision = _Through("precision")

    def __init__(self) -> None:
        self.xpnet = metrics.RegressionAccuracy()


# -- the chapter 18 Model -------------------------------------------------------------------

class Model:
    """The book's ``Model`` (chapters 18-22), over :class:`xpnet.Model` and its training
    loop (:func:`xpnet.training.train`).

    ``add`` the book's layers, ``set(loss=, optimizer=, accuracy=)``, ``finalize()``, then
    ``train``, which prints the book's lines. After ``finalize``, ``.xpnet`` is the
    :class:`xpnet.Model` doing the work (``model.xpnet.train`` returns a History instead of
    printing).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return _copy_sharing_the_stream(self, memo)

    def __init__(self) -> None:
        self.layers: list[Any] = []
        self.loss: Any = None
        self.optimizer: Any = None
        self.accuracy: Any = None
        self.xpnet: xpnet_model.Model | None = None
        #: the classes of the student's own parts, when finalize chose the book's loop
        self.book_loop: list[str] = []
        #: the call (model.add, model.set) that changed the model after finalize, if any
        self._stale: str | None = None

    def add(self, layer: Any) -> None:
        validate.layer_like("Model.add", layer, call="model.add({}(...))",
                            example="model.add(Layer_Dense(2, 64))")
        _refuse_xpnet_part("Model.add", layer)
        owner = layer.__dict__.get("_book_owner") if hasattr(layer, "__dict__") else None
        other = owner() if owner is not None else None
        if any(each is layer for each in self.layers) or (
                other is not None and other is not self
                and any(each is layer for each in other.layers)):
            where = "this model" if other in (None, self) else "another model"
            msg = (f"this {type(layer).__name__} is already a layer of {where}: one layer "
                   f"object is one layer (its weights are its own); add a new one, e.g. "
                   f"model.add({type(layer).__name__}(...)).")
            raise ValueError(msg)
        self.layers.append(layer)
        with contextlib.suppress(AttributeError, TypeError):  # a class with __slots__
            layer._book_owner = weakref.ref(self)
        self._changed_after_finalize("model.add")

    def set(self, *, loss: Any = None, optimizer: Any = None, accuracy: Any = None) -> None:
        """Choose the loss, optimizer and accuracy (each one given replaces the current)."""
        for what, part in (("loss", loss), ("optimizer", optimizer), ("accuracy", accuracy)):
            if isinstance(part, type):
                msg = (f"Model.set expects {what}= an object, got the class {part.__name__}; "
                       f"call it: model.set({what}={part.__name__}(...)).")
                raise TypeError(msg)
        for part in (loss, optimizer, accuracy):
            _refuse_xpnet_part("Model.set", part)
        if loss is not None:
            self.loss = loss
        if optimizer is not None:
            self.optimizer = optimizer
        if accuracy is not None:
            self.accuracy = accuracy
        if (loss, optimizer, accuracy) != (None, None, None):
            self._changed_after_finalize("model.set")

    def _changed_after_finalize(self, call: str) -> None:
        """After finalize, a new layer or part is not linked (the book's loop would crash on
        its missing ``prev``, xpnet's would leave it out): finalize must run again."""
        if "input_layer" in self.__dict__:
            self.xpnet, self.book_loop, self._stale = None, [], call

    def finalize(self) -> None:
        """Link the layers as the book does (``prev``, ``next``, ``trainable_layers``,
        ``output_layer_activation``) and assemble the xpnet model (the layers were built,
        and drew their weights, when they were created).

        When a part is the student's own (a class written in the book's style, or a
        subclass that overrides ``forward``, ``backward`` or another of the book's methods),
        the model runs the book's own loop over the parts instead, so that every override
        runs (:attr:`book_loop`; ``.xpnet`` is then None).
        """
        for part, what in ((self.loss, "loss"), (self.accuracy, "accuracy")):
            if part is None:
                msg = (f"the model has no {what}: call model.set(loss=..., optimizer=..., "
                       "accuracy=...) before model.finalize().")
                raise RuntimeError(msg)
        if not self.layers:
            msg = "the model has no layers: model.add(Layer_Dense(...)) before finalize()."
            raise RuntimeError(msg)
        self._link()
        self._stale = None
        own = [part for part in (*self.layers, self.loss, self.accuracy, self.optimizer)
               if part is not None and not _as_in_the_book(part)]
        self.book_loop = [type(part).__name__ for part in own]
        if own:
            self.xpnet = None
            # the book tests the classes its script names: a student's own
            # Activation_Softmax and Loss_CategoricalCrossentropy (or subclasses) count
            self.softmax_classifier_output = (
                Activation_Softmax_Loss_CategoricalCrossentropy()
                if _named(self.layers[-1], "Activation_Softmax")
                and _named(self.loss, "Loss_CategoricalCrossentropy") else None)
            return
        # the model computes as its layers were built to: on their backend, with their engine
        ops = self.layers[0].xpnet.ops
        net = xpnet_model.Model(backend=ops.backend, seed=_session.rng,
                                precision="nnfs" if ops.name == "faithful" else "default")
        for layer in self.layers:
            # the layer is this model's (Model.add checked): a net of an earlier finalize
            # (or of Model.load) lets it go
            layer.xpnet.__dict__.pop("_owner", None)
            net.add(layer.xpnet)
        if self.optimizer is not None:
            self.optimizer.xpnet.__dict__.pop("_owner", None)  # (likewise)
        net.set(loss=self.loss.xpnet, accuracy=self.accuracy.xpnet,
                optimizer=None if self.optimizer is None else self.optimizer.xpnet)
        net.keep_input_grads = True  # the layers' dinputs after train, as the book's hold
        self.xpnet = net

    def _link(self) -> None:
        """What the book's ``finalize`` sets: the input layer, each layer's ``prev`` and
        ``next``, the trainable layers (remembered by the loss) and the output activation."""
        self.input_layer = Layer_Input()
        for i, layer in enumerate(self.layers):
            layer.prev = self.input_layer if i == 0 else self.layers[i - 1]
            layer.next = self.layers[i + 1] if i + 1 < len(self.layers) else self.loss
        self.trainable_layers = [layer for layer in self.layers if hasattr(layer, "weights")]
        self.output_layer_activation = self.layers[-1]
        if self.loss is not None:
            self.loss.remember_trainable_layers(self.trainable_layers)

    def _net(self) -> xpnet_model.Model:
        stale = self._stale
        if stale:
            msg = (f"{stale} was called after model.finalize(): call model.finalize() again, "
                   "so that the model links what changed.")
            raise RuntimeError(msg)
        if self.xpnet is None:
            if self.book_loop:
                msg = (f"this model runs the book's loop over your own classes "
                       f"({', '.join(self.book_loop)}), which xpnet's model file cannot "
                       "hold: keep the parameters with model.save_parameters(path) instead.")
                raise RuntimeError(msg)
            msg = "call model.finalize() after model.add(...) and model.set(...) first."
            raise RuntimeError(msg)
        return self.xpnet

    def _looping(self) -> bool:
        """Whether finalize chose the book's loop (else the xpnet model; raises before it)."""
        if (self.xpnet is None and not self.book_loop) or self._stale:
            self._net()  # the finalize-first error
        return self.xpnet is None

    def train(self, X: Any, y: Any, *, epochs: int = 1, batch_size: int | None = None,
              print_every: int = 1, validation_data: tuple[Any, Any] | None = None) -> None:
        """Train and print the book's lines.

        Without ``batch_size`` (chapter 18): ``epoch: N, acc: ..., loss: ... (data_loss:
        ..., reg_loss: ...), lr: ...`` every ``print_every`` epochs, after that epoch's
        update, then one ``validation, acc: ..., loss: ...`` line. With ``batch_size``
        (chapter 19): ``epoch: N``, a ``step: S, ...`` line every ``print_every`` steps and
        at the last, a ``training, ...`` line over the epoch, and a validation line, every
        epoch.
        """
        print_every = validate.positive_int("print_every", print_every)
        epochs = validate.non_negative_int("epochs", epochs)
        if batch_size is not None:
            batch_size = validate.positive_int("batch_size", batch_size)
        validation_data = training.validation_pair(validation_data)
        if validation_data is not None:  # checked before the first epoch
            validation_data = self._data(*validation_data, "validation X", "validation y")
        if self._looping():
            self._train_book(X, y, epochs, batch_size, print_every, validation_data)
            return
        net = self._net()
        if batch_size is None:
            def report(_model: Any, epoch: int, logs: dict[str, Any]) -> None:
                if not epoch % print_every:
                    print(_line(f"epoch: {epoch}", logs))

            net.train(X, y, epochs=epochs, log_every=print_every, callbacks=[report])
            self._keep_dinputs(net)
            if validation_data is not None:  # through the book's layers, which keep it
                self.evaluate(*validation_data)
            return
        def step_line(_model: Any, step: int, logs: dict[str, Any]) -> None:
            if not step:
                print(f"epoch: {logs['epoch']}")
            rows = X.shape[0] if hasattr(X, "shape") else len(X)  # (net.train checked X)
            if not step % print_every or step == -(-int(rows) // batch_size) - 1:
                print(_line(f"step: {step}", logs))

        def epoch_lines(_model: Any, _epoch: int, logs: dict[str, Any]) -> None:
            # the book's penalty after the epoch's steps (with one batch too)
            reg_loss = float(losses.regularization_loss(net.trainable_layers))
            print(_line("training", {**logs, "loss": logs["data_loss"] + reg_loss,
                                     "reg_loss": reg_loss}))
            if validation_data is not None:
                self.evaluate(*validation_data, batch_size=batch_size)

        net.train(X, y, epochs=epochs, batch_size=batch_size, callbacks=[epoch_lines],
                  batch_callbacks=[step_line])
        self._keep_dinputs(net)

    def _keep_dinputs(self, net: xpnet_model.Model) -> None:
        """Each layer's (and the loss's) ``dinputs`` of the last backward pass of xpnet's
        loop, as the book's hold theirs after train (none for the first layer, whose input
        gradient xpnet's loop does not compute, nor for the loss where the model ends in
        softmax and cross-entropy)."""
        grads = net.input_grads or [None] * (len(self.layers) + 1)
        for part, grad in zip([*self.layers, self.loss], grads, strict=True):
            if grad is None:
                part.__dict__.pop("dinputs", None)  # (not an earlier pass's)
            else:
                part.dinputs = grad

    # -- the book's own loop, for models with the student's own parts ------------------------
    def _train_book(self, X: Any, y: Any, epochs: int, batch_size: int | None,
                    print_every: int, validation_data: tuple[Any, Any] | None) -> None:
        """The book's ``Model.train`` (chapters 18 and 19), calling each part's methods."""
        if self.optimizer is None:
            msg = "the model has no optimizer: model.set(optimizer=...) before train()."
            raise RuntimeError(msg)
        self.accuracy.init(y)
        n = int(X.shape[0])
        steps = 1 if batch_size is None else -(-n // batch_size)
        for epoch in range(1, epochs + 1):
            if batch_size is not None:
                print(f"epoch: {epoch}")
            self.loss.new_pass()
            self.accuracy.new_pass()
            for step in range(steps):
                if batch_size is None:
                    batch_X, batch_y = X, y
                else:
                    batch_X = X[step * batch_size:(step + 1) * batch_size]
                    batch_y = y[step * batch_size:(step + 1) * batch_size]
                output = self.forward(batch_X, training=True)
                data_loss, reg_loss = self.loss.calculate(output, batch_y,
                                                          include_regularization=True)
                predictions = self.output_layer_activation.predictions(output)
                accuracy = self.accuracy.calculate(predictions, batch_y)
                self.backward(output, batch_y)
                self.optimizer.pre_update_params()
                for layer in self.trainable_layers:
                    self.optimizer.update_params(layer)
                self.optimizer.post_update_params()
                logs = {"acc": accuracy, "loss": data_loss + reg_loss, "data_loss": data_loss,
                        "reg_loss": reg_loss, "lr": self.optimizer.current_learning_rate}
                if batch_size is None and not epoch % print_every:
                    print(_line(f"epoch: {epoch}", logs))
                elif batch_size is not None and (not step % print_every or step == steps - 1):
                    print(_line(f"step: {step}", logs))
            if batch_size is not None:
                data_loss, reg_loss = self.loss.calculate_accumulated(
                    include_regularization=True)
                print(_line("training", {
                    "acc": self.accuracy.calculate_accumulated(), "loss": data_loss + reg_loss,
                    "data_loss": data_loss, "reg_loss": reg_loss,
                    "lr": self.optimizer.current_learning_rate}))
                if validation_data is not None:
                    self.evaluate(*validation_data, batch_size=batch_size)
        if batch_size is None and validation_data is not None:
            self.evaluate(*validation_data)

    def backward(self, output: Any, y: Any) -> None:
        """The book's backward pass through the loss and every layer, last first (the joint
        softmax and cross-entropy gradient where the model ends in them)."""
        self._looping()
        joint = getattr(self, "softmax_classifier_output", None)
        if joint is not None:
            joint.backward(output, y)
            self.layers[-1].dinputs = joint.dinputs
            for layer in reversed(self.layers[:-1]):
                layer.backward(layer.next.dinputs)
            return
        self.loss.backward(output, y)
        for layer in reversed(self.layers):
            layer.backward(layer.next.dinputs)

    def _data(self, X: Any, y: Any = None, xname: str = "X",
              yname: str = "y") -> tuple[Any, Any]:
        """``X`` (and ``y``) as the model computes with them: converted and checked by
        xpnet's rule (:meth:`xpnet.Model.convert_data`) when it trains on the xpnet model,
        else (the book's loop) with lists made arrays."""
        if self._looping():
            return _as_array(X), None if y is None else _as_array(y, X)
        net = self._net()
        if y is None:
            return net.convert_inputs(X, xname), None
        return net.convert_data(X, y, xname, yname)

    def _batches(self, X: Any, batch_size: int | None) -> list[slice]:
        n = int(X.shape[0])
        size = n if batch_size is None else batch_size
        # stops within the array: array-api-strict refuses a slice that runs past the end
        return [slice(lo, min(lo + size, n)) for lo in range(0, max(n, 1), max(size, 1))]

    def evaluate(self, X_val: Any, y_val: Any, *, batch_size: int | None = None) -> None:
        """Print ``validation, acc: ..., loss: ...`` (data loss, dropout off), summed over
        the samples as the book's ``calculate_accumulated`` sums them.

        Like :meth:`predict` and :meth:`forward`, it runs the book's layers in turn (each
        one's xpnet layer doing the work), so that afterwards each holds its ``inputs`` and
        ``output`` of the last batch, as the book's do."""
        X_val, y_val = self._data(X_val, y_val, "X_val", "y_val")
        self.loss.new_pass()
        self.accuracy.new_pass()
        for part in self._batches(X_val, batch_size):
            output = self.forward(X_val[part, ...], training=False)
            self.loss.calculate(output, y_val[part, ...])
            self.accuracy.calculate(self.output_layer_activation.predictions(output),
                                    y_val[part, ...])
        _print_validation({"acc": self.accuracy.calculate_accumulated(),
                           "loss": self.loss.calculate_accumulated()})

    def predict(self, X: Any, *, batch_size: int | None = None) -> Any:
        """The model's outputs for ``X`` (dropout off); one sample given as a vector is a row
        (the book's first Layer_Dense makes it one)."""
        if getattr(X, "ndim", None) == 1:
            X = X[None, :]
        X, _ = self._data(X)
        outputs = [self.forward(X[part, ...], training=False)
                   for part in self._batches(X, batch_size)]
        b = backend_of(outputs[0])
        return outputs[0] if len(outputs) == 1 else b.xp.concat(outputs, axis=0)

    def forward(self, X: Any, training: bool) -> Any:
        """The output of the whole network for ``X``: each layer's ``forward`` in turn, as
        in the book (so each keeps its ``inputs`` and ``output``)."""
        training = validate.flag("training", training)
        self._looping()  # (the finalize-first error)
        self.input_layer.forward(X, training)
        for layer in self.layers:
            layer.forward(layer.prev.output, training)
        return self.layers[-1].output

    # -- parameters and files ---------------------------------------------------------------
    def get_parameters(self) -> list[tuple[Any, Any]]:
        """``[(weights, biases), ...]``, one pair per trainable layer."""
        return [layer.get_parameters() for layer in self.trainable_layers]

    def set_parameters(self, parameters: list[tuple[Any, Any]]) -> None:
        """Set what :meth:`get_parameters` returned (host arrays are moved)."""
        parameters = list(parameters)
        if len(parameters) != len(self.trainable_layers):
            msg = (f"set_parameters: the model has {len(self.trainable_layers)} trainable "
                   f"layers, got {len(parameters)} (weights, biases) pairs. Pass one pair per "
                   "trainable layer, as get_parameters() returns them.")
            raise ValueError(msg)
        for pair, layer in zip(parameters, self.trainable_layers, strict=True):
            layer.set_parameters(*pair)

    def save_parameters(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to ``path`` as an ``.npz`` file (the book pickles them;
        xpnet never pickles)."""
        path = xpnet_io.file_path(path, "model.save_parameters", example="model.parms")
        arrays = {f"{i}.{name}": to_numpy(p) for i, pair in enumerate(self.get_parameters())
                  for name, p in zip(("weights", "biases"), pair, strict=True)}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub: no allow_pickle
        atomic_write_bytes(path, buffer.getvalue())

    def load_parameters(self, path: str | os.PathLike[str]) -> None:
        """Read parameters written by :meth:`save_parameters`."""
        if "trainable_layers" not in self.__dict__:
            msg = ("load_parameters needs the model's layers linked: call model.finalize() "
                   "first, as the book does before loading parameters.")
            raise RuntimeError(msg)
        path = xpnet_io.file_path(path, "model.load_parameters", example="model.parms",
                                  reading=True)
        try:
            with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except FileNotFoundError as exc:
            msg = (f"no parameters file at {os.fspath(path)!r}. Check the path, or write one "
                   f"with model.save_parameters({os.fspath(path)!r}).")
            raise ModelFileError(msg) from exc
        except OSError:
            raise  # no permission, a folder: the system's own words name the path
        except (ValueError, zipfile.BadZipFile, EOFError, zlib_error) as exc:
            if xpnet_io.is_pickle(path):
                raise xpnet_io.pickle_refused(path, "model.save_parameters(path)") from exc
            # (NumPy's advice for a file that is not an .npz, allow_pickle, is not given on:
            # unpickling runs the file's code)
            msg = (f"cannot read parameters for this model from {os.fspath(path)!r}: it is "
                   f"not an .npz of this model's parameters, or is truncated or corrupt "
                   f"({type(exc).__name__}). Write them with model.save_parameters(path) from "
                   "the model that trained.")
            raise ModelFileError(msg) from exc
        self.set_parameters(self._file_parameters(os.fspath(path), arrays))

    def _file_parameters(self, path: str, arrays: dict[str, Any]) -> list[tuple[Any, Any]]:
        """The (weights, biases) pairs of a parameters file, checked against this model's
        layers: every array there, of a layer's shape, floating-point and finite, and none
        left over (a file of a bigger model)."""
        layers = self.trainable_layers
        fix = ("Load it into a model of the architecture that saved it, or save the "
               "parameters again with model.save_parameters(path).")
        expected = [f"{i}.{name}" for i in range(len(layers)) for name in ("weights", "biases")]
        missing = [key for key in expected if key not in arrays]
        extra = sorted(set(arrays) - set(expected))
        if "xpnet.json" in arrays:  # a whole model, as model.save writes it
            fix = f"It is a whole model: load it with Model.load({path!r})."
        if missing or extra:
            found = (f"no array {missing[0]!r}" if missing else
                     f"also {extra[:4]} (the parameters of another architecture?)")
            names = ", ".join(expected if len(expected) <= 4 else [*expected[:2], "...",
                                                                   expected[-1]])
            count = f"{len(layers)} layer{'' if len(layers) == 1 else 's'}"
            msg = (f"{path!r} should hold this model's parameters, the arrays {names} "
                   f"({count} with parameters), but it has {found}. {fix}")
            raise ModelFileError(msg)
        for i, layer in enumerate(layers):
            for name in ("weights", "biases"):
                key, value = f"{i}.{name}", arrays[f"{i}.{name}"]
                shape = tuple(getattr(layer, name).shape)
                problem = ("bytes that are no .npy array" if not isinstance(value, np.ndarray)
                           else f"dtype {value.dtype}" if value.dtype.kind != "f" else
                           f"shape {value.shape}" if value.shape != shape else
                           "NaN or infinite values" if not np.isfinite(value).all() else "")
                if problem:
                    msg = (f"{path!r}: the array {key!r} should be the {name} of "
                           f"{type(layer).__name__} {i} (finite floating-point numbers of "
                           f"shape {shape}), but it has {problem}. {fix}")
                    raise ModelFileError(msg)
        return [(arrays[f"{i}.weights"], arrays[f"{i}.biases"]) for i in range(len(layers))]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole model (architecture, parameters, optimizer state) with
        :meth:`xpnet.Model.save`'s ``.npz`` file, at ``path`` itself, as the book's pickle
        is (``x.model`` stays ``x.model``)."""
        xpnet_io.save_model(self._net(), path, suffix=False)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Model:
        """A model written by :meth:`save`, on the current backend."""
        net = xpnet_model.Model.load(path, backend=_session.backend)  # (or path + ".npz")
        # the book's loaded model draws its masks from NumPy's global stream, where the
        # program is now (not where the saved model's stream was)
        net.rng = _session.rng
        for layer in net.layers:
            if isinstance(layer, layers.Dropout):
                layer.rng.host = _session.rng
        model = Model()
        model.layers = [_ADAPTERS[type(layer)].around(layer) for layer in net.layers]
        if net.loss is not None:
            model.loss = _ADAPTERS[type(net.loss)].around(net.loss)
        if net.optimizer is not None:
            model.optimizer = _ADAPTERS[type(net.optimizer)].around(net.optimizer)
        if net.accuracy is not None:
            model.accuracy = _ADAPTERS[type(net.accuracy)].around(net.accuracy)
        net.keep_input_grads = True  # (as finalize sets it)
        model.xpnet = net
        model._link()
        return model


def _line(head: str, logs: dict[str, Any]) -> str:
    """One of the book's progress lines (values of any backend: a 0-d array prints as the
    number it holds)."""
    acc, loss, data, reg = (float(logs[k]) for k in ("acc", "loss", "data_loss", "reg_loss"))
    return (f"{head}, acc: {acc:.3f}, loss: {loss:.3f} (data_loss: {data:.3f}, reg_loss: "
            f"{reg:.3f}), lr: {logs['lr']}")


def _print_validation(metrics_: dict[str, Any]) -> None:
    print(f"validation, acc: {float(metrics_['acc']):.3f}, "
          f"loss: {float(metrics_['loss']):.3f}")


#: The methods through which the book's Model drives its parts: a subclass that overrides
#: any of them is the student's own code, which the book's loop must call.
_DRIVEN = ("forward", "backward", "predictions", "calculate", "compare", "init",
           "regularization_loss", "calculate_accumulated", "pre_update_params",
           "update_params", "post_update_params")


def _as_in_the_book(part: Any) -> bool:
    """Whether ``part`` is one of this module's classes with the methods it has here (so
    the xpnet model underneath computes exactly what it would)."""
    home = next((c for c in type(part).__mro__ if c in _BOOK_CLASSES), None)
    return home is not None and all(
        getattr(type(part), name, None) is getattr(home, name, None) for name in _DRIVEN)


#: The book's class of each xpnet class (to wrap a loaded model's parts).
_ADAPTERS: dict[type, Any] = {
    layers.Dense: Layer_Dense, layers.Dropout: Layer_Dropout,
    activations.ReLU: Activation_ReLU, activations.Softmax: Activation_Softmax,
    activations.Sigmoid: Activation_Sigmoid, activations.Linear: Activation_Linear,
    losses.CategoricalCrossentropy: Loss_CategoricalCrossentropy,
    losses.BinaryCrossentropy: Loss_BinaryCrossentropy,
    losses.MeanSquaredError: Loss_MeanSquaredError,
    losses.MeanAbsoluteError: Loss_MeanAbsoluteError,
    optimizers.SGD: Optimizer_SGD, optimizers.Adagrad: Optimizer_Adagrad,
    optimizers.RMSprop: Optimizer_RMSprop, optimizers.Adam: Optimizer_Adam,
    metrics.CategoricalAccuracy: Accuracy_Categorical,
    metrics.BinaryAccuracy: Accuracy_Categorical, metrics.RegressionAccuracy: Accuracy_Regression,
}
_BOOK_CLASSES = frozenset(_ADAPTERS.values())
