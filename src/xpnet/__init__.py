"""xpnet: neural networks from scratch, written once on the Python Array API.

The same layers, losses and optimizers run on NumPy, CuPy, PyTorch, JAX and
array-api-strict; ``seed="nnfs"`` reproduces the book *Neural Networks from Scratch* number
for number.

The maths lives in :mod:`xpnet.nn`; its modules are also importable under their short names
(``xpnet.layers``, ``xpnet.activations``, ``xpnet.losses``, ``xpnet.optimizers``,
``xpnet.metrics``), which is how scripts and the docs name them.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"

from . import backend, datasets, engine, errors, nn, presets, random, trace
from .model import History, Model
from .nn import activations, layers, losses, metrics, optimizers

# the short names are the nn modules themselves (one module object each, not copies)
for _module in (activations, layers, losses, metrics, optimizers):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
del _module

__all__ = [
    "History",
    "Model",
    "__version__",
    "activations",
    "backend",
    "datasets",
    "engine",
    "errors",
    "layers",
    "losses",
    "metrics",
    "nn",
    "optimizers",
    "presets",
    "random",
    "trace",
]
