"""Tables from a study's store: what the samples, epochs and lr studies measured.

Each table is a plain dict holding ``"rows"`` (a list of dicts) and a few findings; every
quantity over seeds is a :class:`~xpnet.experiments.stats.Summary` (mean, sd, 95% CI).
Runs whose loss became NaN or infinite (``diverged_at`` set) are counted in ``"diverged"``
and left out of every mean, never averaged in as NaN.

Which trials a table reads is fixed by a :class:`Base` the caller gives (the setting every
study varies one thing of), not guessed from the store:

- samples: ``lr == base.lr``, ``epochs == base.epochs``, any ``train_samples``;
- test sizes: the base setting itself (``train_samples``, ``lr``, ``epochs`` all base);
- epochs: ``epochs == base.long_epochs`` at the base ``train_samples`` and ``lr``;
- lr: ``train_samples == base.train_samples``, ``epochs == base.epochs``, any ``lr``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import presets
from .plan import STUDIES
from .stats import Summary, summarize
from .store import Store

__all__ = ["Base", "Run", "analyze", "boundary_panels", "epochs_table", "load_runs",
           "lr_table", "samples_table", "test_size_table"]

Table = dict[str, Any]


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


@dataclass
class Run:
    """One stored trial's measurements, indexed for the tables.

    ``curve[(split, metric)]`` maps each logged epoch to its value; ``test[(metric, size)]``
    lists the values of the test-set repeats in order.
    """

    key: str
    config: dict[str, Any]
    diverged_at: int | None
    curve: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)
    test: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def final(self, split: str, metric: str) -> float:
        """The value at the run's last epoch (NaN if not logged, as for a diverged run)."""
        return self.curve.get((split, metric), {}).get(self.config["epochs"], math.nan)


def load_runs(store: Store, keys: Iterable[str] | None = None) -> list[Run]:
    """Every stored trial (of ``keys`` only, if given) with its rows, ordered by key."""
    wanted = None if keys is None else set(keys)
    runs = {t["key"]: Run(t["key"], t["config"], t["diverged_at"]) for t in store.trials()
            if wanted is None or t["key"] in wanted}
    for r in store.rows(None if wanted is None else list(runs)):
        run = runs.get(r["key"])
        if run is None:
            continue
        # SQLite stores NaN as NULL
        value = math.nan if r["value"] is None else float(r["value"])
        if r["split"] == "test":
            run.test.setdefault((r["metric"], r["test_samples"]), []).append(value)
        else:
            run.curve.setdefault((r["split"], r["metric"]), {})[r["epoch"]] = value
    return list(runs.values())


def _runs(source: Store | Sequence[Run]) -> list[Run]:
    return load_runs(source) if isinstance(source, Store) else list(source)


def _same(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9)


def _select(runs: list[Run], base: Base, *, train_samples: bool = True, lr: bool = True,
            epochs: int | None = None) -> list[Run]:
    """Runs of ``base.preset`` at ``epochs`` (default base), with the base train_samples
    and/or lr where asked."""
    epochs = base.epochs if epochs is None else epochs
    return [r for r in runs
            if r.config["preset"] == base.preset and r.config["epochs"] == epochs
            and (not train_samples or r.config["train_samples"] == base.train_samples)
            and (not lr or _same(r.config["lr"], base.lr))]


def _final_metrics(runs: list[Run]) -> dict[str, Summary]:
    ok = [r for r in runs if not r.diverged]
    return {
        "train_acc": summarize(r.final("train", "acc") for r in ok),
        "train_loss": summarize(r.final("train", "loss") for r in ok),
        "val_acc": summarize(r.final("validation", "acc") for r in ok),
        "val_loss": summarize(r.final("validation", "loss") for r in ok),
        "gap": summarize(r.final("train", "acc") - r.final("validation", "acc") for r in ok),
    }


def samples_table(source: Store | Sequence[Run], base: Base) -> Table:
    """Per training-set size: final train/validation accuracy and loss and the
    generalization gap (train acc - validation acc, per run), each with its 95% CI.

    Returns ``{"rows": [{"train_samples", "n", "diverged", "train_acc", "train_loss",
    "val_acc", "val_loss", "gap"}, ...]}`` ordered by ``train_samples``; ``n`` counts the
    runs that did not diverge.
    """
    runs = _select(_runs(source), base, train_samples=False)
    rows = []
    for size in sorted({r.config["train_samples"] for r in runs}):
        group = [r for r in runs if r.config["train_samples"] == size]
        n_div = sum(r.diverged for r in group)
        rows.append({"train_samples": size, "n": len(group) - n_div, "diverged": n_div,
                     **_final_metrics(group)})
    return {"study": "samples", "rows": rows}


def _log_slope(x: Sequence[float], y: Sequence[float]) -> float:
    pts = [(math.log(a), math.log(b)) for a, b in zip(x, y, strict=True)
           if a > 0 and b > 0 and math.isfinite(b)]
    if len(pts) < 2:
        return math.nan
    lx, ly = np.array(pts).T
    return float(np.polyfit(lx, ly, 1)[0])


def test_size_table(source: Store | Sequence[Run], base: Base) -> Table:
    """Per test-set size ``n`` (per class): how the measured accuracy and loss of the base
    setting's trained models behave, over trials and test-set repeats.

    Columns of each row: ``acc``/``loss`` (mean over trials of the mean over repeats, CI
    over trials); ``acc_sd``/``loss_sd`` (sd across repeats within a trial, pooled over
    trials as ``sqrt(mean of variances)``); ``binomial_sd`` = ``sqrt(p (1 - p) / (n k))``
    with ``k`` classes and ``p`` the mean accuracy at the largest size; ``acc_bias``/
    ``loss_bias`` (per trial, mean at ``n`` minus mean at the largest size; CI over
    trials). ``slope`` is the least-squares slope of log ``acc_sd`` against log ``n``
    (the binomial law's is -1/2).
    """
    runs = [r for r in _select(_runs(source), base) if not r.diverged]
    sizes = sorted({n for r in runs for (m, n) in r.test if m == "acc"})
    if not sizes:
        return {"study": "test_size", "rows": [], "reference": None, "p": math.nan,
                "classes": base.classes, "slope": math.nan, "trials": 0}
    ref = sizes[-1]

    def per_trial(metric: str, n: int) -> list[float]:
        return [float(np.mean(r.test[(metric, n)])) if r.test.get((metric, n)) else math.nan
                for r in runs]

    def pooled_sd(metric: str, n: int) -> float:
        variances = [float(np.var(v, ddof=1)) for r in runs
                     if len(v := r.test.get((metric, n), [])) >= 2]
        return math.sqrt(float(np.mean(variances))) if variances else math.nan

    p = summarize(per_trial("acc", ref)).mean
    rows: list[dict[str, Any]] = []
    for n in sizes:
        acc, loss = per_trial("acc", n), per_trial("loss", n)
        acc_ref, loss_ref = per_trial("acc", ref), per_trial("loss", ref)
        rows.append({
            "test_samples": n,
            "trials": len(runs),
            "repeats": max(len(r.test.get(("acc", n), [])) for r in runs),
            "acc": summarize(acc),
            "acc_sd": pooled_sd("acc", n),
            "binomial_sd": math.sqrt(p * (1 - p) / (n * base.classes)),
            "acc_bias": summarize(a - b for a, b in zip(acc, acc_ref, strict=True)),
            "loss": summarize(loss),
            "loss_sd": pooled_sd("loss", n),
            "loss_bias": summarize(a - b for a, b in zip(loss, loss_ref, strict=True)),
        })
    slope = _log_slope([r["test_samples"] for r in rows], [r["acc_sd"] for r in rows])
    return {"study": "test_size", "rows": rows, "reference": ref, "p": p,
            "classes": base.classes, "slope": slope, "trials": len(runs)}


def _curves(runs: list[Run]) -> list[dict[str, Any]]:
    """Per logged epoch (those every run logged): train/validation acc and loss, gap."""
    epochs = sorted(set.intersection(*(set(r.curve.get(("validation", "acc"), {}))
                                       for r in runs))) if runs else []
    rows = []
    for e in epochs:
        row: dict[str, Any] = {"epoch": e, "n": len(runs)}
        for split, short in (("train", "train"), ("validation", "val")):
            for metric in ("acc", "loss"):
                row[f"{short}_{metric}"] = summarize(r.curve[(split, metric)][e] for r in runs)
        row["gap"] = summarize(r.curve[("train", "acc")][e] - r.curve[("validation", "acc")][e]
                               for r in runs)
        rows.append(row)
    return rows


def _paired(runs: list[Run], split: str, metric: str, e: int, ref: int) -> Summary:
    """Per-run change of ``metric`` from epoch ``ref`` to epoch ``e`` (same seed)."""
    return summarize(r.curve[(split, metric)][e] - r.curve[(split, metric)][ref] for r in runs)


def epochs_table(source: Store | Sequence[Run], base: Base) -> Table:
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
    group = _select(_runs(source), base, epochs=base.long_epochs)
    runs = [r for r in group if not r.diverged]
    rows = _curves(runs)
    out: Table = {"study": "epochs", "rows": rows, "n": len(runs),
                  "diverged": len(group) - len(runs), "best_acc_epoch": None,
                  "best_loss_epoch": None, "onset": None, "rise_epoch": None,
                  "loss_rise": None, "acc_change": None, "train_change": None,
                  "plateau_epoch": None}
    if not rows:
        return out
    last = rows[-1]["epoch"]
    best_acc = max(rows, key=lambda row: row["val_acc"].mean)
    best_loss = min(rows, key=lambda row: row["val_loss"].mean)
    e_acc, e_loss = best_acc["epoch"], best_loss["epoch"]
    out.update(best_acc_epoch=e_acc, best_loss_epoch=e_loss,
               loss_rise=_paired(runs, "validation", "loss", last, e_loss),
               acc_change=_paired(runs, "validation", "acc", last, e_acc),
               train_change=_paired(runs, "train", "acc", last, e_acc))
    for row in rows:
        if row["epoch"] > e_loss and _paired(runs, "validation", "loss", row["epoch"],
                                             e_loss).ci_low > 0:
            out.update(onset=e_loss, rise_epoch=row["epoch"])
            break
    # walk back from the end while each epoch is within the noise of the best one
    plateau = None
    for row in reversed(rows if len(runs) >= 2 else []):
        if _paired(runs, "validation", "acc", row["epoch"], e_acc).ci_high < 0:
            break
        plateau = row["epoch"]
    out["plateau_epoch"] = plateau
    return out


def lr_table(source: Store | Sequence[Run], base: Base) -> Table:
    """Per learning rate: runs, diverged runs, and over the runs that did not diverge the
    final and best (over logged epochs) validation accuracy and loss with CIs.

    Rows: ``{"lr", "n", "diverged", "diverged_at", "train_acc", "val_acc", "val_loss",
    "best_val_acc", "best_val_loss", "best_minus_final_acc", "curve"}``; ``n`` counts the
    runs that did not diverge, ``diverged_at`` lists the epochs at which the others did,
    ``curve`` is per logged epoch as in :func:`epochs_table`. ``best_lr`` has the highest
    mean final validation accuracy.
    """
    runs = _select(_runs(source), base, lr=False)
    rows = []
    for rate in sorted({r.config["lr"] for r in runs}):
        group = [r for r in runs if _same(r.config["lr"], rate)]
        ok = [r for r in group if not r.diverged]
        best_acc = [max(r.curve[("validation", "acc")].values()) for r in ok]
        best_loss = [min(r.curve[("validation", "loss")].values()) for r in ok]
        final = _final_metrics(ok)
        rows.append({
            "lr": rate, "n": len(ok), "diverged": len(group) - len(ok),
            "diverged_at": sorted(r.diverged_at for r in group if r.diverged_at is not None),
            "train_acc": final["train_acc"], "val_acc": final["val_acc"],
            "val_loss": final["val_loss"], "best_val_acc": summarize(best_acc),
            "best_val_loss": summarize(best_loss),
            "best_minus_final_acc": summarize(
                b - r.final("validation", "acc") for b, r in zip(best_acc, ok, strict=True)),
            "curve": _curves(ok),
        })
    ranked = [row for row in rows if row["n"]]
    best = max(ranked, key=lambda row: row["val_acc"].mean)["lr"] if ranked else None
    return {"study": "lr", "rows": rows, "best_lr": best}


def boundary_panels(source: Store | Sequence[Run], base: Base,
                    studies: Sequence[str]) -> list[dict[str, Any]]:
    """The settings the decision-boundary figure shows, in pairs: fewest vs most training
    samples, early vs late epoch, smallest vs largest learning rate (of the runs with a
    snapshot), each at the lowest seed both ends share.

    Returns ``[{"row", "label", "key", "config", "epoch", "val_acc"}, ...]``.
    """
    runs = [r for r in _runs(source) if not r.diverged]
    pairs: list[tuple[str, list[tuple[str, Run, int]]]] = []

    def ends(group: list[Run], attr: str) -> list[Run]:
        values = sorted({r.config[attr] for r in group})
        if len(values) < 2:
            return []
        firsts = [[r for r in group if r.config[attr] == v] for v in (values[0], values[-1])]
        seeds = {r.config["seed"] for r in firsts[0]} & {r.config["seed"] for r in firsts[1]}
        if not seeds:
            return []
        return [next(r for r in g if r.config["seed"] == min(seeds)) for g in firsts]

    with_snapshot = [r for r in runs if base.epochs in r.config["snapshots"]]
    if "samples" in studies:
        pair = ends(_select(with_snapshot, base, train_samples=False), "train_samples")
        if pair:
            pairs.append(("training samples", [
                (f"{r.config['train_samples']}/class", r, base.epochs) for r in pair]))
    if "epochs" in studies and base.long_epochs is not None:
        long = sorted(_select(runs, base, epochs=base.long_epochs),
                      key=lambda r: r.config["seed"])
        if long and len(long[0].config["snapshots"]) >= 2:
            r = long[0]
            snaps = sorted(r.config["snapshots"])
            pairs.append(("epochs", [(f"epoch {e}", r, e) for e in (snaps[0], snaps[-1])]))
    if "lr" in studies:
        pair = ends(_select(with_snapshot, base, lr=False), "lr")
        if pair:
            pairs.append(("learning rate", [
                (f"lr {r.config['lr']:g}", r, base.epochs) for r in pair]))
    return [{"row": name, "label": label, "key": r.key, "config": r.config, "epoch": e,
             "val_acc": r.curve.get(("validation", "acc"), {}).get(e, math.nan)}
            for name, panel in pairs for label, r, e in panel]


def analyze(store: Store | Sequence[Run], studies: Sequence[str], base: Base) -> dict[str, Any]:
    """Every table of ``studies`` (``"all"`` or any of "samples", "epochs", "lr"):
    ``{"samples", "test_size", "epochs", "lr", "panels"}`` (the studies asked for)."""
    names = list(STUDIES) if studies == "all" or "all" in studies else list(studies)
    runs = _runs(store)
    tables: dict[str, Any] = {}
    if "samples" in names:
        tables["samples"] = samples_table(runs, base)
        tables["test_size"] = test_size_table(runs, base)
    if "epochs" in names and base.long_epochs is not None:
        tables["epochs"] = epochs_table(runs, base)
    if "lr" in names:
        tables["lr"] = lr_table(runs, base)
    tables["panels"] = boundary_panels(runs, base, names)
    return tables
