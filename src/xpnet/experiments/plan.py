"""Trials and grids: what a study runs.

A :class:`Trial` is one training run, fully described by its fields (so a stored result can
be found again by its key). Studies are lists of trials; trials shared by two studies (the
chapter's own setting appears in every grid) have the same key and run once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .. import presets

__all__ = ["GRIDS", "STUDIES", "Trial", "kept_epochs", "log_epochs", "plan"]

STUDIES = ("samples", "epochs", "lr")
#: The presets a study can start from (classifiers, whose samples come per class).
LAB_PRESETS = tuple(name for name, p in presets.PRESETS.items() if p.task != "regression")

#: Default and --quick grids. Sample counts are per class, as in the book.
GRIDS: dict[str, dict[str, Any]] = {
    "default": {
        "seeds": 10,
        "train_samples": (30, 100, 300, 1000, 3000),
        "test_samples": (10, 30, 100, 300, 1000, 10000),
        "test_repeats": 5,
        "epochs": 10000,
        "long_epochs": 30000,
        "lr": (1e-4, 1e-3, 1e-2, 0.05, 0.2, 1.0),
    },
    "quick": {
        "seeds": 3,
        "train_samples": (30, 100, 300, 1000),
        "test_samples": (10, 100, 1000),
        "test_repeats": 3,
        "epochs": 1500,
        "long_epochs": 3000,
        "lr": (1e-3, 1e-2, 0.05, 0.5),
    },
}


def log_epochs(last: int, points: int = 24) -> tuple[int, ...]:
    """About ``points`` log-spaced epochs from 1 to ``last`` (``last`` included)."""
    raw = np.unique(np.round(np.logspace(0, np.log10(max(last, 1)), points)).astype(int))
    return tuple(int(e) for e in raw if 1 <= e <= last) + (() if last in raw else (last,))


#: The first epoch whose model the epochs study keeps (the boundary figure's "early" panel).
EARLY = 100
#: About this many kept models per run of the epochs study: the explorer animates them.
FRAMES = 8


def kept_epochs(log_at: tuple[int, ...], last: int) -> tuple[int, ...]:
    """The epochs of a long run whose models are kept: :data:`EARLY`, about :data:`FRAMES`
    log-spaced logged epochs after it, and ``last``.

    >>> kept_epochs(log_epochs(3000, 40), 3000)
    (100, 138, 208, 314, 473, 713, 1075, 1621, 2443, 3000)
    """
    early = min(EARLY, last)
    later = [e for e in log_at if early < e < last]
    step = max(1, round(len(later) / (FRAMES - 1)))
    return tuple(sorted({early, *later[step - 1::step], last}))


@dataclass(frozen=True)
class Trial:
    """One training run of a preset with some settings changed.

    Attributes
    ----------
    preset : str
        The chapter model (``ch15`` by default in the studies).
    seed : int
        Seeds the training data, the initial weights and dropout (one stream), and, through
        a separate stream, the validation and test sets.
    train_samples : int
        Training samples per class.
    lr : float
        Adam's initial learning rate.
    epochs : int
        Training epochs.
    log_at : tuple of int
        Epochs at which train (without dropout) and validation metrics are recorded.
    validation_samples : int
        Per class, in the validation set evaluated at every logged epoch.
    test_samples : tuple of int
        Per-class sizes of the fresh test sets evaluated once, after training.
    test_repeats : int
        How many independent test sets of each size.
    iid_test : bool
        Also measure on test sets whose points are i.i.d. (spiral radii drawn at random,
        split ``"test_iid"``), beside the book's evenly spaced ones, to show what the
        book's sampling does to the spread of a small test set's accuracy.
    snapshots : tuple of int
        Epochs at which the model's parameters are kept (for decision-boundary plots).
    backend : str
        Array backend.
    """

    preset: str = "ch15"
    seed: int = 0
    train_samples: int = 1000
    lr: float = 0.05
    epochs: int = 10000
    log_at: tuple[int, ...] = ()
    validation_samples: int = 100
    test_samples: tuple[int, ...] = ()
    test_repeats: int = 0
    iid_test: bool = False
    snapshots: tuple[int, ...] = ()
    backend: str = "numpy"
    studies: tuple[str, ...] = field(default=(), compare=False)

    @property
    def config(self) -> dict:
        """Everything that determines the result (not which studies asked for it)."""
        data = asdict(self)
        data.pop("studies")
        return data

    @property
    def key(self) -> str:
        """A stable identifier of the configuration and seed."""
        text = json.dumps(self.config, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def plan(
    studies: tuple[str, ...] | list[str],
    *,
    preset: str = "ch15",
    grid: str = "default",
    seeds: int | None = None,
    train_samples: tuple[int, ...] | None = None,
    test_samples: tuple[int, ...] | None = None,
    epochs: int | None = None,
    long_epochs: int | None = None,
    lr: tuple[float, ...] | None = None,
    backend: str = "numpy",
) -> list[Trial]:
    """The trials of ``studies`` ("samples", "epochs", "lr"), deduplicated.

    The base setting is the preset's (``ch15``: 1000 training samples per class, lr 0.05);
    each study varies one thing, over ``seeds`` seeds.
    """
    for study in studies:
        if study not in STUDIES:
            msg = f"unknown study {study!r}; studies are {', '.join(STUDIES)} (or 'all')."
            raise ValueError(msg)
    g = GRIDS[grid]
    p = presets.get(preset)
    if p.task == "regression":
        msg = (f"the experiment lab studies the spiral classifiers; {preset!r} is a regression "
               f"model. Choose one of {', '.join(LAB_PRESETS)}.")
        raise ValueError(msg)
    n_seeds = seeds or g["seeds"]
    sizes = train_samples or g["train_samples"]
    tests = test_samples or g["test_samples"]
    n_epochs = epochs or g["epochs"]
    n_long = long_epochs or g["long_epochs"]
    lrs = lr or g["lr"]
    base = Trial(preset=preset, train_samples=p.train_samples, lr=p.lr, epochs=n_epochs,
                 log_at=log_epochs(n_epochs), validation_samples=p.test_samples,
                 test_samples=tuple(tests), test_repeats=g["test_repeats"], iid_test=True,
                 snapshots=(n_epochs,), backend=backend)
    trials: dict[str, Trial] = {}

    def add(trial: Trial, study: str) -> None:
        old = trials.get(trial.key)
        studies_of = (old.studies if old else ()) + (study,)
        trials[trial.key] = replace(trial, studies=studies_of)

    for seed in range(n_seeds):
        if "samples" in studies:
            for n in sizes:
                add(replace(base, seed=seed, train_samples=n), "samples")
        if "lr" in studies:
            for rate in lrs:
                add(replace(base, seed=seed, lr=float(rate)), "lr")
        if "epochs" in studies:
            log_at = log_epochs(n_long, 40)
            add(replace(base, seed=seed, epochs=n_long, log_at=log_at,
                        snapshots=kept_epochs(log_at, n_long)), "epochs")
    return list(trials.values())
