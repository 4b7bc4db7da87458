"""The tiny network that explain mode trains, the optimizer each topic uses, and which of the
book's classes compute each topic's values (the faithful-mode oracle)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import datasets, presets, validate
from ..model import Model
from ..nn.activations import ReLU, Softmax
from ..nn.layers import Dense, Dropout
from ..nn.losses import CategoricalCrossentropy
from ..nn.optimizers import SGD, Adagrad, Adam, RMSprop
from ..random import SeedLike, as_generator

__all__ = ["BOOK_CLASSES", "OPTIMIZERS", "TOPICS", "faithful_note", "fit_preset", "known_topic",
           "tiny_model"]

OPTIMIZERS: dict[str, Callable[[], Any]] = {
    "adam": lambda: Adam(learning_rate=0.05, decay=5e-5),
    "sgd": lambda: SGD(learning_rate=0.5, decay=1e-3, momentum=0.9),
    "rmsprop": lambda: RMSprop(learning_rate=0.02, decay=1e-4, rho=0.9),
    "adagrad": lambda: Adagrad(learning_rate=0.5, decay=1e-4),
}
TOPICS = ("adam", "softmax", "dense", "sgd", "rmsprop", "adagrad", "relu", "dropout", "loss")

#: the classes of the book (xpnet.bench.nnfs_book) that compute what each topic shows
BOOK_CLASSES: dict[str, tuple[str, ...]] = {
    "adam": ("Optimizer_Adam",),
    "sgd": ("Optimizer_SGD",),
    "rmsprop": ("Optimizer_RMSprop",),
    "adagrad": ("Optimizer_Adagrad",),
    "softmax": ("Activation_Softmax", "Loss_CategoricalCrossentropy",
                "Activation_Softmax_Loss_CategoricalCrossentropy"),
    "dense": ("Layer_Dense", "Loss.regularization_loss"),
    "relu": ("Activation_ReLU",),
    "dropout": ("Layer_Dropout",),
    "loss": ("Loss_CategoricalCrossentropy",
             "Activation_Softmax_Loss_CategoricalCrossentropy"),
}


#: The most steps one explanation, plot or parameter trace records (it keeps every value).
MAX_STEPS = 20_000


def known_topic(topic: Any) -> None:
    """Raise a ValueError naming the topics (and the near miss) unless ``topic`` is one."""
    if topic not in TOPICS:
        msg = (f"unknown topic {topic!r}.{validate.did_you_mean(str(topic), TOPICS)} Topics "
               f"are: {', '.join(TOPICS)}.")
        raise ValueError(msg)


def check_steps(steps: Any, name: str = "steps") -> int:
    """``steps`` as a positive integer of at most :data:`MAX_STEPS`, else a clear error."""
    steps = validate.positive_int(name, steps)
    if steps > MAX_STEPS:
        msg = (f"{name} must be at most {MAX_STEPS:,}, got {steps:,}: explain mode keeps every "
               "value of every step in memory (tens of kilobytes a step on the tiny network, "
               "far more on a preset's). To watch a long run, train it (xpnet train) and "
               "explain a few of its steps.")
        raise ValueError(msg)
    return steps


def faithful_note(topic: str, seed: SeedLike) -> str:
    """One paragraph: in faithful mode the values are the book's own, and how that is shown."""
    classes = ", ".join(f"`{c}`" for c in BOOK_CLASSES[topic])
    mode = ("This run is in faithful mode (--seed nnfs): " if seed == "nnfs" else
            "Run with --seed nnfs for faithful mode: ")
    return (mode + f"every value is then bit for bit what the book's own {classes} "
            f"{'computes' if len(BOOK_CLASSES[topic]) == 1 else 'compute'} "
            "from the same inputs (after nnfs.init(), whose np.dot is float64 products cast "
            "to float32); tests/test_explain_faithful.py feeds the book's classes the "
            "recorded inputs and compares with ==.")


def tiny_model(topic: str, backend: Any, seed: SeedLike) -> tuple[Model, Any, Any]:
    """A network small enough to print: 6 spiral points (two per arm, off the centre, where
    every arm starts at the origin), 2 -> 4 -> 3."""
    rng = as_generator(seed)
    X, y = datasets.spiral(3, 3, seed=rng, backend=backend)
    model = Model(backend=backend, seed=rng)
    keep = model.backend.asarray(np.array([1, 2, 4, 5, 7, 8]), dtype=model.backend.xp.int64)
    xp = model.backend.xp
    X, y = xp.take(X, keep, axis=0), xp.take(y, keep, axis=0)
    l1, l2 = (1e-3, 5e-3) if topic == "dense" else (0.0, 0.0)
    model.add(Dense(2, 4, init_scale=0.5))
    model.add(ReLU())
    if topic == "dropout":
        model.add(Dropout(0.25))
    model.add(Dense(4, 3, init_scale=0.5, weight_l1=l1, weight_l2=l2, bias_l1=l1, bias_l2=l2))
    model.add(Softmax())
    optimizer = OPTIMIZERS.get(topic, OPTIMIZERS["adam"])()
    model.set(loss=CategoricalCrossentropy(), optimizer=optimizer)
    return model, X, y


#: The layer each layer topic explains.
_LAYERS = {"softmax": "Softmax", "dense": "Dense", "relu": "ReLU", "dropout": "Dropout"}


def fit_preset(topic: str, preset: str, model: Model) -> str | None:
    """Make ``preset``'s model show ``topic``: an optimizer topic trains it with that
    optimizer (the tiny network's settings, :data:`OPTIMIZERS`) where the chapter uses
    another (every chapter's model trains with Adam), and returns the class name of the
    optimizer it replaced (None otherwise); a layer topic needs the layer, else a
    ValueError names the presets that have one."""
    if topic in OPTIMIZERS:
        replaced = type(model.optimizer).__name__
        if replaced != type(OPTIMIZERS[topic]()).__name__:
            assert model.loss is not None  # a preset's model is set
            model.set(loss=model.loss, optimizer=OPTIMIZERS[topic](), accuracy=model.accuracy)
            return replaced
        return None
    if topic == "loss":  # the page shows categorical cross-entropy's values
        if isinstance(model.loss, CategoricalCrossentropy):
            return None
        msg = (f"explain 'loss' shows what categorical cross-entropy computes, but preset "
               f"{preset!r} trains with {type(model.loss).__name__}. Leave out --preset (the "
               "tiny network uses it), or use " + _presets_where(
                   lambda m: isinstance(m.loss, CategoricalCrossentropy)) + ".")
        raise ValueError(msg)
    wanted = _LAYERS.get(topic)
    if wanted is None or any(type(layer).__name__ == wanted for layer in model.layers):
        return None
    msg = (f"explain {topic!r} shows what a {wanted} layer computes, but preset {preset!r} "
           "has none. Leave out --preset (the tiny network has one), or use " + _presets_where(
               lambda m: any(type(layer).__name__ == wanted for layer in m.layers)) + ".")
    raise ValueError(msg)


def _presets_where(fits: Callable[[Model], bool]) -> str:
    """``--preset A or --preset B``: the presets whose model ``fits`` (built small)."""
    return " or ".join(f"--preset {name}" for name, p in presets.PRESETS.items()
                       if fits(presets.build(dataclasses.replace(p, train_samples=1))[0]))
