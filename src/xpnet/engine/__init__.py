"""Engines: how the maths runs, chosen once per model and per training run.

The maths (:mod:`xpnet.nn`) asks ``layer.ops`` for a few named operations. Which object
answers is decided here, never inside a layer:

==========  =====================================================================
plain       :class:`xpnet.nn.ops.Ops`: pure Array API, any namespace; explain mode
faithful    :class:`~xpnet.engine.faithful.FaithfulOps`: the book's precision flow
buffered    :class:`~xpnet.engine.buffered.BufferedOps`: reused buffers, in place
            (NumPy and CuPy, while training)
fused       :class:`~xpnet.engine.fused.FusedOps`: each optimizer update as one kernel
            (``fast``, the default on CuPy), and CUDA-graph replay of a step (``graph=True``)
step        :class:`~xpnet.engine.step.WholeStep`: forward and backward of the book's
            ``Dense → ReLU → [Dropout] → Dense → Softmax`` networks as three kernels, the
            hidden layer never stored (with the fused kernels, CuPy)
many        :class:`~xpnet.many.ManyModels`: M copies with a model axis
==========  =====================================================================

Dropout masks come from the host stream or, with ``dropout_masks="counter"`` (the default
on CuPy, :func:`mask_source`), from Philox4x32-10 on the device: :mod:`xpnet.philox` in
Array API operations on any namespace, :mod:`~xpnet.engine.masks` as one CUDA kernel.

A model's own engine (:func:`for_model`) serves ``predict`` and ``evaluate``; a training run
lends each layer the engine of its steps (:func:`training_views`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from .. import trace, validate
from ..backend import Backend
from ..nn.ops import Ops
from . import buffered, faithful, fused, masks, rules, step
from .faithful import FaithfulOps

__all__ = ["DROPOUT_MASKS", "buffered", "faithful", "for_model", "fused", "lend",
           "mask_source", "masks", "rules", "step", "train_step", "training_views",
           "whole_step", "whole_step_applies"]

log = logging.getLogger(__name__)

#: What ``Model(dropout_masks=...)`` accepts: ``"auto"`` (counter-based on CuPy, the host
#: stream elsewhere and always in faithful mode), ``"host"`` or ``"counter"``.
DROPOUT_MASKS = ("auto", "host", "counter")


def mask_source(choice: Any, backend: Backend, precision: str) -> str:
    """Where a model's dropout masks come from, ``"host"`` or ``"counter"``, for the choice
    ``dropout_masks`` (one of :data:`DROPOUT_MASKS`).

    ``"auto"`` draws them on the device with Philox (:mod:`xpnet.philox`) on CuPy, where a
    host-drawn mask costs a copy to the GPU every step, and on the host everywhere else,
    where the host stream is the faster one and gives the figures of earlier runs. Faithful
    mode keeps the book's stream: asking it for counter-based masks is an error.

    >>> from xpnet.backend import resolve
    >>> mask_source("auto", resolve("numpy"), "default")
    'host'
    """
    if choice not in DROPOUT_MASKS:
        msg = (f"dropout_masks must be one of {', '.join(repr(c) for c in DROPOUT_MASKS)}, "
               f"got {validate.describe(choice)}: 'host' draws the masks from the model's "
               "random stream on the host, 'counter' computes them on the device (Philox), "
               "'auto' picks 'counter' on CuPy and 'host' elsewhere.")
        raise ValueError(msg)
    if precision == "nnfs":
        if choice == "counter":
            msg = ("dropout_masks='counter' cannot be combined with faithful mode: the book's "
                   "masks are the host stream's binomial draws. Drop dropout_masks, or use an "
                   "integer seed.")
            raise ValueError(msg)
        return "host"
    if choice == "auto":
        return "counter" if backend.name == "cupy" else "host"
    return str(choice)


def for_model(backend: Backend, precision: str, dtype: str, masks: str = "host") -> Ops:
    """A model's engine: the book's arithmetic (``precision="nnfs"``, host masks) or the
    plain one, drawing dropout masks from ``masks`` (see :func:`mask_source`)."""
    return FaithfulOps(backend, dtype) if precision == "nnfs" else Ops(backend, masks=masks)


def training_views(base: Ops, layers: Sequence[Any], loss: Any,
                   kernels: fused.Kernels | None = None) -> list[Ops]:
    """The engine each layer computes with during a training step.

    ``base`` itself while explain mode records (it must see every array the maths forms),
    in faithful mode, and on namespaces without ``out=``; else buffered engines, fused when
    ``kernels`` are given.
    """
    if trace.ACTIVE is not None or type(base) is not Ops or base.backend.native is None:
        return [base] * len(layers)
    if kernels is not None:
        return buffered.views(base, layers, loss, fused.FusedOps, kernels=kernels)
    return buffered.views(base, layers, loss)


def whole_step_applies(base: Ops, layers: Sequence[Any], loss: Any,
                       kernels: fused.Kernels | None) -> bool:
    """Whether a training run trains with the whole-step engine (:mod:`~xpnet.engine.step`):
    it needs the fused kernels of a backend that compiles its own (CuPy), the plain engine
    (not faithful mode), no explain mode recording, and a model :func:`step.plan` accepts."""
    return trace.ACTIVE is None and type(base) is Ops and kernels is not None and \
        step.shape_for(list(layers), loss, base.masks, kernels) is not None


def whole_step(base: Ops, layers: Sequence[Any], loss: Any, kernels: fused.Kernels | None,
               *, graph: bool = False) -> step.WholeStep | None:
    """The whole-step engine for a training run, or None where the layers compute one by
    one (see :func:`whole_step_applies`); for a recorded graph with ``graph``."""
    if kernels is None or not whole_step_applies(base, layers, loss, kernels):
        return None
    shape = step.shape_for(list(layers), loss, base.masks, kernels)
    assert shape is not None
    return step.WholeStep(shape, base.backend, kernels, device_position=graph)


def train_step(model: Any, views: Sequence[Ops], whole: step.WholeStep | None, X: Any,
               y: Any) -> tuple[Any, step.WholeStep | None]:
    """One training step of ``model`` (forward, backward and every update; the optimizer's
    pre/post calls are the caller's): on the whole-step engine ``whole`` when there is one,
    else layer by layer with ``views``. Returns the forward pass's output and the whole step
    to use next: None once its kernels failed on their first step (the model is left as it
    was, a warning is logged, and the layers compute this step and the next ones)."""
    output = None
    with lend(model.layers, views):
        if whole is not None:  # forward and backward (and the update) as a few kernels
            try:
                output = whole(X, y, model.optimizer)
            except step.Unavailable as exc:
                log.warning("%s; the model trains layer by layer", exc)
                whole = None
        if output is None:
            output = model.forward(X, training=True)
            model.backward(output, y)
        if whole is None or not whole.updated:
            model.optimizer.update_layers(model.trainable_layers)
    return output, whole


@contextlib.contextmanager
def lend(layers: Sequence[Any], views: Sequence[Ops]) -> Iterator[None]:
    """Let each layer compute with its view for the duration of a training step, then give
    it its own engine back (so nothing outside a step ever sees a reused buffer)."""
    own: list[Any] = [getattr(layer, "ops", None) for layer in layers]
    for layer, ops in zip(layers, views, strict=True):
        layer.ops = ops
    try:
        yield
    finally:
        for layer, ops in zip(layers, own, strict=True):
            layer.ops = ops
