"""One registry per family of classes (layers, losses, optimizers, accuracies), by name.

A saved model names its parts by class name (:mod:`xpnet.io`); loading looks the names up
here. A base class opts in by subclassing :class:`Registered`, which gives it its own
``registry``; every subclass, built in or written by a user, is then listed in it.

>>> class Shape(Registered): pass
>>> class Circle(Shape): pass
>>> Shape.registry["Circle"] is Circle, "Circle" in Registered.registry
(True, False)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Registered"]


class Registered:
    """Mixin: a direct subclass starts a registry; its subclasses are listed in it."""

    registry: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if Registered in cls.__bases__:
            cls.registry = {}  # a new family (Layer, Loss, ...)
            return
        held = cls.registry.get(cls.__name__)
        if held is not None and _builtin(held) and not _builtin(cls):
            # a user's class named like a built-in (a notebook's own Softmax) must not
            # replace it: every model file naming the built-in would load the user's class
            return
        cls.registry[cls.__name__] = cls


def _builtin(cls: type) -> bool:
    """Whether ``cls`` is one of xpnet's own classes."""
    return cls.__module__.split(".")[0] == "xpnet"
