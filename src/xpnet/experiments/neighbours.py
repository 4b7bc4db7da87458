"""Neighbouring settings of a study compared seed by seed, Holm-corrected."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from . import frame as fr
from .frame import Base, Table
from .stats import holm, paired
from .store import Store

__all__ = ["neighbours_table"]

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
    picked = fr.finished(fr.select(fr.frame_of(source), base, train_samples=study != "samples",
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


