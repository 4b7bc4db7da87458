"""xpnet: neural networks from scratch, written once on the Python Array API.

The same layers, losses and optimizers run on NumPy, CuPy, PyTorch and array-api-strict;
``seed="nnfs"`` reproduces the book *Neural Networks from Scratch* number for number.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import (
    activations,
    backend,
    datasets,
    errors,
    layers,
    losses,
    metrics,
    optimizers,
    precision,
    presets,
    random,
)
from .model import History, Model

__all__ = [
    "History",
    "Model",
    "__version__",
    "activations",
    "backend",
    "datasets",
    "errors",
    "layers",
    "losses",
    "metrics",
    "optimizers",
    "precision",
    "presets",
    "random",
]
