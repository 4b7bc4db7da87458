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

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from scipy import stats

from . import frame as fr
from .frame import FRAME_COLUMNS, Base, Table, load
from .neighbours import against_table, neighbours_table
from .plan import STUDIES
from .stats import binomial_sd, summarize
from .store import Store
from .why import collapsed_at, overconfident_at, trial_status, why_table

# load, Base, neighbours_table and the why's functions live in their own modules
# (frame, neighbours, why); they are named here too, the analysis's whole surface.
__all__ = ["FRAME_COLUMNS", "Base", "analyze", "boundary_panels", "collapsed_at",
           "epochs_table", "load", "lr_table", "neighbours_table", "overconfident_at",
           "samples_table", "seed_points", "test_size_table", "trial_status", "why_table"]


def samples_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per training-set size: final train/validation accuracy and loss and the
    generalization gap (train acc - validation acc, per run), each with its 95% CI.

    Returns ``{"rows": [{"train_samples", "n", "diverged", "train_acc", "train_loss",
    "val_acc", "val_loss", "gap"}, ...]}`` ordered by ``train_samples``; ``n`` counts the
    runs that did not diverge.
    """
    picked = fr.select(fr.frame_of(source), base, train_samples=False)
    finals = fr.finals(picked)
    rows: list[dict[str, Any]] = []
    for size, group in fr.trials_of(picked).groupby("train_samples"):
        n_div = int(group["diverged_at"].notna().sum())
        rows.append({"train_samples": int(size), "n": len(group) - n_div, "diverged": n_div,
                     **fr.summaries(finals.loc[finals.index.intersection(group.index)])})
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
    picked = fr.finished(fr.select(fr.frame_of(source), base))
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
    group = fr.select(fr.frame_of(source), base, epochs=base.long_epochs)
    finished = fr.finished(group)
    curves = fr.curves(finished)
    rows = fr.curve_rows(curves)
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
               loss_rise=fr.change(val_loss, last, e_loss),
               acc_change=fr.change(val_acc, last, e_acc),
               train_change=fr.change(curves["train_acc"], last, e_acc))
    for row in rows:
        if row["epoch"] > e_loss and fr.change(val_loss, row["epoch"], e_loss).ci_low > 0:
            out.update(onset=e_loss, rise_epoch=row["epoch"])
            break
    # walk back from the end while each epoch is within the noise of the best one
    plateau = None
    for row in reversed(rows if n >= 2 else []):
        if fr.change(val_acc, row["epoch"], e_acc).ci_high < 0:
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
    picked = fr.select(fr.frame_of(source), base, lr=False)
    rows: list[dict[str, Any]] = []
    for rate, group in fr.trials_of(picked).groupby("lr"):
        finished = fr.finished(picked[picked["key"].isin(group.index)])
        finals = fr.finals(finished)
        curves = fr.curves(finished)
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
            "curve": fr.curve_rows(curves),
        })
    ranked = [row for row in rows if row["n"]]
    best = max(ranked, key=lambda row: row["val_acc"].mean)["lr"] if ranked else None
    return {"study": "lr", "rows": rows, "best_lr": best}


def boundary_panels(frame: pd.DataFrame, configs: dict[str, dict[str, Any]], base: Base,
                    studies: Sequence[str]) -> list[dict[str, Any]]:
    """The settings the decision-boundary figure shows, in pairs: fewest vs most training
    samples, early vs late epoch, smallest vs largest learning rate (of the runs with a
    snapshot), each at the lowest seed both ends share.

    ``frame`` is :func:`load`'s, ``configs`` each trial's configuration by key (its
    ``snapshots`` say at which epochs its parameters were saved).

    Returns ``[{"row", "label", "key", "config", "epoch", "val_acc"}, ...]``.
    """
    trials = fr.finished(fr.trials_of(frame))
    val_acc = fr.wide(frame, "validation", "acc")
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
        keys = ends(fr.select(with_snapshot, base, train_samples=False), "train_samples")
        if keys:
            pairs.append(("training samples", [
                (f"{configs[k]['train_samples']}/class", k, base.epochs) for k in keys]))
    if "epochs" in studies and base.long_epochs is not None:
        long = fr.select(trials, base, epochs=base.long_epochs).sort_values("seed")
        if len(long) and len(configs[long.index[0]]["snapshots"]) >= 2:
            k = str(long.index[0])
            snaps = sorted(configs[k]["snapshots"])
            pairs.append(("epochs", [(f"epoch {e}", k, e) for e in (snaps[0], snaps[-1])]))
    if "lr" in studies:
        keys = ends(fr.select(with_snapshot, base, lr=False), "lr")
        if keys:
            pairs.append(("learning rate", [
                (f"lr {configs[k]['lr']:g}", k, base.epochs) for k in keys]))

    def accuracy(key: str, epoch: int) -> float:
        if key in val_acc.index and epoch in val_acc.columns:
            return float(val_acc.at[key, epoch])
        return math.nan

    return [{"row": name, "label": label, "key": k, "config": configs[k], "epoch": e,
             "val_acc": accuracy(k, e)} for name, panel in pairs for label, k, e in panel]


def analyze(store: Store, studies: Sequence[str], base: Base, *,
            keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Every table of ``studies`` (``"all"`` or any of "samples", "epochs", "lr") over the
    trials in ``store`` (of ``keys`` only, if given): ``{"samples", "test_size",
    "samples_scan", "samples_against", "epochs", "lr", "lr_scan", "lr_against", "panels"}``
    (the studies asked for)."""
    names = list(STUDIES) if studies == "all" or "all" in studies else list(studies)
    keys = None if keys is None else list(keys)
    frame = load(store, keys)
    configs = {t["key"]: t["config"] for t in store.trials()}
    tables: dict[str, Any] = {}
    if "samples" in names:
        tables["samples"] = samples_table(frame, base)
        tables["test_size"] = test_size_table(frame, base)
        tables["samples_scan"] = neighbours_table(frame, base, "samples")
        tables["samples_against"] = against_table(frame, base, "samples")
        tables["test_size_iid"] = test_size_table(frame, base, "test_iid")
    if "epochs" in names and base.long_epochs is not None:
        tables["epochs"] = epochs_table(frame, base)
    if "lr" in names:
        tables["lr"] = lr_table(frame, base)
        tables["lr_scan"] = neighbours_table(frame, base, "lr")
        tables["lr_against"] = against_table(frame, base, "lr")
    tables["panels"] = boundary_panels(frame, configs, base, names)
    tables["why"] = why_table(frame, base, names)
    return tables


def seed_points(source: Store | pd.DataFrame, base: Base) -> dict[str, pd.DataFrame]:
    """The per-run values behind the plotted means, so a split between seeds shows.

    ``"samples"`` and ``"lr"``: one row per finished run (its ``seed``, ``train_samples``
    or ``lr`` and its final values, as in :func:`samples_table`); ``"epochs"`` (with
    ``base.long_epochs``): one row per finished run and logged epoch (``key, epoch`` and the
    curves of :func:`epochs_table`).
    """
    frame = fr.frame_of(source)
    out: dict[str, pd.DataFrame] = {}
    for name, vary, picked in (("samples", "train_samples",
                                fr.select(frame, base, train_samples=False)),
                               ("lr", "lr", fr.select(frame, base, lr=False))):
        out[name] = fr.finals(picked).join(fr.trials_of(picked)[["seed", vary]])
    if base.long_epochs is not None:
        curves = fr.curves(fr.finished(fr.select(frame, base, epochs=base.long_epochs)))
        out["epochs"] = pd.concat({name: c.stack() for name, c in curves.items()},
                                  axis=1).reset_index()
    return out
