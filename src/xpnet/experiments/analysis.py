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

import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import frame as fr
from .frame import FRAME_COLUMNS, Base, Table, load
from .neighbours import against_table, neighbours_table, speed_table
from .plan import ARMS, STUDIES
from .stats import Paired, Summary, binomial_sd, holm, paired, summarize, summarize_as
from .store import Store
from .why import collapsed_at, overconfident_at, trial_status, why_table

# load, Base, neighbours_table and the why's functions live in their own modules
# (frame, neighbours, why); they are named here too, the analysis's whole surface.
__all__ = ["FRAME_COLUMNS", "Base", "analyze", "boundary_panels", "collapsed_at",
           "continues_base",
           "crossed_table", "early_stopping", "epochs_table", "load", "lr_set_aside", "lr_table",
           "neighbours_table", "overconfident_at", "regularizers_table", "samples_table",
           "seed_points", "test_size_table", "trial_status", "weight_stats", "why_table"]


def samples_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per training-set size: final train/validation accuracy and loss and the
    generalization gap (train acc - validation acc, per run), each with its 95% CI; and,
    where the runs were measured on fresh test sets, accuracy and loss on the largest of
    them and the gap against it (what the answer sheets quote).

    Returns ``{"rows": [{"train_samples", "n", "diverged", "train_acc", "train_loss",
    "val_acc", "val_loss", "gap", "test_acc", "test_loss", "test_gap"}, ...],
    "test_samples"}`` ordered by ``train_samples``; ``n`` counts the runs that did not
    diverge; ``test_samples`` is the fresh test sets' size per class (None, and no
    ``test_*`` columns, without them).
    """
    picked = fr.select(fr.frame_of(source), base, train_samples=False)
    finals = fr.finals(picked)
    test_size, tests = fr.per_run(picked)
    rows: list[dict[str, Any]] = []
    for size, group in fr.trials_of(picked).groupby("train_samples"):
        n_div = int(group["diverged_at"].notna().sum())
        row = {"train_samples": int(size), "n": len(group) - n_div, "diverged": n_div,
               **fr.summaries(finals.loc[finals.index.intersection(group.index)])}
        if test_size is not None:
            mine = tests.loc[tests.index.intersection(group.index)]
            row.update(fr.summaries(mine[["acc", "loss", "gap"]].add_prefix("test_")))
        rows.append(row)
    return {"study": "samples", "rows": rows, "test_samples": test_size}


def test_size_table(source: Store | pd.DataFrame, base: Base, split: str = "test") -> Table:
    """Per test-set size ``n`` (per class): how the measured accuracy and loss of the base
    setting's trained models behave, over trials and test-set repeats.

    Columns of each row: ``acc``/``loss`` (mean over trials of the mean over repeats, CI
    over trials); ``acc_sd``/``loss_sd`` (sd across repeats within a trial, pooled over
    trials as ``sqrt(mean of variances)``); ``binomial_sd``, the sd of the accuracy on
    ``n k`` samples each right with probability ``p`` (a binomial count over ``n k``:
    ``sqrt(p (1 - p) / (n k))``), ``k`` classes and ``p`` the mean accuracy at the largest
    size; ``acc_bias``/``loss_bias`` (per trial, mean at ``n`` minus mean at the largest
    size; CI over trials) and ``acc_bias_holm``/``loss_bias_holm``, their paired t-tests'
    p-values Holm-corrected over the sizes below the largest (NaN at the largest). ``slope``
    is the least-squares slope of log ``acc_sd`` against
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
        return {"study": "test_size", "split": split, "rows": [], "reference": None,
                "p": math.nan,
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
            "acc": summarize_as("acc", per_trial("acc", n)),
            "acc_sd": pooled_sd("acc", n),
            "binomial_sd": binomial_sd(p, draws),
            "acc_bias": summarize(per_trial("acc", n) - per_trial("acc", ref)),
            "loss": summarize_as("loss", per_trial("loss", n)),
            "loss_sd": pooled_sd("loss", n),
            "loss_bias": summarize(per_trial("loss", n) - per_trial("loss", ref)),
        })
    # the biases at the sizes below the reference, Holm-corrected over those sizes
    for metric in ("acc", "loss"):
        ps = [paired(per_trial(metric, ref), per_trial(metric, r["test_samples"])).p
              for r in rows[:-1]]
        for r, q in zip(rows, [*holm(ps), math.nan], strict=True):
            r[f"{metric}_bias_holm"] = q
    return {"study": "test_size", "split": split, "rows": rows, "reference": ref, "p": p,
            "classes": base.classes, "slope": _log_slope(rows), "trials": len(keys)}


def _log_slope(rows: list[dict[str, Any]]) -> float:
    """Least-squares slope of log ``acc_sd`` against log ``test_samples``."""
    points = [(math.log(r["test_samples"]), math.log(r["acc_sd"])) for r in rows
              if math.isfinite(r["acc_sd"]) and r["acc_sd"] > 0]
    if len(points) < 2:
        return math.nan
    x, y = zip(*points, strict=True)
    return float(stats.linregress(x, y).slope)


def epochs_table(source: Store | pd.DataFrame, base: Base,
                 train_samples: int | None = None) -> Table:
    """Per logged epoch of the epochs study's long runs: train/validation accuracy and loss
    and the gap with CIs, and what the curves show.

    Findings: ``best_acc_epoch`` (highest mean validation accuracy) and ``best_loss_epoch``
    (lowest mean validation loss), the epochs the book's view (validation) picks over the
    mean curves. What happens after them is measured on ``split``: the fresh test curve
    where every run logged one, else validation, each run from its own epochs
    ``loss_epochs``/``acc_epochs``, picked on the *other* runs' validation curves
    (:func:`held_out_epochs`): a run's validation and test curves share its epoch-to-epoch
    wobble, so an epoch picked on its own validation curve would flatter the rise.
    ``loss_rise`` and ``acc_change`` are the per-run changes of loss and accuracy on
    ``split`` from those epochs to the last one (``loss_rise_p``: the rise's paired t-test);
    ``val_loss_rise`` the rise on validation
    from ``best_loss_epoch`` (picked and measured there); ``rise_epoch``, the first logged
    epoch after every run's picked epoch from which on the loss on ``split`` is above its
    value there beyond the noise at *every* later logged epoch, the last included (each 95%
    CI above zero: an intersection-union test, sound without a correction for the number of
    epochs looked at), and ``onset`` (``best_loss_epoch``) with it, else both None ("none
    observed"); ``train_change``, training accuracy's change from the accuracy epochs to the
    end. Per-run (paired) changes compare a run with itself, so the model-to-model spread
    cancels. ``early_stopping`` is :func:`early_stopping` of these runs.

    ``train_samples`` picks the long runs of another training size (the epochs study
    crosses sizes with epochs); default the base size.
    """
    if base.long_epochs is None:
        msg = "epochs_table needs base.long_epochs, the length of the epochs study's runs."
        raise ValueError(msg)
    frame = fr.frame_of(source)
    if train_samples is not None:
        frame = frame[frame["train_samples"] == train_samples]
    group = fr.select(frame, base, epochs=base.long_epochs,
                      train_samples=train_samples is None)
    finished = fr.finished(group)
    curves = fr.curves(finished)
    rows = fr.curve_rows(curves)
    n = finished["key"].nunique()
    out: Table = {"study": "epochs", "train_samples": train_samples or base.train_samples,
                  "rows": rows, "n": n,
                  "diverged": group["key"].nunique() - n, "best_acc_epoch": None,
                  "best_loss_epoch": None, "onset": None, "rise_epoch": None,
                  "split": "test_curve" if "test_loss" in curves else "validation",
                  "loss_rise": None, "loss_rise_p": math.nan, "val_loss_rise": None,
                  "acc_change": None,
                  "train_change": None, "loss_epochs": [], "acc_epochs": [],
                  "early_stopping": early_stopping(finished)}
    if not rows:
        return out
    last = rows[-1]["epoch"]
    e_acc = max(rows, key=lambda row: row["val_acc"].mean)["epoch"]
    e_loss = min(rows, key=lambda row: row["val_loss"].mean)["epoch"]
    val_acc, val_loss = curves["val_acc"], curves["val_loss"]
    on_test = out["split"] == "test_curve"
    acc, loss = (curves["test_acc"], curves["test_loss"]) if on_test else (val_acc, val_loss)
    # each run's epochs picked on the other runs' validation (held_out_epochs)
    at_loss, at_acc = held_out_epochs(val_loss, "min"), held_out_epochs(val_acc, "max")
    out.update(best_acc_epoch=e_acc, best_loss_epoch=e_loss,
               loss_epochs=sorted(int(e) for e in at_loss),
               acc_epochs=sorted(int(e) for e in at_acc),
               loss_rise=(rise := change_from(loss, last, at_loss)).diff, loss_rise_p=rise.p,
               val_loss_rise=fr.change(val_loss, last, e_loss),
               acc_change=change_from(acc, last, at_acc).diff,
               train_change=change_from(curves["train_acc"], last, at_acc).diff)
    # walk back from the end while each epoch's loss is above the picked one's beyond the noise
    for row in reversed(rows):
        if row["epoch"] <= at_loss.max() or not change_from(loss, row["epoch"],
                                                             at_loss).diff.ci_low > 0:
            break
        out.update(onset=e_loss, rise_epoch=row["epoch"])
    return out


def held_out_epochs(pick: pd.DataFrame, best: str = "min") -> pd.Series:
    """Per run (row) of ``pick``, the epoch (column) where the mean curve of the *other* runs
    is lowest (``best="min"``) or highest (``"max"``); a single run picks on its own curve.

    A run's validation and fresh test curves come from one model, so its epoch-to-epoch
    wobble is shared between them: an epoch picked on its own validation curve sits where its
    test curve dips too, which flatters a change measured from there. Picked on the other
    runs, the epoch is fixed before the run's own curves are looked at.
    """
    if len(pick) < 2:
        return pd.Series(getattr(pick.mean(), f"idx{best}")(), index=pick.index)
    total = pick.sum()
    return pd.Series({k: getattr((total - pick.loc[k]) / (len(pick) - 1), f"idx{best}")()
                      for k in pick.index})


def change_from(curve: pd.DataFrame, e: int, refs: pd.Series) -> Paired:
    """Per-run change of ``curve`` from each run's own epoch ``refs[run]`` to epoch ``e``
    (paired: the same run), with its t-test."""
    return paired([curve.at[k, refs[k]] for k in refs.index],
                  [curve.at[k, e] for k in refs.index])


def continues_base(source: Store | pd.DataFrame, base: Base) -> list[int]:
    """The epochs at which the epochs study's long runs at the base setting were checked to
    continue the base setting's ``base.epochs``-epoch runs: same seeds, and the same
    validation loss at every epoch both logged (a run does not depend on its length: the
    decay schedule counts steps, and each seed draws its data, weights and dropout masks
    from one stream). Empty where they do not continue them, or cannot be compared."""
    if base.long_epochs is None:
        return []
    frame = fr.frame_of(source)
    val = fr.wide(fr.finished(frame), "validation", "loss")
    trials = fr.trials_of(frame)
    short = fr.select(trials, base)
    long = fr.select(trials, base, epochs=base.long_epochs)
    seeds = set(short["seed"]) & set(long["seed"])
    if not seeds:
        return []
    compared: set[int] = set()
    for seed in seeds:
        a = short.index[short["seed"] == seed][0]
        b = long.index[long["seed"] == seed][0]
        if a not in val.index or b not in val.index:
            return []
        both = val.loc[[a, b]].dropna(axis=1)
        if both.empty or not np.array_equal(both.loc[a].to_numpy(), both.loc[b].to_numpy()):
            return []
        compared |= {int(e) for e in both.columns}
    return sorted(compared)


def early_stopping(frame: pd.DataFrame) -> Table | None:
    """What early stopping would have given each run of ``frame`` (finished runs with a
    ``test_curve``): keep the model of the logged epoch with the lowest validation loss
    (as Keras's ``EarlyStopping(restore_best_weights=True)`` does, with patience to the
    end), and measure it on the fresh test set logged beside it, which took no part in the
    choice.

    Returns None without a test curve, else ``{"epochs": [stop epoch per run], "last",
    "acc_stop", "acc_last", "acc_gain", "loss_stop", "loss_last", "loss_gain", "test_samples"}``:
    test accuracy and loss at the stop and at the last epoch, and the per-run
    differences (stop minus last; paired, the same run).
    """
    val_loss = fr.wide(frame, "validation", "loss")
    test_acc, test_loss = fr.wide(frame, "test_curve", "acc"), fr.wide(frame, "test_curve", "loss")
    keys = val_loss.index.intersection(test_acc.index)
    if not len(keys):
        return None
    stop = val_loss.loc[keys].idxmin(axis=1)
    last = int(test_acc.columns.max())
    at_stop = {name: pd.Series([w.at[k, stop[k]] for k in keys], index=keys)
               for name, w in (("acc", test_acc), ("loss", test_loss))}
    at_last = {"acc": test_acc.loc[keys, last], "loss": test_loss.loc[keys, last]}
    sizes = frame.loc[frame["split"] == "test_curve", "test_samples"]
    return {"epochs": sorted(int(e) for e in stop), "last": last,
            "test_samples": int(sizes.max()),
            **{f"{m}_{when}": summarize_as(m, values[m]) for when, values in
               (("stop", at_stop), ("last", at_last)) for m in ("acc", "loss")},
            "acc_gain": summarize(at_stop["acc"] - at_last["acc"]),
            "loss_gain": summarize(at_stop["loss"] - at_last["loss"])}


def crossed_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """The epochs study at each of its training sizes: :func:`epochs_table` per size,
    ``{"rows": [table, ...]}`` ordered by ``train_samples`` (empty without long runs), each
    with ``loss_rise_holm``, its ``loss_rise_p`` Holm-adjusted over the sizes."""
    if base.long_epochs is None:
        return {"study": "crossed", "rows": []}
    frame = fr.frame_of(source)
    long = fr.select(frame, base, train_samples=False, epochs=base.long_epochs)
    sizes = sorted(int(n) for n in long["train_samples"].unique())
    rows = [epochs_table(frame, base, n) for n in sizes]
    for r, q in zip(rows, holm([r["loss_rise_p"] for r in rows]), strict=True):
        r["loss_rise_holm"] = q
    return {"study": "crossed", "rows": rows}


def _late_change(frame: pd.DataFrame) -> tuple[Summary, Summary, int | None, str]:
    """Per run of ``frame``: the change of accuracy and loss from the logged epoch nearest
    half the run to the last one (fresh test curve where logged, else validation); with
    the epoch compared from and the split used."""
    split = "test_curve" if (frame["split"] == "test_curve").any() else "validation"
    acc, loss = fr.wide(frame, split, "acc"), fr.wide(frame, split, "loss")
    if acc.empty:
        return summarize([]), summarize([]), None, split
    last = int(acc.columns.max())
    half = int(min(acc.columns, key=lambda e: abs(e - last / 2)))
    return (fr.change(acc, last, half), fr.change(loss, last, half), half, split)


def lr_table(source: Store | pd.DataFrame, base: Base) -> Table:
    """Per learning rate: runs, diverged runs, and over the runs that did not diverge the
    final and best (over logged epochs) validation accuracy and loss with CIs.

    Rows: ``{"lr", "n", "diverged", "diverged_at", "train_acc", "val_acc", "val_loss",
    "best_val_acc", "best_val_loss", "best_minus_final_acc", "late_acc", "late_loss",
    "late_from", "late_split", "curve"}``; ``n`` counts the runs that did not diverge,
    ``diverged_at`` lists the epochs at which the others did, ``curve`` is per logged epoch
    as in :func:`epochs_table`; ``late_acc``/``late_loss`` are the per-run changes over the
    second half of the run (from logged epoch ``late_from`` to the last, on ``late_split``:
    the fresh test curve where logged), which say whether a rate was still improving when
    training stopped. ``best_lr`` has the highest mean final validation accuracy.
    """
    picked = fr.select(fr.frame_of(source), base, lr=False)
    test_size, tests = fr.per_run(picked)
    rows: list[dict[str, Any]] = []
    for rate, group in fr.trials_of(picked).groupby("lr"):
        finished = fr.finished(picked[picked["key"].isin(group.index)])
        finals = fr.finals(finished)
        curves = fr.curves(finished)
        best_acc = curves["val_acc"].max(axis=1)
        mine = tests.loc[tests.index.intersection(finals.index)]
        rows.append({
            **(fr.summaries(mine[["acc", "loss"]].add_prefix("test_"))
               if test_size is not None else {}),
            "lr": float(rate), "n": len(finals), "diverged": len(group) - len(finals),
            "diverged_at": sorted(int(e) for e in group["diverged_at"].dropna()),
            "train_acc": summarize_as("train_acc", finals["train_acc"]),
            "val_acc": summarize_as("val_acc", finals["val_acc"]),
            "val_loss": summarize_as("val_loss", finals["val_loss"]),
            "best_val_acc": summarize_as("best_val_acc", best_acc),
            "best_val_loss": summarize_as("loss", curves["val_loss"].min(axis=1)),
            "best_minus_final_acc": summarize(best_acc - finals["val_acc"]),
            **dict(zip(("late_acc", "late_loss", "late_from", "late_split"),
                       _late_change(finished), strict=True)),
            "curve": fr.curve_rows(curves),
        })
    ranked = [row for row in rows if row["n"]]
    best = max(ranked, key=lambda row: row["val_acc"].mean)["lr"] if ranked else None
    return {"study": "lr", "rows": rows, "best_lr": best, "test_samples": test_size}


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
    """Every table of ``studies`` (``"all"`` or any of :data:`~xpnet.experiments.plan.STUDIES`)
    over the trials in ``store`` (of ``keys`` only, if given): ``{"samples", "test_size",
    "samples_scan", "samples_against", "test_size_iid", "epochs", "crossed", "lr",
    "lr_scan", "lr_against", "lr_speed", "regularizers", "panels", "why"}`` (those of the
    studies asked for)."""
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
        tables["epochs"]["continues_base"] = continues_base(frame, base)
        tables["crossed"] = crossed_table(frame, base)
    if "lr" in names:
        tables["lr"] = lr_table(frame, base)
        tables["lr"]["set_aside"] = [] if keys is None else lr_set_aside(store, keys)
        tables["lr_scan"] = neighbours_table(frame, base, "lr")
        tables["lr_against"] = against_table(frame, base, "lr")
        tables["lr_speed"] = speed_table(frame, base)
    if "regularizers" in names:
        tables["regularizers"] = regularizers_table(frame, base, store)
    tables["panels"] = boundary_panels(frame, configs, base, names)
    tables["why"] = why_table(frame, base, names)
    return tables


def lr_set_aside(store: Store, keys: Iterable[str]) -> list[dict[str, Any]]:
    """The stored runs a report of ``keys`` leaves out that differ from one of its runs in
    the learning rate alone, at rates it does not use: an lr grid refined around an earlier
    pass's best rate (:func:`~xpnet.experiments.study.refine_trials`) that a resumed,
    extended study no longer picks. Resume keeps every planned trial, so such runs can only
    be that. Returns ``[{"lr", "seeds"}]`` by rate, ``seeds`` the number of seeds run."""
    configs = {t["key"]: t["config"] for t in store.trials()}
    used = {k for k in keys if k in configs}

    def apart_from_lr(config: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in config.items() if k not in ("lr", "test_points")},
                          sort_keys=True)

    shapes = {apart_from_lr(configs[k]) for k in used}
    rates = {configs[k]["lr"] for k in used}
    aside: dict[float, set[int]] = {}
    for key, config in configs.items():
        if key not in used and config["lr"] not in rates and apart_from_lr(config) in shapes:
            aside.setdefault(config["lr"], set()).add(config["seed"])
    return [{"lr": lr, "seeds": len(seeds)} for lr, seeds in sorted(aside.items())]


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
        tests = fr.per_run(picked)[1][["acc", "loss", "gap"]].add_prefix("test_")
        out[name] = (fr.finals(picked).join(tests, how="left")
                     .join(fr.trials_of(picked)[["seed", vary]]))
    if base.long_epochs is not None:
        long = fr.finished(fr.select(frame, base, train_samples=False,
                                     epochs=base.long_epochs))
        curves = fr.curves(long)
        out["epochs"] = (pd.concat({name: c.stack() for name, c in curves.items()}, axis=1)
                         .reset_index()
                         .join(fr.trials_of(long)["train_samples"], on="key"))
    return out


def weight_stats(blob: bytes, layer: int = 0, small: float = 1e-3) -> dict[str, float]:
    """The weights of Dense layer ``layer`` in a stored snapshot (the .npz bytes of
    :meth:`~xpnet.experiments.store.Store.snapshot`): ``mean_abs`` (mean ``|W|``),
    ``small`` (fraction with ``|W| < small``) and ``zero`` (fraction exactly 0)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
        W = np.asarray(saved[f"layers.{layer}.W"], dtype=np.float64)
    return {"mean_abs": float(np.abs(W).mean()), "small": float((np.abs(W) < small).mean()),
            "zero": float((W == 0).mean())}


def regularizers_table(source: Store | pd.DataFrame, base: Base,
                       store: Store | None = None) -> Table:
    """The regularizers study: each arm (:data:`~xpnet.experiments.plan.ARMS`) at each of
    its training sizes, against the book's own arm, paired by seed.

    Per run: test accuracy and loss on the largest fresh test sets; the generalization gap
    (final training accuracy, dropout off, minus that test accuracy); ``overfit``, how far
    the fresh test curve's loss ended above its value at the epoch the arm's other runs'
    mean validation loss is lowest at (:func:`held_out_epochs`, as in
    :func:`epochs_table`); and, with ``store``,
    the first layer's weights at the end (:func:`weight_stats`). Per arm and size, each of
    these summarised, and ``acc_vs_book``/``loss_vs_book``/``gap_vs_book``
    (:func:`~xpnet.experiments.stats.paired`, arm minus book), accuracy and loss with
    Holm-adjusted p-values over the arms of that size (``acc_holm``, ``loss_holm``).

    Returns ``{"study": "regularizers", "test_samples", "rows": [{"train_samples", "arm",
    "runs", "diverged", "acc", "loss", "gap", "overfit", "mean_abs", "small", "zero",
    "acc_vs_book", "acc_holm", "loss_vs_book", "loss_holm", "gap_vs_book"}, ...]}``.
    """
    frame = fr.frame_of(source)
    picked = fr.select(frame, base, train_samples=False, arm=None)
    every = fr.trials_of(picked)
    # the study's sizes: where an arm other than the book's ran (the book's is the reference)
    sizes = set(every.loc[every["arm"] != "book", "train_samples"])
    trials = every[every["train_samples"].isin(sizes)]
    done = fr.finished(picked[picked["key"].isin(trials.index)])
    size, per = fr.per_run(done)
    curve_loss = fr.wide(done, "test_curve", "loss")
    per["overfit"] = math.nan
    if not curve_loss.empty:
        # as in epochs_table: from the epoch the other runs of the arm pick on validation
        val_loss = fr.wide(done, "validation", "loss")
        last = curve_loss.columns.max()
        for _, group in trials.groupby(["train_samples", "arm"]):
            keys = group.index.intersection(per.index).intersection(
                curve_loss.index).intersection(val_loss.index)
            if len(keys):
                at = held_out_epochs(val_loss.loc[keys].dropna(axis=1), "min")
                for k in keys:
                    per.at[k, "overfit"] = curve_loss.at[k, last] - curve_loss.at[k, at[k]]
    for name in ("mean_abs", "small", "zero"):
        per[name] = math.nan
    if store is not None:
        for key in per.index:
            blob = store.snapshot(key, int(trials.at[key, "epochs"]))
            if blob is not None:
                for name, value in weight_stats(blob).items():
                    per.at[key, name] = value
    per = per.join(trials[["seed", "train_samples", "arm"]])
    rows: list[dict[str, Any]] = []
    for n, at_size in trials.groupby("train_samples"):
        book = per[(per["train_samples"] == n) & (per["arm"] == "book")].set_index("seed")
        size_rows = []
        for arm in [a for a in ARMS if a in set(at_size["arm"])]:
            group = at_size[at_size["arm"] == arm]
            mine = per[(per["train_samples"] == n) & (per["arm"] == arm)].set_index("seed")
            seeds = sorted(set(book.index) & set(mine.index))
            row: dict[str, Any] = {
                "train_samples": int(n), "arm": arm, "runs": len(group),
                "diverged": int(group["diverged_at"].notna().sum()),
                **{name: summarize_as(name, mine[name]) for name in
                   ("acc", "loss", "gap", "overfit", "mean_abs", "small", "zero")}}
            if arm != "book":
                for name in ("acc", "loss", "gap"):
                    row[f"{name}_vs_book"] = paired(book.loc[seeds, name],
                                                    mine.loc[seeds, name])
            size_rows.append(row)
        others = [r for r in size_rows if r["arm"] != "book"]
        for metric in ("acc", "loss"):
            for r, q in zip(others, holm([r[f"{metric}_vs_book"].p for r in others]),
                            strict=True):
                r[f"{metric}_holm"] = q
        rows.extend(size_rows)
    return {"study": "regularizers", "test_samples": size, "rows": rows}
