"""Figures of a study, drawn from the tables of :mod:`xpnet.experiments.analysis`.

Every function draws one PNG with matplotlib's Agg backend (imported when the first figure
is drawn: loading it takes a moment that importing the lab need not pay), writes it
atomically and returns its path. Lines are means over seeds; bands and error bars are 95% CIs;
small translucent dots, where the caller passes
:func:`~xpnet.experiments.analysis.seed_points`, are the seeds themselves, so a split between
seeds shows beside its mean.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import presets
from ..io import atomic_write_bytes
from .analysis import Base, Table
from .explorer import EXTENT, predicted_classes, snapshot_model
from .sections import curve_name, rise_p
from .stats import Summary, fmt_p
from .store import Store
from .trial import validation_set

__all__ = ["plot_boundaries", "plot_epochs", "plot_lr", "plot_samples", "plot_test_size"]

PathLike = str | os.PathLike[str]
#: Half-width of the square the decision boundaries are drawn on (the spiral's radius is 1).
#: Grid points per side for the decision-boundary pictures.
_GRID = 200


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: PathLike) -> Path:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _band(ax: Any, x: Sequence[float], s: Sequence[Summary], label: str,
          floor: float | None = None, **style: Any) -> Any:
    """Mean line with its 95% CI band, the band cut at ``floor`` where given (a log axis
    has no room for an interval that reaches 0); returns the line's colour."""
    (line,) = ax.plot(x, [v.mean for v in s], label=label, **style)
    low = [v.ci_low if floor is None else max(v.ci_low, floor) for v in s]
    ax.fill_between(x, low, [v.ci_high for v in s], alpha=0.2, color=line.get_color(),
                    linewidth=0)
    return line.get_color()


def _readable_log_axis(ax: Any) -> None:
    """Ticks at 1, 2 and 5 of each decade, written as plain numbers, on a log y axis (its
    default, ticks at powers of ten alone, leaves a loss between 0.5 and 1 unreadable)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


#: Most grid values labelled on an axis; a denser grid (a refined lr grid) gets a tick at
#: each power of ten instead, so that the labels do not overlap
_GRID_TICKS = 7


def _grid_ticks(ax: Any, values: Sequence[float]) -> None:
    """Ticks at the grid's own values on a log x axis, written as plain numbers (its default
    marks powers of ten alone, so 30 or 300 are not labelled)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ticks = sorted({float(v) for v in values})
    if len(ticks) > _GRID_TICKS:
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.xaxis.set_minor_locator(NullLocator())


def _seeds(ax: Any, points: pd.DataFrame | None, x: str, y: str, color: Any) -> None:
    """One small translucent dot per run (seed) of ``points`` (nothing if None)."""
    if points is not None and len(points):
        ax.scatter(points[x], points[y], s=22, alpha=0.55, color=color, edgecolors="none",
                   zorder=3)


def _splits(rows: Sequence[Table], test_samples: int | None,
            ) -> list[tuple[str, str, str]]:
    """(prefix, label, marker) of the splits ``rows`` have: train (dropout off),
    validation and, where measured, the fresh test sets."""
    splits = [("train", "train (no dropout)", "o"), ("val", "validation", "s")]
    if rows and "test_acc" in rows[0]:
        splits.append(("test", f"fresh test ({test_samples}/class)", "^"))
    return splits


def plot_samples(table: Table, path: PathLike, points: pd.DataFrame | None = None) -> Path:
    """Final accuracy, loss and generalization gap against training samples per class:
    training (dropout off), validation and, where measured, the fresh test sets the answer
    sheets quote, the gap against them (``points``: one dot per seed,
    :func:`~xpnet.experiments.analysis.seed_points`)."""
    plt = _pyplot()
    rows = table["rows"]
    x = [r["train_samples"] for r in rows]
    splits = _splits(rows, table.get("test_samples"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, title in ((axes[0], "acc", "accuracy"), (axes[1], "loss", "loss")):
        for split, label, marker in splits:
            color = _band(ax, x, [r[f"{split}_{metric}"] for r in rows], label, marker=marker)
            _seeds(ax, points, "train_samples", f"{split}_{metric}", color)
        ax.set(xscale="log", xlabel="training samples per class", title=f"final {title}",
               ylabel="accuracy" if metric == "acc" else "data loss (cross-entropy)")
        _grid_ticks(ax, x)
        ax.legend()
    gap, against = ("test_gap", splits[-1][1]) if splits[-1][0] == "test" else (
        "gap", "validation")
    _seeds(axes[2], points, "train_samples", gap,
           _band(axes[2], x, [r[gap] for r in rows], f"train acc - {against} acc",
                 marker="o", color="tab:red"))
    axes[2].axhline(0, color="grey", linewidth=0.8)
    axes[2].set(xscale="log", xlabel="training samples per class",
                title="generalization gap", ylabel="accuracy difference")
    _grid_ticks(axes[2], x)
    axes[2].legend()
    fig.suptitle("Training-set size (mean over seeds, 95% CI bands"
                 + ("; dots: seeds)" if points is not None else ")"))
    fig.tight_layout()
    return _save(fig, path)


def plot_test_size(table: Table, path: PathLike, iid: Table | None = None) -> Path:
    """Measured accuracy against test-set size: its mean (bias?) and its spread against
    the binomial law ``sqrt(p (1 - p) / (n k))``, on the book's spiral and, with ``iid``
    (:func:`~xpnet.experiments.analysis.test_size_table` of ``"test_iid"``), on test sets
    of independent points beside it."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    series = [("book's spiral", table, "o")]
    if iid is not None and iid["rows"]:
        series.append(("independent points", iid, "s"))
    for label, t, marker in series:
        rows = t["rows"]
        n = np.array([r["test_samples"] for r in rows], dtype=float)
        bias = [r["acc_bias"] for r in rows[:-1]]
        err = np.array([b.half_width for b in bias])
        axes[0].errorbar(n[:-1], [b.mean for b in bias],
                         yerr=np.where(np.isfinite(err), err, 0), marker=marker, capsize=4,
                         label=f"{label}: measured at n - at {t['reference']}/class")
        sd = np.array([r["acc_sd"] for r in rows])
        keep = np.isfinite(sd) & (sd > 0)
        axes[1].plot(n[keep], sd[keep], marker, label=f"{label}: sd across test sets")
    axes[0].axhline(0, color="grey", linestyle="--", label="no bias")
    axes[0].set(xscale="log", xlabel="test samples per class", ylabel="accuracy difference",
                title="bias of the measured accuracy (same model; unadjusted 95% CI)")
    _grid_ticks(axes[0], [r["test_samples"] for r in table["rows"][:-1]])
    axes[0].legend(fontsize="small")
    rows = table["rows"]
    n = np.array([r["test_samples"] for r in rows], dtype=float)
    k, p = table["classes"], table["p"]
    dense = np.geomspace(n.min(), n.max(), 100)
    axes[1].plot(dense, np.sqrt(p * (1 - p) / (dense * k)), "-",
                 label=f"binomial: sqrt(p(1-p)/({k}n)), p={p:.3f}")
    axes[1].set(xscale="log", yscale="log", xlabel="test samples per class",
                ylabel="sd of measured accuracy",
                title=f"spread vs the 1/sqrt(n) law (book's spiral: fitted slope "
                f"{table['slope']:.2f})")
    _grid_ticks(axes[1], n.tolist())
    _readable_log_axis(axes[1])
    axes[1].legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


#: Height (inches) of one training size's row in the epochs figure, its legends below it.
_ROW = 5.2


def plot_epochs(tables: Table | Sequence[Table], path: PathLike,
                points: pd.DataFrame | None = None) -> Path:
    """Train, validation and (where logged) fresh-test curves over epochs, one row of
    panels per training size (an :func:`~xpnet.experiments.analysis.epochs_table` each),
    best epochs and overfitting onset marked (``points``: one dot per seed and logged
    epoch, with its ``train_samples``)."""
    plt = _pyplot()
    tables = [t for t in ([tables] if isinstance(tables, dict) else tables) if t["rows"]]
    fig, grid = plt.subplots(len(tables), 2, figsize=(13, _ROW * len(tables)), squeeze=False)
    for table, axes in zip(tables, grid, strict=True):
        rows = table["rows"]
        x = [r["epoch"] for r in rows]
        size = table["train_samples"]
        mine = None if points is None else points[points["train_samples"] == size]
        for ax, metric in ((axes[0], "acc"), (axes[1], "loss")):
            for split, label, _ in _splits(rows, _test_size(table)):
                color = _band(ax, x, [r[f"{split}_{metric}"] for r in rows], label)
                _seeds(ax, mine, "epoch", f"{split}_{metric}", color)
            ax.set(xscale="log", xlabel="epoch", title=f"{size}/class: "
                   + ("accuracy" if metric == "acc" else "loss"),
                   ylabel="accuracy" if metric == "acc" else "data loss (cross-entropy)")
        if table["best_acc_epoch"] is not None:
            # black: the bands take the colour cycle's first colours (fresh test: green)
            axes[0].axvline(table["best_acc_epoch"], color="black", linestyle=":",
                            label=f"best validation acc (epoch {table['best_acc_epoch']})")
            axes[1].axvline(table["best_loss_epoch"], color="black", linestyle=":",
                            label=f"lowest validation loss (epoch {table['best_loss_epoch']})")
        if table["onset"] is not None and rise_p(table) < 0.05:
            axes[1].axvline(table["rise_epoch"], color="tab:red", linestyle="--",
                            label=f"{curve_name(table)} loss above the held-out picks' from "
                            f"epoch {table['rise_epoch']} on")
        else:  # said in the legend, which finds a place clear of the curves; "not detected",
            # not "none": the mean curve may well rise where the runs cannot show it
            axes[1].plot([], [], " ", label=no_rise_label(table))
        for ax in axes:  # below the panel: inside, a long legend covers some curve
            ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16),
                      ncol=2, frameon=False)
    runs = sorted({t["n"] for t in tables})
    fig.suptitle(f"Epochs ({'/'.join(map(str, runs))} seeds per size, pointwise 95% CI "
                 "bands"
                 + ("; dots: seeds)" if points is not None else ")"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / (_ROW * len(tables))))  # room for the title
    return _save(fig, path)


def no_rise_label(table: Table) -> str:
    """The loss panel's legend where no onset is marked: whether the loss at the end was
    above the held-out picks' beyond the noise (Holm p), without the every-epoch onset."""
    p = rise_p(table)
    if not math.isfinite(p):
        return f"{curve_name(table)} loss rise: one run, not judged"
    if p < 0.05:
        return (f"{curve_name(table)} loss above the picks' at the end (Holm p {fmt_p(p)}), "
                "not at every epoch before")
    return f"no {curve_name(table)} loss rise beyond the noise (Holm p {fmt_p(p)})"


def _test_size(table: Table) -> int | None:
    """An epochs table's fresh test sets' size per class (for a legend), which its
    early-stopping summary records."""
    stop = table.get("early_stopping")
    return None if stop is None else stop["test_samples"]


def plot_lr(table: Table, path: PathLike, points: pd.DataFrame | None = None) -> Path:
    """Final accuracy and loss against lr: on the fresh test sets where measured (what the
    answer sheets quote), on validation, and validation's best over epochs (diverged runs
    marked; ``points``: each seed's final value); and the curves of every lr over epochs
    (the fresh test curves where every run logged one, else validation)."""
    plt = _pyplot()
    rows = table["rows"]
    ok = [r for r in rows if r["n"]]
    test = f"fresh test ({table.get('test_samples')}/class)"
    finals = [("val_{}", "final, validation", "o"), ("best_val_{}", "best validation", "s")]
    if ok and "test_acc" in ok[0]:
        finals.insert(0, ("test_{}", f"final, {test}", "^"))
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for ax, metric, name in ((axes[0, 0], "acc", "accuracy"), (axes[0, 1], "loss", "loss")):
        x = [r["lr"] for r in ok]
        for key, label, marker in finals:
            s = [r[key.format(metric)] for r in ok]
            err = np.array([v.half_width for v in s])
            # the quoted series (fresh test, first) on top; validation's see-through under it
            style = {"zorder": 3} if key is finals[0][0] else {"alpha": 0.55}
            bars = ax.errorbar(x, [v.mean for v in s], yerr=np.where(np.isfinite(err), err, 0),
                               marker=marker, capsize=4, label=label, **style)
            if key is finals[0][0]:
                _seeds(ax, points, "lr", key.format(metric), bars.lines[0].get_color())
        for r in rows:
            if r["diverged"]:
                ax.plot(r["lr"], 0.95, "x", color="tab:red", markersize=10,
                        transform=ax.get_xaxis_transform())
                ax.annotate(f"{r['diverged']}/{r['n'] + r['diverged']} diverged",
                            (r["lr"], 0.95), xycoords=ax.get_xaxis_transform(),
                            textcoords="offset points", xytext=(-8, -4), ha="right",
                            color="tab:red")
        ax.set(xscale="log", xlabel="learning rate", title=f"final {name}",
               ylabel="accuracy" if metric == "acc" else "data loss (cross-entropy)")
        _grid_ticks(ax, x)
        ax.legend()
    curves = [r for r in rows if r["curve"]]
    on_test = bool(curves) and all("test_acc" in r["curve"][0] for r in curves)
    split, where = ("test", test) if on_test else ("val", "validation")
    for ax, metric in ((axes[1, 0], "acc"), (axes[1, 1], "loss")):
        # a loss band whose interval reaches 0 would run off the log axis: it is cut at
        # half the lowest mean, above the axis' end, and the legend says so
        means = [c[f"{split}_loss"].mean for r in curves for c in r["curve"]]
        lowest = min((m for m in means if m > 0), default=None)
        floor = lowest / 2 if metric == "loss" and lowest is not None else None
        cut = False
        for r in curves:
            s = [c[f"{split}_{metric}"] for c in r["curve"]]
            _band(ax, [c["epoch"] for c in r["curve"]], s, f"lr {r['lr']:g}", floor)
            cut = cut or (floor is not None and any(v.ci_low < floor for v in s))
        ax.set(xscale="log", yscale="linear" if metric == "acc" else "log", xlabel="epoch",
               title=f"{where} {'accuracy' if metric == 'acc' else 'loss'} over epochs",
               ylabel="accuracy" if metric == "acc" else "data loss (cross-entropy)")
        if metric == "loss":
            if floor is not None:
                ax.set_ylim(bottom=floor / 1.25)
            if cut:
                ax.fill_between([], [], [], color="grey", alpha=0.2,
                                label=f"band cut at {floor:.2g}: its 95% interval reaches "
                                "lower")
            _readable_log_axis(ax)
        ax.legend(fontsize="small")
    fig.suptitle("Learning rate (mean over non-diverged seeds, 95% CIs"
                 + (f"; dots: seeds' final values, {finals[0][1].removeprefix('final, ')})"
                    if points is not None else ")"))
    fig.tight_layout()
    return _save(fig, path)


def panel_accuracy(store: Store, panel: dict[str, Any]) -> float:
    """A boundary panel's validation accuracy: as logged, or, at a kept epoch the log grid
    skipped, measured on the trial's own validation set from the kept model, as the logged
    ones were (nan without a snapshot)."""
    if not math.isnan(panel["val_acc"]):
        return float(panel["val_acc"])
    blob = store.snapshot(panel["key"], panel["epoch"])
    if blob is None:
        return math.nan
    model = snapshot_model(panel["config"], blob)[0]
    return float(model.evaluate(*validation_set(panel["config"], model.backend))["acc"])


def plot_boundaries(store: Store, base: Base, panels: Sequence[dict[str, Any]],
                    path: PathLike) -> Path | None:
    """Decision regions of snapshot models on the spiral, two panels per row of
    :func:`~xpnet.experiments.analysis.boundary_panels` (None when there are none)."""
    if not panels or presets.get(base.preset).task == "regression":
        return None
    plt = _pyplot()
    names = list(dict.fromkeys(p["row"] for p in panels))
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 4.3 * len(names)), squeeze=False)
    ticks = np.linspace(-EXTENT, EXTENT, _GRID, dtype=np.float32)
    gx, gy = np.meshgrid(ticks, ticks)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        for j, panel in enumerate(p for p in panels if p["row"] == name):
            ax = axes[i, j]
            blob = store.snapshot(panel["key"], panel["epoch"])
            if blob is None:
                ax.set_axis_off()
                continue
            model, X, y = snapshot_model(panel["config"], blob)
            regions = predicted_classes(model, grid).reshape(gx.shape)
            k = int(max(regions.max(), y.max())) + 1
            ax.imshow(regions, origin="lower", extent=(-EXTENT, EXTENT, -EXTENT, EXTENT),
                      cmap=cmap, vmin=0, vmax=9, alpha=0.35, interpolation="nearest")
            labels = y.ravel().astype(int)
            size = 12 if len(labels) <= 300 else 2
            for c in range(k):
                ax.scatter(*X[labels == c].T, s=size, color=cmap(c), edgecolors="none")
            acc = panel_accuracy(store, panel)
            score = "" if math.isnan(acc) else f", val acc {acc:.3f}"
            ax.set_title(f"{panel['label']} (seed {panel['config']['seed']}{score})")
            ax.set(xticks=[], yticks=[], aspect="equal")
        axes[i, 0].set_ylabel(name)
    fig.suptitle("Decision regions and training data")
    fig.tight_layout()
    return _save(fig, path)
