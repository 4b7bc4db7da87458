"""Settings of a study compared seed by seed on the largest fresh test sets, Holm-corrected.

:func:`seed_values` is the per-run measurement every comparison rests on (test accuracy and
loss at the largest test size, the generalization gap), one column per setting and one row
per seed; :func:`compare_settings` takes two settings of it seed by seed. The scans are
built from these two: :func:`neighbours_table` (each setting against the next) and
:func:`against_table` (each setting against one reference: the most training data, or the
best learning rate). :func:`speed_table` compares the learning rates the same way early in
the run, on the curves.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from . import frame as fr
from .frame import Base, Table
from .stats import holm, paired, summarize_as
from .store import Store

__all__ = ["METRICS", "against_table", "compare_settings", "neighbours_table", "seed_values",
           "speed_table"]

#: What each study varies, for :func:`seed_values`.
_VARIED = {"samples": "train_samples", "lr": "lr"}

#: The per-run values of :func:`seed_values`: test accuracy and loss at the largest test
#: size, final training accuracy (without dropout) and the gap ``train_acc - acc``.
METRICS = ("acc", "loss", "train_acc", "gap")

#: The metrics a scan Holm-corrects (each family separately).
_TESTED = ("acc", "loss")


def seed_values(source: Store | pd.DataFrame, base: Base, study: str) -> Table:
    """The finished runs of the ``"samples"`` or ``"lr"`` study, one value per seed and
    setting, measured where it is most precise.

    Per run: ``acc`` and ``loss``, the mean over the test-set repeats at the largest test
    size (fresh data, far more of it than the validation set); ``train_acc``, the final
    training accuracy (measured without dropout); ``gap = train_acc - acc``, the
    generalization gap on the same test sets.

    Returns ``{"study", "varied", "test_samples", "values": {metric: DataFrame}}``, each
    DataFrame indexed by ``seed`` with one column per setting of ``varied`` (NaN where that
    seed's run diverged); ``values`` is empty and ``test_samples`` None without test rows.
    """
    if study not in _VARIED:
        msg = (f"the paired comparisons take the settings of the 'samples' or 'lr' study, "
               f"got {study!r}; call e.g. neighbours_table(frame, base, 'lr').")
        raise ValueError(msg)
    varied = _VARIED[study]
    picked = fr.finished(fr.select(fr.frame_of(source), base, train_samples=study != "samples",
                                   lr=study != "lr"))
    out: Table = {"study": study, "varied": varied, "test_samples": None, "values": {}}
    size, per_run = fr.per_run(picked)
    if size is None:
        return out
    per_run = per_run.join(fr.trials_of(picked)[["seed", varied]])
    twice = per_run.duplicated(["seed", varied])
    if twice.any():
        msg = (f"two runs of the {study} study share seed and {varied} ("
               f"{per_run.loc[twice, ['seed', varied]].iloc[0].tolist()}); the base setting "
               "must select one run per seed and setting (frame.select).")
        raise ValueError(msg)
    values = {m: per_run.pivot(index="seed", columns=varied, values=m).sort_index(axis=1)
              for m in METRICS}
    out.update(test_samples=size, values=values)
    return out


def compare_settings(values: Table, a: Any, b: Any) -> dict[str, Any]:
    """Setting ``b`` against setting ``a`` of :func:`seed_values`, seed by seed: ``b - a``
    for every metric (:func:`~xpnet.experiments.stats.paired`; a seed whose run diverged in
    either setting drops out of that pair).

    Returns ``{"a", "b", "acc", "loss", "train_acc", "gap"}``, the metrics being
    :class:`~xpnet.experiments.stats.Paired`.
    """
    at = values["values"]
    return {"a": a, "b": b, **{m: paired(at[m][a], at[m][b]) for m in METRICS}}


def _holm_rows(rows: list[dict[str, Any]], metrics: tuple[str, ...] = _TESTED) -> None:
    """Add ``acc_holm`` and ``loss_holm`` (of ``metrics``): each metric's p-values
    Holm-adjusted over rows."""
    for metric in metrics:
        for row, q in zip(rows, holm([r[metric].p for r in rows]), strict=True):
            row[f"{metric}_holm"] = q


def _settings(values: Table) -> list[Any]:
    return [s.item() if isinstance(s, np.generic) else s
            for s in values["values"]["acc"].columns] if values["values"] else []


def neighbours_table(source: Store | pd.DataFrame, base: Base, study: str) -> Table:
    """Each setting of the ``"samples"`` or ``"lr"`` study against the next, paired by seed
    on the largest fresh test sets (:func:`seed_values`, :func:`compare_settings`).

    Neighbouring settings ``a < b`` share their seeds (same training data and initial
    weights), so ``b - a`` is taken seed by seed. The p-values of the scan are Holm-adjusted
    within each metric (``acc_holm``, ``loss_holm``).

    Returns ``{"study", "varied", "test_samples", "rows": [{"a", "b", "acc", "acc_holm",
    "loss", "loss_holm", "train_acc", "gap"}, ...]}``, the metrics being
    :class:`~xpnet.experiments.stats.Paired`.
    """
    values = seed_values(source, base, study)
    rows = [compare_settings(values, a, b) for a, b in itertools.pairwise(_settings(values))]
    _holm_rows(rows)
    return {"study": study, "varied": values["varied"], "test_samples": values["test_samples"],
            "rows": rows}


def against_table(source: Store | pd.DataFrame, base: Base, study: str) -> Table:
    """Every setting of the ``"samples"`` or ``"lr"`` study against one reference, paired by
    seed on the largest fresh test sets, Holm-adjusted over the comparisons.

    The reference is the largest training-set size (samples) or the learning rate with the
    highest mean test accuracy among those with two or more finished runs (lr: ``"chosen":
    "best"``). Choosing the best on the same test sets it is then compared on favours it:
    its lead is biased upward, so its comparisons are optimistic.

    Returns ``{"study", "varied", "test_samples", "reference", "chosen", "settings",
    "rows"}``: ``settings`` per setting ``{"setting", "n", "acc", "loss", "train_acc"}``
    (:class:`~xpnet.experiments.stats.Summary` over seeds) and ``"gap"`` (the per-run gap
    against zero, a :class:`~xpnet.experiments.stats.Paired`: one-sample t-test and the
    smallest gap the design detects); ``rows`` per setting other than the reference
    ``{"a": setting, "b": reference, "acc", "acc_holm", "loss", "loss_holm", "train_acc",
    "gap"}`` as in :func:`compare_settings` (``reference - setting``).
    """
    values = seed_values(source, base, study)
    settings = _settings(values)
    out: Table = {"study": study, "varied": values["varied"],
                  "test_samples": values["test_samples"], "reference": None,
                  "chosen": "largest" if study == "samples" else "best", "settings": [],
                  "rows": []}
    if not settings:
        return out
    at = values["values"]
    out["settings"] = [
        {"setting": s, "n": int(at["acc"][s].notna().sum()),
         **{m: summarize_as(m, at[m][s]) for m in ("acc", "loss", "train_acc")},
         "gap": paired(np.zeros(len(at["gap"])), at["gap"][s])} for s in settings]
    if study == "samples":
        ref = settings[-1]
    else:
        testable = [r for r in out["settings"] if r["acc"].n >= 2] or out["settings"]
        ref = max(testable, key=lambda r: r["acc"].mean)["setting"]
    rows = [compare_settings(values, s, ref) for s in settings if s != ref]
    _holm_rows(rows)
    out.update(reference=ref, rows=rows)
    return out


def speed_table(source: Store | pd.DataFrame, base: Base) -> Table | None:
    """How fast each learning rate learns: accuracy at the logged epoch nearest a tenth of
    the run (on the fresh test curve where every run logged one, a far larger set than
    validation; else validation), every rate against the fastest, paired by seed and
    Holm-adjusted over the comparisons, as :func:`against_table` compares final accuracy.

    The fastest rate (highest mean accuracy there, among rates with two or more finished
    runs) is picked on the runs it is then compared with, so its lead is a little
    optimistic. None with fewer than two such rates or no epoch logged by every run.

    Returns ``{"epoch", "split", "test_samples", "fastest", "settings": [{"lr", "acc"}],
    "rows": [{"a": lr, "b": fastest, "acc", "acc_holm"}]}``: ``acc`` a
    :class:`~xpnet.experiments.stats.Summary` over seeds in ``settings``, a
    :class:`~xpnet.experiments.stats.Paired` (``fastest - lr``, seed by seed) in ``rows``.
    """
    picked = fr.finished(fr.select(fr.frame_of(source), base, lr=False))
    runs = set(picked["key"])
    on_test = runs and set(fr.wide(picked, "test_curve", "acc").index) == runs
    split = "test_curve" if on_test else "validation"
    acc = fr.wide(picked, split, "acc").dropna(axis=1)
    if acc.empty:
        return None
    epoch = int(min(acc.columns, key=lambda e: abs(e - acc.columns.max() / 10)))
    at = acc[[epoch]].join(fr.trials_of(picked)[["seed", "lr"]]).pivot(
        index="seed", columns="lr", values=epoch).sort_index(axis=1)
    rates = [float(r) for r in at.columns if at[r].notna().sum() >= 2]
    if len(rates) < 2:
        return None
    means = {r: summarize_as("acc", at[r]) for r in rates}
    fastest = max(rates, key=lambda r: means[r].mean)
    settings = [{"lr": r, "acc": means[r]} for r in rates]
    rows = [{"a": r, "b": fastest, "acc": paired(at[r], at[fastest])}
            for r in rates if r != fastest]
    _holm_rows(rows, ("acc",))
    sizes = picked.loc[picked["split"] == "test_curve", "test_samples"]
    return {"epoch": epoch, "split": split, "fastest": fastest, "settings": settings,
            "rows": rows, "test_samples": int(sizes.max()) if on_test else None}
