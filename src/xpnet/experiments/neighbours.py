"""Settings of a study compared seed by seed on the largest fresh test sets, Holm-corrected.

:func:`seed_values` is the per-run measurement every comparison rests on (test accuracy and
loss at the largest test size, the generalization gap), one column per setting and one row
per seed; :func:`compare_settings` takes two settings of it seed by seed. The scans are
built from these two: :func:`neighbours_table` (each setting against the next) and
:func:`against_table` (each setting against one reference: the most training data, or the
best learning rate).
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

__all__ = ["METRICS", "against_table", "compare_settings", "neighbours_table", "seed_values"]

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


def _holm_rows(rows: list[dict[str, Any]]) -> None:
    """Add ``acc_holm`` and ``loss_holm``: each metric's p-values Holm-adjusted over rows."""
    for metric in _TESTED:
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
