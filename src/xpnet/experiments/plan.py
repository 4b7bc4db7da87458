"""Trials and grids: what a study runs.

A :class:`Trial` is one training run, fully described by its fields (so a stored result can
be found again by its key). Studies are lists of trials; trials shared by two studies (the
chapter's own setting appears in every grid) have the same key and run once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .. import datasets, presets, validate
from ..backend import BACKENDS

__all__ = ["ARMS", "GRIDS", "STUDIES", "Trial", "arm_of", "kept_epochs", "log_epochs", "plan",
           "preset_of", "refine_lr", "refined_around", "study_names"]

STUDIES = ("samples", "epochs", "lr", "regularizers")
#: The most seeds a study plans (each repeats every setting's training run).
MAX_SEEDS = 10_000
#: The presets a study can start from (classifiers, whose samples come per class).
LAB_PRESETS = tuple(name for name, p in presets.PRESETS.items() if p.task == "classification")

#: Default and --quick grids. Sample counts are per class, as in the book.
GRIDS: dict[str, dict[str, Any]] = {
    "default": {
        "seeds": 10,
        "train_samples": (30, 100, 300, 1000, 3000),
        "test_samples": (10, 30, 100, 300, 1000, 10000),
        "test_repeats": 5,
        "test_points": 2000,
        "epochs": 10000,
        "long_epochs": 30000,
        "lr": (1e-4, 1e-3, 1e-2, 0.05, 0.2, 1.0),
        "refine": 2,
        "epochs_samples": (30, 100, 300, 1000),
        "regularizer_samples": (100, 1000),
    },
    "quick": {
        "seeds": 3,
        "train_samples": (30, 100, 300, 1000),
        "test_samples": (10, 100, 1000),
        "test_repeats": 3,
        "test_points": 300,
        "epochs": 1500,
        "long_epochs": 3000,
        "lr": (1e-3, 1e-2, 0.05, 0.5),
        "refine": 1,
        "epochs_samples": (30, 1000),
        "regularizer_samples": (100, 1000),
    },
}

#: The regularizers study's arms: the chapter's own regularizers (dropout 0.1, L2 5e-4 on the
#: first layer's weights and biases, Adam's learning-rate decay 5e-5) switched off one at a
#: time, all together, and L1 in place of L2 (at the same strength). ``"book"`` is the preset.
ARMS: dict[str, dict[str, float]] = {
    "book": {},
    "no dropout": {"dropout": 0.0},
    "no L2": {"l2": 0.0},
    "no decay": {"decay": 0.0},
    "L1 for L2": {"l1": 5e-4, "l2": 0.0},
    "none": {"dropout": 0.0, "l2": 0.0, "decay": 0.0},
}
#: A trial's regularizer fields (None: the preset's value).
REGULARIZERS = ("dropout", "l2", "l1", "decay")


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
    test_points : int
        Per class, the points a size's test sets should add up to at least: a size ``n``
        gets ``max(test_repeats, ceil(test_points / n))`` sets (:meth:`repeats_at`). The
        small sets' mean then has the precision a bias of a point or two needs, at the cost
        of evaluating ``test_points`` samples per class. 0: ``test_repeats`` at every size.
    curve_test : int
        Per class, a fresh test set (a stream of its own) evaluated at every logged epoch,
        beside the validation set: the honest measure of an epoch chosen on validation
        (early stopping). 0: none.
    dropout, l2, l1, decay : float or None
        The regularizers (first layer's L2 and L1 on weights and biases, Adam's decay);
        None keeps the preset's. :data:`ARMS` names the regularizers study's choices.
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
    test_points: int = 0
    iid_test: bool = False
    snapshots: tuple[int, ...] = ()
    backend: str = "numpy"
    curve_test: int = 0
    dropout: float | None = None
    l2: float | None = None
    l1: float | None = None
    decay: float | None = None
    studies: tuple[str, ...] = field(default=(), compare=False)

    @property
    def config(self) -> dict:
        """Everything that determines the result (not which studies asked for it).

        Fields added later are left out while they keep their defaults, so that the key
        (and a stored study's results) of a trial that does not use them stays the same."""
        data = asdict(self)
        data.pop("studies")
        for name in ("curve_test", "test_points"):
            if not data[name]:
                del data[name]
        for name in REGULARIZERS:
            if data[name] is None:
                del data[name]
        return data

    def repeats_at(self, size: int) -> int:
        """How many independent test sets of ``size`` per class this trial measures."""
        return max(self.test_repeats, -(-self.test_points // size))

    @property
    def arm(self) -> str:
        """The regularizers' setting in words (:func:`arm_of`)."""
        return arm_of(self.config)

    @property
    def key(self) -> str:
        """A stable identifier of the configuration and seed."""
        text = json.dumps(self.config, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def preset_of(config: dict[str, Any]) -> presets.Preset:
    """The preset a trial's ``config`` trains: its preset with the trial's training samples,
    learning rate, epochs, validation size and regularizers."""
    p = presets.get(config["preset"])
    changes = {name: config[name] for name in REGULARIZERS if config.get(name) is not None}
    return replace(p, train_samples=config["train_samples"], lr=config["lr"],
                   epochs=config["epochs"],
                   test_samples=config.get("validation_samples", p.test_samples), **changes)


def arm_of(config: dict[str, Any]) -> str:
    """The name of a trial's regularizers in :data:`ARMS` (``"book"`` for the preset's own),
    or, for a mix no arm names, the changed values (``"dropout 0.2"``)."""
    changes = {name: config[name] for name in REGULARIZERS if config.get(name) is not None}
    for name, arm in ARMS.items():
        if changes == arm:
            return name
    return ", ".join(f"{k} {v:g}" for k, v in sorted(changes.items()))


def _values(name: str, values: Any, what: str, example: str) -> list[Any]:
    """``values`` as a list: a non-empty tuple, list or 1-d array of ``what``, not one
    number, a string, a dict or a 0-d array (``example`` shows a right value)."""
    listed = isinstance(values, (tuple, list)) or (isinstance(values, np.ndarray)
                                                    and values.ndim == 1)
    if not listed or not len(values):
        one = values.item() if isinstance(values, np.ndarray) and values.ndim == 0 else values
        fix = (f"pass {name}=({one!r},) for that one value, or e.g. {example}" if isinstance(
            one, (int, float)) and not isinstance(one, bool) else f"pass e.g. {example}")
        msg = f"{name} must be a tuple of {what}, got {validate.describe(values)}; {fix}."
        raise TypeError(msg)
    return list(values)


def _sizes(name: str, values: Any, classes: int) -> list[int]:
    """``values`` as a list of ints: refuse anything but a non-empty tuple (or list) of
    positive integers that one spiral draw of ``classes`` classes can hold
    (:data:`~xpnet.datasets.MAX_POINTS`)."""
    most = datasets.MAX_POINTS // classes
    sizes = [validate.positive_int(f"a size in {name}", value)
             for value in _values(name, values, "sizes per class", f"{name}=(10, 100)")]
    for size in sizes:
        if size > most:
            msg = (f"a size in {name} must be at most {most:,} samples per class (one draw of "
                   f"the preset's {classes} classes holds at most {datasets.MAX_POINTS:,} "
                   f"points), got {size:,}; ask for fewer, e.g. {name}=(10, 100, 1000).")
            raise ValueError(msg)
    return sizes


def study_names(studies: Any) -> list[str]:
    """The studies asked for: one name of :data:`STUDIES`, ``"all"``, or a non-empty tuple
    or list of names.

    >>> study_names("all")
    ['samples', 'epochs', 'lr', 'regularizers']
    """
    choices = f"{', '.join(repr(s) for s in STUDIES)} or 'all'"
    if isinstance(studies, str):  # one name, not its letters
        names = [studies]
    elif isinstance(studies, (tuple, list)):
        names = list(studies)
    else:
        msg = (f"studies must be a study's name ({choices}) or a list of them, got "
               f"{validate.describe(studies)}; pass e.g. 'lr' or ['samples', 'lr'].")
        raise TypeError(msg)
    if not names:
        msg = (f"studies is an empty {type(studies).__name__}: there is nothing to run. Name "
               f"at least one study ({choices}), e.g. 'lr' or ['samples', 'lr'].")
        raise ValueError(msg)
    for study in names:
        if study not in (*STUDIES, "all"):
            msg = (f"unknown study {study!r}; studies are {', '.join(STUDIES)} (or 'all').")
            raise ValueError(msg)
    # "all" in a list too; a name given twice is one study (and one plan to resume)
    return list(dict.fromkeys(s for name in names for s in (STUDIES if name == "all"
                                                             else (name,))))


def refined_around(rates: Iterable[float], refined: Iterable[float]) -> float | None:
    """The first pass's best rate that the ``refined`` rates surround (the one of ``rates``
    strictly between them that is not itself refined); None without a refined grid.

    >>> refined_around([0.001, 0.01, 0.0224, 0.05, 0.158, 0.5], [0.0224, 0.158])
    0.05
    """
    added = sorted(set(refined))
    if not added:
        return None
    inside = [r for r in rates if added[0] < r < added[-1] and r not in added]
    return inside[0] if len(inside) == 1 else None


def refine_lr(best: float, rates: tuple[float, ...], per_side: int) -> tuple[float, ...]:
    """Learning rates between ``best`` and its neighbours in ``rates``, ``per_side`` on each
    side, evenly spaced on a log scale (3 significant digits).

    >>> refine_lr(0.05, (1e-3, 1e-2, 0.05, 0.2, 1.0), 2)
    (0.0171, 0.0292, 0.0794, 0.126)
    >>> refine_lr(1.0, (0.01, 0.1, 1.0), 1)
    (0.316,)
    """
    ordered = sorted(rates)
    i = ordered.index(best)
    out: list[float] = []
    for near in (ordered[i - 1] if i > 0 else None, ordered[i + 1] if i + 1 < len(ordered)
                 else None):
        if near is None:
            continue
        for k in range(1, per_side + 1):
            value = best * (near / best) ** (k / (per_side + 1))
            out.append(float(f"{value:.3g}"))
    return tuple(sorted(set(out) - set(ordered)))


def plan(
    studies: str | tuple[str, ...] | list[str],
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
    """The trials of ``studies`` ("samples", "epochs", "lr", "regularizers"), deduplicated.

    The base setting is the preset's (``ch15``: 1000 training samples per class, lr 0.05,
    its dropout, L2 and decay); each study varies one or two things, over ``seeds`` seeds:

    - samples: the training samples per class;
    - epochs: long runs (``long_epochs``) at the grid's ``epochs_samples`` training sizes
      (and the base size): where overfitting starts depends on both;
    - lr: the learning rate (the study refines the grid around the best rate afterwards,
      :func:`refine_lr`);
    - regularizers: each of :data:`ARMS` at the grid's ``regularizer_samples`` sizes.

    Every trial measures a fresh test set of the largest test size at each logged epoch
    (``curve_test``).
    """
    studies = study_names(studies)
    grid = validate.one_of("grid", grid, tuple(GRIDS))
    g = GRIDS[grid]
    p = presets.get(preset)
    if p.task != "classification":
        msg = (f"the experiment lab studies the spiral classifiers with a softmax output; "
               f"{preset!r} is a {p.task} model. Choose one of {', '.join(LAB_PRESETS)}.")
        raise ValueError(msg)
    validate.one_of("backend", backend, BACKENDS)
    if seeds is not None:
        seeds = validate.positive_int("seeds", seeds)
    if train_samples is not None:
        train_samples = tuple(_sizes("train_samples", train_samples, p.classes))
    if test_samples is not None:
        test_samples = tuple(_sizes("test_samples", test_samples, p.classes))
    for name, value in (("epochs", epochs), ("long_epochs", long_epochs)):
        if value is not None:
            validate.positive_int(name, value)
    if lr is not None:
        lr = tuple(validate.positive_float("a learning rate in lr", rate)
                   for rate in _values("lr", lr, "learning rates", "lr=(0.01, 0.05)"))
    n_seeds = seeds or g["seeds"]
    if n_seeds > MAX_SEEDS:
        msg = (f"seeds must be at most {MAX_SEEDS:,}, got {n_seeds:,}: every seed repeats "
               "each setting's whole training run (10 already give 95% intervals; the lab's "
               "default). Ask for fewer.")
        raise ValueError(msg)
    sizes = train_samples or g["train_samples"]
    tests = test_samples or g["test_samples"]
    n_epochs = epochs or g["epochs"]
    n_long = long_epochs or g["long_epochs"]
    lrs = lr or g["lr"]
    base = Trial(preset=preset, train_samples=p.train_samples, lr=p.lr, epochs=n_epochs,
                 log_at=log_epochs(n_epochs), validation_samples=p.test_samples,
                 test_samples=tuple(tests), test_repeats=g["test_repeats"], iid_test=True,
                 snapshots=(n_epochs,), backend=backend, curve_test=max(tests))
    long_log = log_epochs(n_long, 40)
    long = replace(base, epochs=n_long, log_at=long_log, snapshots=kept_epochs(long_log, n_long))
    trials: dict[str, Trial] = {}

    def add(trial: Trial, study: str) -> None:
        if (trial.train_samples, trial.lr, trial.epochs, trial.arm) == (
                base.train_samples, base.lr, base.epochs, "book"):
            # the base setting's models measure what the test-set size does (test_size_table):
            # a small set's bias needs many of them
            trial = replace(trial, test_points=g["test_points"])
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
            for n in sorted({*g["epochs_samples"], p.train_samples}):
                add(replace(long, seed=seed, train_samples=n), "epochs")
        if "regularizers" in studies:
            for n in g["regularizer_samples"]:
                for arm in ARMS.values():
                    add(replace(base, seed=seed, train_samples=n, **arm),  # type: ignore[arg-type]
                        "regularizers")
    return list(trials.values())
