"""Tables from a study's results: what the samples, epochs and lr studies measured.

:func:`load` reads a study's results into one tidy :class:`pandas.DataFrame`; every table is
a selection and a group-by over it. A table is a plain dict holding ``"rows"`` (a list of
dicts) and a few findings; every quantity over seeds is a
:class:`~xpnet.experiments.stats.Summary` (mean, sd, 95% CI). Runs whose loss became NaN or
infinite (``diverged_at`` set) are counted in ``"diverged"`` and left out of every mean,
never averaged in as NaN.

Which trials a table reads is fixed by a :class:`Base` the caller gives (the setting every
study varies one thing of), not guessed from the results:

- samples: ``lr == base.lr``, ``epochs == base.epochs``, any ``train_samples``;
- test sizes: the base setting itself (``train_samples``, ``lr``, ``epochs`` all base);
- epochs: ``epochs == base.long_epochs`` at the base ``train_samples`` and ``lr``;
- lr: ``train_samples == base.train_samples``, ``epochs == base.epochs``, any ``lr``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import presets
from .plan import STUDIES
from .stats import Summary, binomial_sd, holm, paired, summarize
from .store import Store

__all__ = ["FRAME_COLUMNS", "Base", "analyze", "boundary_panels", "collapsed_at",
           "epochs_table", "load", "lr_table", "neighbours_table", "overconfident_at",
           "samples_table", "seed_points", "test_size_table", "trial_status", "why_table"]

Table = dict[str, Any]

#: Columns of :func:`load`'s frame: the trial's configuration (``key`` to ``diverged_at``),
#: then what was measured (``epoch`` to ``value``).
FRAME_COLUMNS = ("key", "preset", "seed", "train_samples", "lr", "epochs", "diverged_at",
                 "epoch", "split", "metric", "test_samples", "rep", "value")
_TRIAL_COLUMNS = FRAME_COLUMNS[:7]
_MEASURED = FRAME_COLUMNS[7:]


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
        Columns :data:`FRAME_COLUMNS`: ``key, preset, seed, train_samples, lr, epochs,
        diverged_at`` (the trial; ``diverged_at`` is ``<NA>`` for a run that finished),
        ``epoch, split, metric, test_samples, rep, value`` (``test_samples`` and ``rep``
        are 0 outside the test split; ``value`` is NaN where the metric was NaN). A trial
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
          **{c: t["config"][c] for c in ("seed", "train_samples", "lr", "epochs")}}
         for t in store.trials() if wanted is None or t["key"] in wanted],
        columns=list(_TRIAL_COLUMNS))
    rows = pd.DataFrame(list(store.rows(None if wanted is None else list(trials["key"]))),
                        columns=["key", *_MEASURED])
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
    """

    train_samples: int
    lr: float
    epochs: int
    long_epochs: int | None = None
    preset: str = "ch15"

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
        short = {t.epochs for t in trials if set(t.studies) & {"samples", "lr"}}
        epochs = min(short) if short else max(long)
        return cls(p.train_samples, p.lr, epochs, max(long) if long else None, preset)

    @property
    def classes(self) -> int:
        return presets.get(self.preset).classes


def _trials(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial (indexed by key): its configuration and ``diverged_at``."""
    return frame.drop_duplicates("key").set_index("key")[list(_TRIAL_COLUMNS[1:])]


def _select(frame: pd.DataFrame, base: Base, *, train_samples: bool = True, lr: bool = True,
            epochs: int | None = None) -> pd.DataFrame:
    """Rows of ``base.preset`` at ``epochs`` (default base), with the base train_samples
    and/or lr where asked."""
    keep = (frame["preset"] == base.preset) & (
        frame["epochs"] == (base.epochs if epochs is None else epochs))
    if train_samples:
        keep &= frame["train_samples"] == base.train_samples
    if lr:
        keep &= np.isclose(frame["lr"], base.lr, rtol=1e-9, atol=0)
    return frame[keep]


def _finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the runs that did not diverge."""
    return frame[frame["diverged_at"].isna()]


def _wide(frame: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    """``metric`` on ``split``: one row per trial, one column per logged epoch."""
    picked = frame[(frame["split"] == split) & (frame["metric"] == metric)]
    return picked.pivot(index="key", columns="epoch", values="value")


#: The per-run quantities of a curve: (name, split, metric); ``gap`` is train - val acc.
_CURVES = (("train_acc", "train", "acc"), ("train_loss", "train", "loss"),
           ("val_acc", "validation", "acc"), ("val_loss", "validation", "loss"))


def _finals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per finished run (indexed by key): the last epoch's train/validation accuracy and
    loss, and the generalization gap."""
    last = _finished(frame)
    last = last[last["epoch"] == last["epochs"]]
    # one column per run length; each run has a value in its own (max skips the NaNs)
    out = pd.DataFrame({name: _wide(last, split, metric).max(axis=1)
                        for name, split, metric in _CURVES},
                       index=pd.Index(last["key"].unique(), name="key"))
    out["gap"] = out["train_acc"] - out["val_acc"]
    return out


def _summaries(values: pd.DataFrame) -> dict[str, Summary]:
    return {name: summarize(column) for name, column in values.items()}


def samples_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per training-set size: final train/validation accuracy and loss and the
    generalization gap (train acc - validation acc, per run), each with its 95% CI.

    Returns ``{"rows": [{"train_samples", "n", "diverged", "train_acc", "train_loss",
    "val_acc", "val_loss", "gap"}, ...]}`` ordered by ``train_samples``; ``n`` counts the
    runs that did not diverge.
    """
    picked = _select(_frame_of(source), base, train_samples=False)
    finals = _finals(picked)
    rows: list[dict[str, Any]] = []
    for size, group in _trials(picked).groupby("train_samples"):
        n_div = int(group["diverged_at"].notna().sum())
        rows.append({"train_samples": int(size), "n": len(group) - n_div, "diverged": n_div,
                     **_summaries(finals.loc[finals.index.intersection(group.index)])})
    return {"study": "samples", "rows": rows}


def test_size_table(source: Store | pd.DataFrame, base: Base, split: str = "test") -> Table:
    """Per test-set size ``n`` (per class): how the measured accuracy and loss of the base
    setting's trained models behave, over trials and test-set repeats.

    Columns of each row: ``acc``/``loss`` (mean over trials of the mean over repeats, CI
    over trials); ``acc_sd``/``loss_sd`` (sd across repeats within a trial, pooled over
    trials as ``sqrt(mean of variances)``); ``binomial_sd``, the sd of the accuracy on
    ``n k`` samples each right with probability ``p`` (a binomial count over ``n k``:
    ``sqrt(p (1 - p) / (n k))``), ``k`` classes and ``p`` the mean accuracy at the largest
    size; ``acc_bias``/``loss_bias`` (per trial, mean at ``n`` minus mean at the largest
    size; CI over trials). ``slope`` is the least-squares slope of log ``acc_sd`` against
    log ``n`` (the binomial law's is -1/2). ``split`` is ``"test"`` (the book's spiral,
    evenly spaced radii) or ``"test_iid"`` (random radii: independent points).
    """
    picked = _finished(_select(_frame_of(source), base))
    keys = pd.Index(picked["key"].unique(), name="key")
    test = picked[picked["split"] == split]
    # per metric, size and trial: the mean and variance over the test-set repeats
    per = test.groupby(["metric", "test_samples", "key"])["value"].agg(["mean", "var", "count"])
    sizes = sorted(int(n) for n in test.loc[test["metric"] == "acc", "test_samples"].unique())
    if not sizes:
        return {"study": "test_size", "rows": [], "reference": None, "p": math.nan,
                "classes": base.classes, "slope": math.nan, "trials": 0}
    ref = sizes[-1]

    def per_trial(metric: str, n: int) -> pd.Series:
        return per.loc[(metric, n), "mean"].reindex(keys)

    def pooled_sd(metric: str, n: int) -> float:
        at = per.loc[(metric, n)]
        variances = at.loc[at["count"] >= 2, "var"]
        return math.sqrt(variances.mean()) if len(variances) else math.nan

    p = summarize(per_trial("acc", ref)).mean
    rows: list[dict[str, Any]] = []
    for n in sizes:
        draws = n * base.classes
        rows.append({
            "test_samples": n,
            "trials": len(keys),
            "repeats": int(per.loc[("acc", n), "count"].max()),
            "acc": summarize(per_trial("acc", n)),
            "acc_sd": pooled_sd("acc", n),
            "binomial_sd": binomial_sd(p, draws),
            "acc_bias": summarize(per_trial("acc", n) - per_trial("acc", ref)),
            "loss": summarize(per_trial("loss", n)),
            "loss_sd": pooled_sd("loss", n),
            "loss_bias": summarize(per_trial("loss", n) - per_trial("loss", ref)),
        })
    return {"study": "test_size", "rows": rows, "reference": ref, "p": p,
            "classes": base.classes, "slope": _log_slope(rows), "trials": len(keys)}


def _log_slope(rows: list[dict[str, Any]]) -> float:
    """Least-squares slope of log ``acc_sd`` against log ``test_samples``."""
    points = [(math.log(r["test_samples"]), math.log(r["acc_sd"])) for r in rows
              if math.isfinite(r["acc_sd"]) and r["acc_sd"] > 0]
    if len(points) < 2:
        return math.nan
    x, y = zip(*points, strict=True)
    return float(stats.linregress(x, y).slope)


def _curves(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per run (rows) and logged epoch (columns): train/validation acc and loss, and gap."""
    curves = {name: _wide(frame, split, metric) for name, split, metric in _CURVES}
    curves["gap"] = curves["train_acc"] - curves["val_acc"]
    return curves


def _curve_rows(curves: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per epoch that every run logged: each curve's summary over runs."""
    logged = [set(c.dropna(axis=1).columns) for c in curves.values()]
    n = len(curves["val_acc"].index)
    return [{"epoch": int(e), "n": n, **{name: summarize(c[e]) for name, c in curves.items()}}
            for e in sorted(set.intersection(*logged))]


def _paired(curve: pd.DataFrame, e: int, ref: int) -> Summary:
    """Per-run change of a curve from epoch ``ref`` to epoch ``e`` (same seed)."""
    return summarize(curve[e] - curve[ref])


def epochs_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per logged epoch of the epochs study's long runs: train/validation accuracy and loss
    and the gap with CIs, and what the curves show.

    Findings: ``best_acc_epoch`` (highest mean validation accuracy) and ``best_loss_epoch``
    (lowest mean validation loss); ``onset``, the overfitting onset: ``best_loss_epoch`` if
    at a later logged epoch the validation loss is higher by more than its CI (the per-seed
    rise from ``best_loss_epoch`` has a 95% CI above zero; the first such epoch is
    ``rise_epoch``), else None ("none observed"); ``loss_rise``, ``acc_change`` and
    ``train_change``, the per-seed changes of validation loss, validation accuracy and
    training accuracy from the best epochs to the last one; ``plateau_epoch``, the first
    epoch from which on validation accuracy stays within the noise of its best (at every
    later logged epoch the per-seed difference from the best epoch has a CI reaching zero).
    Per-seed (paired) changes compare a run with itself, so the model-to-model spread
    cancels.
    """
    if base.long_epochs is None:
        msg = "epochs_table needs base.long_epochs, the length of the epochs study's runs."
        raise ValueError(msg)
    group = _select(_frame_of(source), base, epochs=base.long_epochs)
    finished = _finished(group)
    curves = _curves(finished)
    rows = _curve_rows(curves)
    n = finished["key"].nunique()
    out: Table = {"study": "epochs", "rows": rows, "n": n,
                  "diverged": group["key"].nunique() - n, "best_acc_epoch": None,
                  "best_loss_epoch": None, "onset": None, "rise_epoch": None,
                  "loss_rise": None, "acc_change": None, "train_change": None,
                  "plateau_epoch": None}
    if not rows:
        return out
    last = rows[-1]["epoch"]
    e_acc = max(rows, key=lambda row: row["val_acc"].mean)["epoch"]
    e_loss = min(rows, key=lambda row: row["val_loss"].mean)["epoch"]
    val_acc, val_loss = curves["val_acc"], curves["val_loss"]
    out.update(best_acc_epoch=e_acc, best_loss_epoch=e_loss,
               loss_rise=_paired(val_loss, last, e_loss),
               acc_change=_paired(val_acc, last, e_acc),
               train_change=_paired(curves["train_acc"], last, e_acc))
    for row in rows:
        if row["epoch"] > e_loss and _paired(val_loss, row["epoch"], e_loss).ci_low > 0:
            out.update(onset=e_loss, rise_epoch=row["epoch"])
            break
    # walk back from the end while each epoch is within the noise of the best one
    plateau = None
    for row in reversed(rows if n >= 2 else []):
        if _paired(val_acc, row["epoch"], e_acc).ci_high < 0:
            break
        plateau = row["epoch"]
    out["plateau_epoch"] = plateau
    return out


def lr_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per learning rate: runs, diverged runs, and over the runs that did not diverge the
    final and best (over logged epochs) validation accuracy and loss with CIs.

    Rows: ``{"lr", "n", "diverged", "diverged_at", "train_acc", "val_acc", "val_loss",
    "best_val_acc", "best_val_loss", "best_minus_final_acc", "curve"}``; ``n`` counts the
    runs that did not diverge, ``diverged_at`` lists the epochs at which the others did,
    ``curve`` is per logged epoch as in :func:`epochs_table`. ``best_lr`` has the highest
    mean final validation accuracy.
    """
    picked = _select(_frame_of(source), base, lr=False)
    rows: list[dict[str, Any]] = []
    for rate, group in _trials(picked).groupby("lr"):
        finished = _finished(picked[picked["key"].isin(group.index)])
        finals = _finals(finished)
        curves = _curves(finished)
        best_acc = curves["val_acc"].max(axis=1)
        rows.append({
            "lr": float(rate), "n": len(finals), "diverged": len(group) - len(finals),
            "diverged_at": sorted(int(e) for e in group["diverged_at"].dropna()),
            "train_acc": summarize(finals["train_acc"]),
            "val_acc": summarize(finals["val_acc"]),
            "val_loss": summarize(finals["val_loss"]),
            "best_val_acc": summarize(best_acc),
            "best_val_loss": summarize(curves["val_loss"].min(axis=1)),
            "best_minus_final_acc": summarize(best_acc - finals["val_acc"]),
            "curve": _curve_rows(curves),
        })
    ranked = [row for row in rows if row["n"]]
    best = max(ranked, key=lambda row: row["val_acc"].mean)["lr"] if ranked else None
    return {"study": "lr", "rows": rows, "best_lr": best}


#: What each study varies, for :func:`neighbours_table`.
_VARIED = {"samples": "train_samples", "lr": "lr"}


def neighbours_table(source: Store | pd.DataFrame, base: Base, study: str) -> Table:
    """Each setting of the ``"samples"`` or ``"lr"`` study against the next, paired by seed
    on the largest fresh test sets.

    Per finished run, accuracy and loss are the mean over the test-set repeats at the
    largest test size (the most precise measurement a trial has). Neighbouring settings
    ``a < b`` share their seeds (same training data and initial weights), so ``b - a`` is
    taken seed by seed (:func:`~xpnet.experiments.stats.paired`; a seed where either run
    diverged drops out of that pair). The p-values of the scan are Holm-adjusted within
    each metric (``acc_holm``, ``loss_holm``).

    Returns ``{"study", "varied", "test_samples", "rows": [{"a", "b", "acc", "acc_holm",
    "loss", "loss_holm"}, ...]}``, ``acc`` and ``loss`` being
    :class:`~xpnet.experiments.stats.Paired`.
    """
    if study not in _VARIED:
        msg = (f"neighbours_table compares the settings of the 'samples' or 'lr' study, got "
               f"{study!r}; call neighbours_table(frame, base, 'lr').")
        raise ValueError(msg)
    varied = _VARIED[study]
    picked = _finished(_select(_frame_of(source), base, train_samples=study != "samples",
                               lr=study != "lr"))
    test = picked[picked["split"] == "test"]
    out: Table = {"study": study, "varied": varied, "test_samples": None, "rows": []}
    if test.empty:
        return out
    size = int(test["test_samples"].max())
    largest = test[test["test_samples"] == size]
    means = largest.groupby(["metric", varied, "seed"])["value"].mean()
    settings = sorted(largest[varied].unique())
    rows: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(settings):
        row: dict[str, Any] = {"a": a.item(), "b": b.item()}
        for metric in ("acc", "loss"):
            at = means.loc[metric].unstack(varied)
            row[metric] = paired(at[a], at[b])
        rows.append(row)
    for metric in ("acc", "loss"):
        for row, q in zip(rows, holm([r[metric].p for r in rows]), strict=True):
            row[f"{metric}_holm"] = q
    out.update(test_samples=size, rows=rows)
    return out


def boundary_panels(frame: pd.DataFrame, configs: dict[str, dict[str, Any]], base: Base,
                    studies: Sequence[str]) -> list[dict[str, Any]]:
    """The settings the decision-boundary figure shows, in pairs: fewest vs most training
    samples, early vs late epoch, smallest vs largest learning rate (of the runs with a
    snapshot), each at the lowest seed both ends share.

    ``frame`` is :func:`load`'s, ``configs`` each trial's configuration by key (its
    ``snapshots`` say at which epochs its parameters were saved).

    Returns ``[{"row", "label", "key", "config", "epoch", "val_acc"}, ...]``.
    """
    trials = _finished(_trials(frame))
    val_acc = _wide(frame, "validation", "acc")
    pairs: list[tuple[str, list[tuple[str, str, int]]]] = []

    def ends(group: pd.DataFrame, attr: str) -> list[str]:
        values = sorted(group[attr].unique())
        if len(values) < 2:
            return []
        firsts = [group[group[attr] == v] for v in (values[0], values[-1])]
        seeds = set(firsts[0]["seed"]) & set(firsts[1]["seed"])
        if not seeds:
            return []
        return [str(g.index[g["seed"] == min(seeds)][0]) for g in firsts]

    with_snapshot = trials[[base.epochs in configs[k]["snapshots"] for k in trials.index]]
    if "samples" in studies:
        keys = ends(_select(with_snapshot, base, train_samples=False), "train_samples")
        if keys:
            pairs.append(("training samples", [
                (f"{configs[k]['train_samples']}/class", k, base.epochs) for k in keys]))
    if "epochs" in studies and base.long_epochs is not None:
        long = _select(trials, base, epochs=base.long_epochs).sort_values("seed")
        if len(long) and len(configs[long.index[0]]["snapshots"]) >= 2:
            k = str(long.index[0])
            snaps = sorted(configs[k]["snapshots"])
            pairs.append(("epochs", [(f"epoch {e}", k, e) for e in (snaps[0], snaps[-1])]))
    if "lr" in studies:
        keys = ends(_select(with_snapshot, base, lr=False), "lr")
        if keys:
            pairs.append(("learning rate", [
                (f"lr {configs[k]['lr']:g}", k, base.epochs) for k in keys]))

    def accuracy(key: str, epoch: int) -> float:
        if key in val_acc.index and epoch in val_acc.columns:
            return float(val_acc.at[key, epoch])
        return math.nan

    return [{"row": name, "label": label, "key": k, "config": configs[k], "epoch": e,
             "val_acc": accuracy(k, e)} for name, panel in pairs for label, k, e in panel]


def _frame_of(source: Store | pd.DataFrame) -> pd.DataFrame:
    return load(source) if isinstance(source, Store) else source


def analyze(store: Store, studies: Sequence[str], base: Base, *,
            keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Every table of ``studies`` (``"all"`` or any of "samples", "epochs", "lr") over the
    trials in ``store`` (of ``keys`` only, if given): ``{"samples", "test_size",
    "samples_scan", "epochs", "lr", "lr_scan", "panels"}`` (the studies asked for)."""
    names = list(STUDIES) if studies == "all" or "all" in studies else list(studies)
    keys = None if keys is None else list(keys)
    frame = load(store, keys)
    configs = {t["key"]: t["config"] for t in store.trials()}
    tables: dict[str, Any] = {}
    if "samples" in names:
        tables["samples"] = samples_table(frame, base)
        tables["test_size"] = test_size_table(frame, base)
        tables["samples_scan"] = neighbours_table(frame, base, "samples")
        tables["test_size_iid"] = test_size_table(frame, base, "test_iid")
    if "epochs" in names and base.long_epochs is not None:
        tables["epochs"] = epochs_table(frame, base)
    if "lr" in names:
        tables["lr"] = lr_table(frame, base)
        tables["lr_scan"] = neighbours_table(frame, base, "lr")
    tables["panels"] = boundary_panels(frame, configs, base, names)
    tables["why"] = why_table(frame, base, names)
    return tables


# -- the why: what happened inside each run -----------------------------------------------------
#: Loss-versus-accuracy divergence (an "overconfident" model): validation loss more than
#: ``LOSS_RISE`` (relative) above its lowest value so far while validation accuracy is no more
#: than ``ACC_HOLD`` below its value at that lowest loss. Loss on a fixed validation set is
#: not sampling noise between epochs, so a 10% rise is a real change of the model; 1 point
#: of accuracy is 3 of the book's 300 validation samples.
LOSS_RISE = 0.10
ACC_HOLD = 0.01


def overconfident_at(loss: pd.Series, acc: pd.Series, *, rise: float = LOSS_RISE,
                     hold: float = ACC_HOLD, below: float = math.inf) -> int | None:
    """The first logged epoch at which validation loss has risen by more than ``rise``
    (relative) above its lowest value so far while validation accuracy stayed within
    ``hold`` of (or rose above) its value at that lowest loss; None if never.

    ``loss`` and ``acc`` are one run's values indexed by epoch. A lowest loss counts only
    once it is under ``below``: :func:`trial_status` passes ln k, the loss of a uniform
    guess over k classes, so a start that swings before the model has learned anything is
    not taken for overconfidence.

    Examples
    --------
    >>> epochs = [1, 10, 100, 1000]
    >>> overconfident_at(pd.Series([1.0, 0.5, 0.4, 0.5], epochs),
    ...                  pd.Series([0.4, 0.8, 0.85, 0.86], epochs))
    1000
    >>> overconfident_at(pd.Series([1.0, 0.5, 0.4, 0.5], epochs),
    ...                  pd.Series([0.4, 0.8, 0.85, 0.7], epochs)) is None
    True
    """
    best_loss, best_acc = math.inf, math.nan
    for epoch, value in loss.dropna().sort_index().items():
        if value < min(best_loss, below):
            best_loss, best_acc = value, acc.get(epoch, math.nan)
        elif value > (1 + rise) * best_loss and acc.get(epoch, math.nan) >= best_acc - hold:
            return int(epoch)
    return None


def collapsed_at(classes: pd.Series) -> int | None:
    """The first logged epoch at which a run that had already predicted two or more classes
    predicts a single class (``classes`` indexed by epoch: distinct classes predicted);
    None if never. The opening epochs, before a run first tells classes apart, are not a
    collapse: a model starting from small weights often predicts one class at first."""
    learned = False
    for epoch, value in classes.dropna().sort_index().items():
        if value >= 2:
            learned = True
        elif learned:
            return int(epoch)
    return None


def trial_status(source: Store | pd.DataFrame) -> pd.DataFrame:
    """Per trial (indexed by key): what happened inside it.

    Columns: the configuration and ``diverged_at``; ``measured`` (whether the store holds
    the inside measurements: stores written before them do not); ``hidden`` (hidden ReLU
    units); at the last logged epoch ``dead_units`` (never active on the training set),
    ``dead_fraction``, ``val_acc`` and ``collapsed_end`` (one class predicted on the
    validation set); ``collapsed_at`` (:func:`collapsed_at`, validation set) and
    ``overconfident_at`` (:func:`overconfident_at`), ``<NA>`` when it did not happen.
    """
    frame = _frame_of(source)
    trials = _trials(frame)
    dead, val_acc = _wide(frame, "train", "dead_units"), _wide(frame, "validation", "acc")
    classes, val_loss = _wide(frame, "validation", "classes"), _wide(frame, "validation", "loss")

    def last(wide: pd.DataFrame) -> pd.Series:
        return wide.ffill(axis=1).iloc[:, -1].reindex(trials.index) if len(wide.columns) \
            else pd.Series(math.nan, index=trials.index)

    def guess(preset: str) -> float:
        return math.log(max(presets.get(preset).classes, 2))

    acc_of = {k: val_acc.loc[k] if k in val_acc.index else pd.Series(dtype=float)
              for k in val_loss.index}

    out = trials.copy()
    out["measured"] = trials.index.isin(classes.index)
    out["hidden"] = [presets.get(p).hidden * presets.get(p).hidden_layers
                     for p in trials["preset"]]
    out["dead_units"] = last(dead)
    out["dead_fraction"] = out["dead_units"] / out["hidden"]
    out["val_acc"] = last(val_acc)
    out["collapsed_end"] = last(classes) == 1
    out["collapsed_at"] = pd.Series({k: collapsed_at(classes.loc[k]) for k in classes.index},
                                    dtype="Int64").reindex(trials.index)
    out["overconfident_at"] = pd.Series(
        {k: overconfident_at(val_loss.loc[k], acc_of[k], below=guess(trials.at[k, "preset"]))
         for k in val_loss.index}, dtype="Int64").reindex(trials.index)
    return out


def why_table(source: Store | pd.DataFrame, base: Base, studies: Sequence[str]) -> Table:
    """Per setting of each study: what happened inside its runs (:func:`trial_status`).

    Rows ``{"study", "vary", "value", "runs", "measured", "hidden", "diverged", "collapsed",
    "collapsed_at", "collapsed_end", "overconfident", "overconfident_at", "dead",
    "half_dead", "half_dead_acc", "val_acc"}``: ``collapsed``/``overconfident`` count the
    runs (of those ``measured``, not diverged) with a ``collapsed_at``/``overconfident_at``
    epoch, listed in the ``*_at`` lists; ``collapsed_end`` those predicting one class at
    their last logged epoch; ``dead`` is the fraction of hidden units dead at the end, over
    runs; ``half_dead`` counts the runs ending with more than half of them dead and
    ``half_dead_acc`` is their final validation accuracy; ``val_acc`` that of all runs.
    """
    status = trial_status(source)
    picks: list[tuple[str, str, pd.DataFrame]] = []
    if "samples" in studies:
        picks.append(("samples", "train_samples", _select(status, base, train_samples=False)))
    if "epochs" in studies and base.long_epochs is not None:
        picks.append(("epochs", "epochs", _select(status, base, epochs=base.long_epochs)))
    if "lr" in studies:
        picks.append(("lr", "lr", _select(status, base, lr=False)))
    rows: list[dict[str, Any]] = []
    for study, vary, picked in picks:
        for value, group in picked.groupby(vary):
            ok = group[group["diverged_at"].isna() & group["measured"]]
            half = ok[ok["dead_fraction"] > 0.5]
            rows.append({
                "study": study, "vary": vary, "value": value, "runs": len(group),
                "measured": len(ok), "hidden": int(group["hidden"].max()),
                "diverged": int(group["diverged_at"].notna().sum()),
                "collapsed": int(ok["collapsed_at"].notna().sum()),
                "collapsed_at": sorted(int(e) for e in ok["collapsed_at"].dropna()),
                "collapsed_end": int(ok["collapsed_end"].sum()),
                "overconfident": int(ok["overconfident_at"].notna().sum()),
                "overconfident_at": sorted(int(e) for e in ok["overconfident_at"].dropna()),
                "dead": summarize(ok["dead_fraction"]), "half_dead": len(half),
                "half_dead_acc": summarize(half["val_acc"]),
                "val_acc": summarize(ok["val_acc"]),
            })
    return {"study": "why", "rows": rows, "loss_rise": LOSS_RISE, "acc_hold": ACC_HOLD,
            "classes": base.classes}


def seed_points(source: Store | pd.DataFrame, base: Base) -> dict[str, pd.DataFrame]:
    """The per-run values behind the plotted means, so a split between seeds shows.

    ``"samples"`` and ``"lr"``: one row per finished run (its ``seed``, ``train_samples``
    or ``lr`` and its final values, as in :func:`samples_table`); ``"epochs"`` (with
    ``base.long_epochs``): one row per finished run and logged epoch (``key, epoch`` and the
    curves of :func:`epochs_table`).
    """
    frame = _frame_of(source)
    out: dict[str, pd.DataFrame] = {}
    for name, vary, picked in (("samples", "train_samples",
                                _select(frame, base, train_samples=False)),
                               ("lr", "lr", _select(frame, base, lr=False))):
        out[name] = _finals(picked).join(_trials(picked)[["seed", vary]])
    if base.long_epochs is not None:
        curves = _curves(_finished(_select(frame, base, epochs=base.long_epochs)))
        out["epochs"] = pd.concat({name: c.stack() for name, c in curves.items()},
                                  axis=1).reset_index()
    return out
