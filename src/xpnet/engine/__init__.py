"""Engines: how the maths runs, chosen once per model and per training run.

The maths (:mod:`xpnet.nn`) asks ``layer.ops`` for a few named operations. Which object
answers is decided here, never inside a layer:

==========  =====================================================================
plain       :class:`xpnet.nn.ops.Ops`: pure Array API, any namespace; explain mode
faithful    :class:`~xpnet.engine.faithful.FaithfulOps`: the book's precision flow
buffered    :class:`~xpnet.engine.buffered.BufferedOps`: reused buffers, in place
            (NumPy and CuPy, while training)
fused       :class:`~xpnet.engine.fused.FusedOps`: each optimizer update as one kernel
            (``fast=True``), and CUDA-graph replay of a step (``graph=True``)
many        :class:`~xpnet.many.ManyModels`: M copies with a model axis
==========  =====================================================================

A model's own engine (:func:`for_model`) serves ``predict`` and ``evaluate``; a training run
lends each layer the engine of its steps (:func:`training_views`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from .. import trace
from ..backend import Backend
from ..nn.ops import Ops
from . import buffered, faithful, fused, rules
from .faithful import FaithfulOps

__all__ = ["buffered", "faithful", "for_model", "fused", "lend", "rules", "training_views"]


def for_model(backend: Backend, precision: str, dtype: str) -> Ops:
    """A model's engine: the book's arithmetic (``precision="nnfs"``) or the plain one."""
    return FaithfulOps(backend, dtype) if precision == "nnfs" else Ops(backend)


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
