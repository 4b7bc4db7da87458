"""A study's results as one tidy table, and the selections every analysis makes of it.

:func:`load` reads a study's store into a :class:`pandas.DataFrame` (:data:`FRAME_COLUMNS`);
:class:`Base` is the setting each study varies one thing of; :func:`select`,
:func:`finished`, :func:`wide`, :func:`finals` and :func:`curves` are the selections and
reshapes the tables of :mod:`~xpnet.experiments.analysis`,
:mod:`~xpnet.experiments.neighbours` and :mod:`~xpnet.experiments.why` are built from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import presets
from .plan import arm_of
from .stats import Summary, summarize, summarize_as
from .store import Store

__all__ = ["CURVES", "FRAME_COLUMNS", "Base", "Table", "change", "curve_rows", "curves",
           "finals", "finished", "frame_of", "largest_test", "load", "per_run", "select",
           "summaries", "trials_of", "wide"]

#: A table: a plain dict holding ``"rows"`` (a list of dicts) and a few findings.
Table = dict[str, Any]

#: Columns of :func:`load`'s frame: the trial's configuration (``key`` to ``diverged_at``),
#: then what was measured (``epoch`` to ``value``).
FRAME_COLUMNS = ("key", "preset", "seed", "train_samples", "lr", "epochs", "arm",
                 "diverged_at", "epoch", "split", "metric", "test_samples", "rep", "value")
TRIAL_COLUMNS = FRAME_COLUMNS[:8]
MEASURED = FRAME_COLUMNS[8:]


def load(source: str | os.PathLike[str] | Store,
         keys: Iterable[str] | None = None) -> pd.DataFrame:
    """A study's results as one tidy table: one row per trial, split, metric and logged
    epoch (``split`` "train" or "validation") or test-set size and repeat ("test", and
    "test_iid" for the test sets of independent points).

    Parameters
    ----------
    source : path or Store
        The directory a study wrote (``xpnet study ... --out DIR``), or its open store.
    keys : iterable of str, optional
        Only these trials (a plan's keys), when the directory holds others too.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FRAME_COLUMNS`: ``key, preset, seed, train_samples, lr, epochs, arm,
        diverged_at`` (the trial; ``arm`` names its regularizers,
        :func:`~xpnet.experiments.plan.arm_of`, ``"book"`` for the preset's own;
        ``diverged_at`` is ``<NA>`` for a run that finished), ``epoch, split, metric,
        test_samples, rep, value`` (``test_samples`` is the size of a test set, else 0;
        ``rep`` the test set's repeat, else 0; ``value`` is NaN where the metric was NaN). A trial
        that stored no measurement (diverged before its first logged epoch) is one row with
        the measured columns missing.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, Store(d) as store:
    ...     store.add({"key": "k1", "config": {"preset": "ch15", "seed": 0, "lr": 0.05,
    ...                "train_samples": 10, "epochs": 5}, "rows": [{"epoch": 5,
    ...                "split": "validation", "metric": "acc", "value": 0.5,
    ...                "test_samples": 0, "rep": 0}], "snapshots": {}, "seconds": 0.1,
    ...                "diverged_at": None})
    ...     frame = load(d)
    >>> frame[["key", "lr", "epoch", "split", "metric", "value"]].to_dict("records")
    [{'key': 'k1', 'lr': 0.05, 'epoch': 5, 'split': 'validation', 'metric': 'acc', 'value': 0.5}]
    """
    if isinstance(source, Store):
        return _frame(source, keys)
    path = Path(source)
    if not (path / "results.sqlite").is_file():
        msg = (f"{str(path)!r} holds no study results (no results.sqlite): pass the "
               f"directory a study wrote, e.g. after `xpnet study all --quick --out {path}`.")
        raise FileNotFoundError(msg)
    with Store(path) as store:
        return _frame(store, keys)


def _frame(store: Store, keys: Iterable[str] | None) -> pd.DataFrame:
    wanted = None if keys is None else set(keys)
    trials = pd.DataFrame(
        [{"key": t["key"], "preset": t["config"]["preset"], "diverged_at": t["diverged_at"],
          "arm": arm_of(t["config"]),
          **{c: t["config"][c] for c in ("seed", "train_samples", "lr", "epochs")}}
         for t in store.trials() if wanted is None or t["key"] in wanted],
        columns=list(TRIAL_COLUMNS))
    rows = pd.DataFrame(list(store.rows(None if wanted is None else list(trials["key"]))),
                        columns=["key", *MEASURED])
    frame = trials.merge(rows, on="key", how="left")
    # nullable integers: a finished run has no diverged_at, a trial without rows no epoch;
    # SQLite stores a NaN value as NULL, which arrives as None
    return frame.astype({"diverged_at": "Int64", "epoch": "Int64", "test_samples": "Int64",
                         "rep": "Int64", "value": "float64"})[list(FRAME_COLUMNS)]


@dataclass(frozen=True)
class Base:
    """The setting each study varies one thing of.

    Attributes
    ----------
    train_samples : int
        Training samples per class of the base setting (ch15: 1000).
    lr : float
        Base learning rate (ch15: 0.05).
    epochs : int
        Length of the samples and lr studies' runs.
    long_epochs : int or None
        Length of the epochs study's runs (None: no epochs study).
    preset : str
        The preset trained.
    refined : tuple of float
        Learning rates the lr study added around its best rate after its first pass.
    """

    train_samples: int
    lr: float
    epochs: int
    long_epochs: int | None = None
    preset: str = "ch15"
    refined: tuple[float, ...] = ()

    @classmethod
    def from_plan(cls, trials: Sequence[Any]) -> Base:
        """The base of a :func:`~xpnet.experiments.plan.plan`: its preset's training samples
        and lr, the epochs of its samples/lr trials and of its epochs trials."""
        if not trials:
            msg = "Base.from_plan needs the plan's trials, got an empty list."
            raise ValueError(msg)
        preset = trials[0].preset
        p = presets.get(preset)
        long = {t.epochs for t in trials if "epochs" in t.studies}
        short = {t.epochs for t in trials if set(t.studies) & {"samples", "lr", "regularizers"}}
        epochs = min(short) if short else max(long)
        refined = tuple(sorted({t.lr for t in trials if "refine" in t.studies}))
        return cls(p.train_samples, p.lr, epochs, max(long) if long else None, preset, refined)

    @property
    def classes(self) -> int:
        return presets.get(self.preset).classes


def trials_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial (indexed by key): its configuration and ``diverged_at``."""
    return frame.drop_duplicates("key").set_index("key")[list(TRIAL_COLUMNS[1:])]


def select(frame: pd.DataFrame, base: Base, *, train_samples: bool = True, lr: bool = True,
           epochs: int | None = None, arm: str | None = "book") -> pd.DataFrame:
    """Rows of ``base.preset`` at ``epochs`` (default base), with the base train_samples
    and/or lr where asked, of the regularizers ``arm`` (default the preset's own; None:
    any)."""
    keep = (frame["preset"] == base.preset) & (
        frame["epochs"] == (base.epochs if epochs is None else epochs))
    if arm is not None:
        keep &= frame["arm"] == arm
    if train_samples:
        keep &= frame["train_samples"] == base.train_samples
    if lr:
        keep &= np.isclose(frame["lr"], base.lr, rtol=1e-9, atol=0)
    return frame[keep]


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the runs that did not diverge."""
    return frame[frame["diverged_at"].isna()]


def wide(frame: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    """``metric`` on ``split``: one row per trial, one column per logged epoch."""
    picked = frame[(frame["split"] == split) & (frame["metric"] == metric)]
    return picked.pivot(index="key", columns="epoch", values="value")


#: The per-run quantities of a curve: (name, split, metric); ``gap`` is train - val acc.
CURVES = (("train_acc", "train", "acc"), ("train_loss", "train", "loss"),
           ("val_acc", "validation", "acc"), ("val_loss", "validation", "loss"))
#: The curves on the fresh test set logged beside validation (``test_curve``), where every
#: run has one.
TEST_CURVES = (("test_acc", "test_curve", "acc"), ("test_loss", "test_curve", "loss"))


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per finished run (indexed by key): the last epoch's train/validation accuracy and
    loss, and the generalization gap."""
    last = finished(frame)
    last = last[last["epoch"] == last["epochs"]]
    # one column per run length; each run has a value in its own (max skips the NaNs)
    out = pd.DataFrame({name: wide(last, split, metric).max(axis=1)
                        for name, split, metric in CURVES},
                       index=pd.Index(last["key"].unique(), name="key"))
    out["gap"] = out["train_acc"] - out["val_acc"]
    return out


def summaries(values: pd.DataFrame) -> dict[str, Summary]:
    return {name: summarize_as(name, column) for name, column in values.items()}


def curves(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per run (rows) and logged epoch (columns): train/validation acc and loss, and gap;
    and ``test_acc``/``test_loss`` on the fresh test curve when every run logged one."""
    curves = {name: wide(frame, split, metric) for name, split, metric in CURVES}
    curves["gap"] = curves["train_acc"] - curves["val_acc"]
    runs = set(curves["val_acc"].index)
    for name, split, metric in TEST_CURVES:
        test = wide(frame, split, metric)
        if runs and set(test.index) == runs:
            curves[name] = test.reindex(curves["val_acc"].index)
    return curves


def curve_rows(curves: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per epoch that every run logged: each curve's summary over runs."""
    logged = [set(c.dropna(axis=1).columns) for c in curves.values()]
    n = len(curves["val_acc"].index)
    return [{"epoch": int(e), "n": n,
             **{name: summarize_as(name, c[e]) for name, c in curves.items()}}
            for e in sorted(set.intersection(*logged))]


def change(curve: pd.DataFrame, e: int, ref: int) -> Summary:
    """Per-run change of a curve from epoch ``ref`` to epoch ``e`` (same seed)."""
    return summarize(curve[e] - curve[ref])


def frame_of(source: Store | pd.DataFrame) -> pd.DataFrame:
    return load(source) if isinstance(source, Store) else source




def largest_test(frame: pd.DataFrame) -> tuple[int | None, pd.DataFrame]:
    """Per run of ``frame``, accuracy and loss on its largest fresh test sets (the most
    precise measurement a trial has), each the mean over the test-set repeats.

    Returns ``(size, table)``: the size per class (None without test rows) and a frame
    indexed by key with columns ``acc`` and ``loss``.
    """
    test = frame[frame["split"] == "test"]
    if test.empty:
        return None, pd.DataFrame(columns=["acc", "loss"], dtype=float)
    size = int(test["test_samples"].max())
    means = test[test["test_samples"] == size].groupby(["key", "metric"])["value"].mean()
    return size, means.unstack("metric")[["acc", "loss"]]


def per_run(frame: pd.DataFrame) -> tuple[int | None, pd.DataFrame]:
    """Per finished run of ``frame``, what the paired comparisons compare: ``acc`` and
    ``loss`` on the largest fresh test sets (:func:`largest_test`), the final training
    accuracy ``train_acc`` (dropout off) and the generalization gap ``train_acc - acc``.

    Returns ``(size, table)`` as :func:`largest_test` does, the table indexed by key.
    """
    done = finished(frame)
    size, table = largest_test(done)
    table = table.join(finals(done)[["train_acc"]], how="left")
    table["gap"] = table["train_acc"] - table["acc"]
    return size, table
