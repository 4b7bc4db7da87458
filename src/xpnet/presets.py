"""The book's chapter models as named, overridable configurations.

``run(get("ch15"), seed="nnfs")`` trains chapter 15's network exactly as the book's script
does (same data, draw order, arithmetic and loop), reporting each logged epoch to a callback.
``xpnet train --preset ch15 --seed nnfs`` prints the book's lines from it.

Loop styles: chapters 14-17 run ``for epoch in range(epochs + 1)`` and print *before* the
update (so the printed ``lr`` is the previous step's); chapter 18's ``Model.train`` runs
epochs ``1..epochs`` and prints *after* it. ``epochs`` keeps each chapter's meaning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from . import datasets, validate
from .model import History, Model
from .nn.activations import Linear, ReLU, Sigmoid, Softmax
from .nn.layers import Dense, Dropout
from .nn.losses import BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError
from .nn.metrics import BinaryAccuracy, CategoricalAccuracy, RegressionAccuracy
from .nn.optimizers import Adam
from .random import Generator, SeedLike, as_generator

__all__ = ["PRESETS", "SETTINGS", "Preset", "Run", "build", "draw_data", "get", "run"]


@dataclass(frozen=True)
class Preset:
    """A chapter's network, data and loop. Every field can be overridden (``--set k=v``)."""

    name: str
    task: str  # "classification" | "binary" | "regression"
    train_samples: int
    test_samples: int
    classes: int
    hidden: int
    hidden_layers: int
    l2: float  # weight and bias L2 on the first Dense layer
    dropout: float
    lr: float
    decay: float
    epochs: int
    init_scale: float
    loop: str  # "book" (range(epochs + 1), log before update) | "model" (1..epochs, after)
    test_data: str  # "after" training (ch14-16) | "before" building the model (ch18) | "none"
    log_every: int = 100
    batch_size: int = 0  # 0: full batch
    l1: float = 0.0  # weight and bias L1 on the first Dense layer (no chapter model uses it)

    def with_overrides(self, overrides: dict[str, str]) -> Preset:
        """A copy with fields set from strings (``{"lr": "0.01"}``), checked by type and
        range (:data:`SETTINGS`).

        Raises
        ------
        ValueError
            For an unknown setting, a value of the wrong type or out of range.
        """
        kinds = {f.name: f.type for f in fields(self)}
        values: dict[str, Any] = {}
        for key, raw in overrides.items():
            if key not in SETTINGS:
                msg = (f"unknown preset setting {key!r}."
                       f"{validate.did_you_mean(key, SETTINGS)} Settings are: "
                       f"{', '.join(sorted(SETTINGS))}.")
                raise ValueError(msg)
            value = _parse(key, raw, str(kinds[key]), getattr(self, key))
            test, expected = SETTINGS[key]
            if not test(value):
                msg = (f"setting {key}={raw!r}: expected {expected}. For example: --set "
                       f"{key}={getattr(self, key)} (the preset's own value).")
                raise ValueError(msg)
            values[key] = value
        p = replace(self, **values)
        for problem, fix in (
            (p.task == "classification" and p.classes < 2, "--set classes=3"),
            (p.task == "binary" and p.classes != 2, "--set classes=2"),
            (p.task == "regression" and "classes" in values and p.classes != 1,
             "leave classes out (or --set task=classification)"),
            (p.test_data != "none" and p.test_samples < 1, "--set test_samples=100"),
        ):
            if problem:
                msg = (f"settings task={p.task!r}, classes={p.classes}, test_data="
                       f"{p.test_data!r}, test_samples={p.test_samples} do not fit together: "
                       "a classifier needs 2 classes or more (a binary one exactly 2), a "
                       "regression has none to set, and a test set at least 1 sample. For "
                       f"example: {fix}.")
                raise ValueError(msg)
        return p


def _parse(key: str, raw: str, kind: str, example: Any) -> Any:
    """``raw`` as the setting's type (``"1e3"`` is an integer; ``"1.5"`` is not)."""
    try:
        if kind == "str":
            return raw
        number = float(raw)
        if kind == "float":
            return number
        if number.is_integer():
            return int(number)
    except (ValueError, OverflowError):
        pass
    what = {"int": "an integer", "float": "a number"}[kind]
    msg = f"setting {key}={raw!r}: expected {what}. For example: --set {key}={example}."
    raise ValueError(msg)


def _finite(test: Callable[[float], bool]) -> Callable[[float], bool]:
    return lambda v: math.isfinite(v) and test(v)


#: Every setting ``--set`` can change: a test of its value and what the test wants.
SETTINGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task": (lambda v: v in ("classification", "binary", "regression"),
             "one of classification, binary, regression"),
    "train_samples": (lambda v: v >= 1, "an integer >= 1"),
    "test_samples": (lambda v: v >= 0, "an integer >= 0"),
    "classes": (lambda v: v >= 1, "an integer >= 1"),
    "hidden": (lambda v: v >= 1, "an integer >= 1"),
    "hidden_layers": (lambda v: v >= 0, "an integer >= 0"),
    "l2": (_finite(lambda v: v >= 0), "a number >= 0"),
    "l1": (_finite(lambda v: v >= 0), "a number >= 0"),
    "dropout": (_finite(lambda v: 0 <= v < 1), "a number in [0, 1)"),
    "lr": (_finite(lambda v: v > 0), "a number > 0"),
    "decay": (_finite(lambda v: v >= 0), "a number >= 0"),
    "epochs": (lambda v: v >= 0, "an integer >= 0"),
    "init_scale": (_finite(lambda v: v > 0), "a number > 0"),
    "loop": (lambda v: v in ("book", "model"), "book or model"),
    "test_data": (lambda v: v in ("after", "before", "none"), "one of after, before, none"),
    "log_every": (lambda v: v >= 0, "an integer >= 0 (0 logs nothing)"),
    "batch_size": (lambda v: v >= 0, "an integer >= 0 (0: full batch)"),
}


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("ch14", "classification", 100, 100, 3, 64, 1, 5e-4, 0.0, 0.02, 5e-7, 10000,
               0.01, "book", "after"),
        Preset("ch15", "classification", 1000, 100, 3, 64, 1, 5e-4, 0.1, 0.05, 5e-5, 10000,
               0.01, "book", "after"),
        Preset("ch16", "binary", 100, 100, 2, 64, 1, 5e-4, 0.0, 0.001, 5e-7, 10000,
               0.01, "book", "after"),
        Preset("ch17", "regression", 1000, 0, 1, 64, 2, 0.0, 0.0, 0.005, 1e-3, 10000,
               0.1, "book", "none"),
        Preset("ch18", "classification", 1000, 100, 3, 512, 1, 5e-4, 0.1, 0.05, 5e-5, 10000,
               0.01, "model", "before"),
    )
}


def get(name: str) -> Preset:
    """The preset called ``name`` (``ch14`` ... ``ch18``)."""
    try:
        return PRESETS[name]
    except KeyError:
        msg = (f"unknown preset {name!r}.{validate.did_you_mean(str(name), PRESETS)} "
               f"Presets are: {', '.join(PRESETS)}.")
        raise ValueError(msg) from None


def draw_data(p: Preset, samples: int, rng: Generator, backend: Any,
              faithful: bool = False, iid: bool = False) -> tuple[Any, Any]:
    """A chapter's data: ``samples`` per class of spiral (labels as a column for the binary
    chapter; ``iid``: random radii, see :func:`~xpnet.datasets.spiral`), or the sine data
    for regression (float64 in faithful mode, as nnfs makes it)."""
    if p.task == "regression":
        # the nnfs package's sine data is float64; the default mode trains in float32
        return datasets.sine(samples, backend=backend,
                             dtype="float64" if faithful else "float32")
    X, y = datasets.spiral(samples, p.classes, seed=rng, backend=backend, iid=iid)
    if p.task == "binary":
        y = y[:, None]  # the book's y.reshape(-1, 1)
    return X, y


def _preset(p: Preset | str) -> Preset:
    """``p``, or the preset it names (``"ch14"``)."""
    if isinstance(p, str):
        return get(p)
    if not isinstance(p, Preset):
        msg = (f"expected a preset (its name, e.g. 'ch15', or presets.get('ch15')), got "
               f"{validate.describe(p)}.")
        raise TypeError(msg)
    return p


def build(p: Preset | str, *, backend: Any = "numpy", seed: SeedLike = 0,
          fast: bool | str = "auto", dropout_masks: str = "auto") -> tuple[Model, tuple, Any]:
    """Draw the training data and build the model in the book's order (``p``: a preset or
    its name; ``fast`` and ``dropout_masks``: see :class:`~xpnet.Model`).

    Returns ``(model, (X, y), test)``, where ``test`` is the test data when the chapter
    draws it before building the model (ch18), else a function drawing it later (or None).
    """
    p = _preset(p)
    rng = as_generator(seed)
    model = Model(backend=backend, seed=rng, fast=fast, dropout_masks=dropout_masks)
    faithful = model.precision == "nnfs"
    train = draw_data(p, p.train_samples, rng, model.backend, faithful)
    test: Any = None
    if p.test_data == "before":
        test = draw_data(p, p.test_samples, rng, model.backend, faithful)
    elif p.test_data == "after":
        def test() -> tuple:
            return draw_data(p, p.test_samples, rng, model.backend, faithful)

    n_in = 1 if p.task == "regression" else 2
    n_out = {"classification": p.classes, "binary": 1, "regression": 1}[p.task]
    width = n_in
    for i in range(p.hidden_layers):
        l1, l2 = (p.l1, p.l2) if i == 0 else (0.0, 0.0)
        model.add(Dense(width, p.hidden, weight_l1=l1, bias_l1=l1, weight_l2=l2, bias_l2=l2,
                        init_scale=p.init_scale))
        model.add(ReLU())
        if p.dropout:
            model.add(Dropout(p.dropout))
        width = p.hidden
    model.add(Dense(width, n_out, init_scale=p.init_scale))
    if p.task == "classification":
        model.add(Softmax())
        model.set(loss=CategoricalCrossentropy(), accuracy=CategoricalAccuracy(),
                  optimizer=Adam(learning_rate=p.lr, decay=p.decay))
    elif p.task == "binary":
        model.add(Sigmoid())
        model.set(loss=BinaryCrossentropy(), accuracy=BinaryAccuracy(),
                  optimizer=Adam(learning_rate=p.lr, decay=p.decay))
    else:
        model.add(Linear())
        model.set(loss=MeanSquaredError(), accuracy=RegressionAccuracy(),
                  optimizer=Adam(learning_rate=p.lr, decay=p.decay))
    return model, train, test


@dataclass
class Run:
    """The outcome of :func:`run`: the model, its history and the final validation."""

    model: Model
    history: History
    validation: dict[str, float] | None
    preset: Preset

    def to_dict(self) -> dict[str, Any]:
        return {"preset": asdict(self.preset), "history": self.history.to_dict(),
                "validation": self.validation}


def run(
    p: Preset | str,
    *,
    backend: Any = "numpy",
    seed: SeedLike = 0,
    epochs: int | None = None,
    log_every: int | None = None,
    callback: Callable[[Model, int, dict], Any] | None = None,
    fast: bool | str = "auto",
) -> Run:
    """Train preset ``p`` (or the one it names) with the chapter's loop and evaluate it as
    the chapter does (``fast``: the backend's fused kernels, see :class:`~xpnet.Model`)."""
    p = _preset(p)
    if epochs is not None:
        p = replace(p, epochs=validate.non_negative_int("epochs", epochs))
    if log_every is not None:
        p = replace(p, log_every=validate.non_negative_int("log_every", log_every))
    model, (X, y), test = build(p, backend=backend, seed=seed, fast=fast)
    book_loop = p.loop == "book"
    history = model.train(
        X, y,
        epochs=p.epochs + 1 if book_loop else p.epochs,
        start_epoch=0 if book_loop else 1,
        log_before_update=book_loop,
        log_every=p.log_every or None,
        batch_size=p.batch_size or None,
        callbacks=[callback] if callback else (),
    )
    validation = None
    if callable(test):
        test = test()
    if test is not None:
        validation = model.evaluate(*test)
        history.validation = validation
    return Run(model, history, validation, p)
