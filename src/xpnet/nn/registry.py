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

import inspect
from typing import Any, ClassVar

__all__ = ["Registered", "init_arguments", "is_builtin"]


class Registered:
    """Mixin: a direct subclass starts a registry; its subclasses are listed in it."""

    registry: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if Registered in cls.__bases__:
            cls.registry = {}  # a new family (Layer, Loss, ...)
            return
        held = cls.registry.get(cls.__name__)
        if held is not None and is_builtin(held) and not is_builtin(cls):
            # a user's class named like a built-in (a notebook's own Softmax) must not
            # replace it: every model file naming the built-in would load the user's class
            return
        cls.registry[cls.__name__] = cls

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable, for saving the architecture: by default
        each argument of ``__init__`` read from the attribute of its name (a class that keeps
        them otherwise defines its own)."""
        return init_arguments(self)[0]


def init_arguments(obj: Any) -> tuple[dict[str, Any], list[str]]:
    """The arguments of ``type(obj).__init__`` that ``obj`` keeps as attributes of their own
    names (``self.alpha = alpha``), with their values, and the names of those it does not.

    >>> class Leaky(Registered):
    ...     def __init__(self, alpha=0.1, beta=2):
    ...         self.alpha, self.b = alpha, beta
    >>> init_arguments(Leaky(0.05))
    ({'alpha': 0.05}, ['beta'])
    """
    init = type(obj).__init__
    if init is object.__init__:
        return {}, []
    kept = vars(obj)
    found: dict[str, Any] = {}
    missing: list[str] = []
    for name, p in list(inspect.signature(init).parameters.items())[1:]:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            if name in kept:
                found[name] = kept[name]
            else:
                missing.append(name)
    return found, missing


def is_builtin(cls: type) -> bool:
    """Whether ``cls`` is one of xpnet's own classes."""
    return cls.__module__.split(".")[0] == "xpnet"
