"""The maths of the book, in plain Array API code: layers, activations, losses, optimizers
and accuracies, and the named operations they ask of an engine (:mod:`xpnet.nn.ops`).

>>> from xpnet.nn import Dense, ReLU, Softmax, CategoricalCrossentropy, Adam
"""

from __future__ import annotations

from . import activations, layers, losses, metrics, ops, optimizers
from .activations import Linear, ReLU, Sigmoid, Softmax
from .layers import Dense, Dropout, Layer
from .losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossentropy,
)
from .metrics import Accuracy, BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from .optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop

__all__ = [
    "SGD", "Accuracy", "Adagrad", "Adam", "BinaryAccuracy", "BinaryCrossentropy",
    "CategoricalAccuracy", "CategoricalCrossentropy", "Dense", "Dropout", "Layer", "Linear",
    "Loss", "MeanAbsoluteError", "MeanSquaredError", "Optimizer", "RMSprop", "ReLU",
    "RegressionAccuracy", "Sigmoid", "Softmax", "SoftmaxCrossentropy", "activations",
    "layers", "losses", "metrics", "ops", "optimizers",
]
