"""The study report: answer sheets, tables, plots and plain-language answers, every claim
from the data.

:func:`write_report` writes ``answers.md`` (:mod:`~xpnet.experiments.answers`),
``report.md`` and ``report.html`` (one :class:`~xpnet.experiments.document.Document`, two
renderings: the answer sheets first, then a section per study from
:mod:`~xpnet.experiments.sections`), the PNGs of :mod:`~xpnet.experiments.plots` and
``results.csv``. Each sentence quotes the numbers it rests on, and its wording is chosen by
a test on them (paired by seed, Holm-corrected scans, detectable differences, the F-test on
spreads: see :mod:`~xpnet.experiments.sections`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write_bytes
from . import plots
from .analysis import Base, analyze, load, seed_points
from .answers import EXPLORER, answer_sheets, provisional, write_answers
from .document import Document
from .plan import STUDIES, arm_of, preset_of
from .sections import (
    crossed_section,
    epochs_section,
    lr_late_section,
    lr_section,
    regularizers_section,
    samples_section,
    why_section,
)
from .sheets import Sheet, render
from .store import Store

__all__ = ["build_report", "write_report"]

QUESTIONS = {
    "samples": "1. What do the numbers of training and of test samples do to accuracy and "
               "loss?",
    "epochs": "2. What does the number of epochs do?",
    "lr": "3. What do different learning rates do?",
    "regularizers": "4. What do the chapter's regularizers (dropout, L2) and its learning-rate "
                    "decay do?",
}
def build_report(tables: dict[str, Any], studies: Sequence[str], base: Base, *,
                 seeds: int, images: Iterable[str] = (),
                 sheets: Sequence[Sheet] = ()) -> Document:
    """The report's document from :func:`~xpnet.experiments.analysis.analyze`'s tables;
    ``images`` are the PNG names that exist (others are not referenced); ``sheets``, the
    answer sheets (:func:`~xpnet.experiments.answers.answer_sheets`), come first."""
    have = set(images)
    doc = Document()
    doc.heading(1, f"What training samples, epochs, the learning rate and the regularizers "
                f"do: preset {base.preset}")
    doc.paragraph(
        f"Base setting: {base.train_samples} training samples per class, Adam with learning "
        f"rate {base.lr:g}, {base.epochs} epochs"
        + (f" ({base.long_epochs} in the epochs study)" if base.long_epochs else "")
        + f"; each study varies one of these, repeated over up to {seeds} seeds (a seed draws "
        "the training data, the initial weights and dropout; the validation and test sets "
        "come from separate streams of the same seed).")
    caution = provisional(base, seeds)
    if caution:
        doc.paragraph(f"**{caution}**")
    doc.paragraph(
        "Numbers are mean [95% CI] over seeds, the CI being mean +- t(0.975, n-1) sd / "
        "sqrt(n), clipped to the values the quantity can take (accuracies and fractions in "
        "[0, 1], losses and sizes >= 0). Runs whose loss became NaN or infinite are counted "
        "as diverged and left out of the means. Training accuracy and loss are measured on "
        "the training set without dropout. Settings are compared seed by seed (the per-seed "
        "difference, its 95% CI and the paired t-test's p-value) on the largest fresh test "
        "sets, far larger than the validation set: the fewest against the most training "
        "samples as one planned comparison; every training-set size against the largest, "
        "every learning rate against the best, each regularizers arm against the book's "
        "setting, and each setting against the next, each such scan with Holm's correction "
        "for its number of comparisons. Where no difference is found, the report gives the "
        "smallest difference the design could have detected (80% power, 5% level): with few "
        "seeds, 'no difference detected' is weak evidence of no difference. Changes within a "
        "run (over epochs, or between test-set sizes for the same model) are called a rise or"
        " a decline when their 95% CI over runs excludes zero (a paired t-test at 5%); a bias "
        "of a test-set size is Holm-corrected over the sizes. The rise of the loss after its "
        "minimum is measured on the fresh test curve from an epoch picked for each run on the "
        "other runs' mean validation curve (a run's validation and test curves share its "
        "epoch-to-epoch wobble, so picking on its own validation would flatter the rise), "
        "Holm-corrected over the training sizes; an onset needs every logged epoch from it to "
        "the end above the picked epoch (each on its own). The spreads of the measured "
        "accuracy on the book's evenly spaced test sets and on i.i.d. ones are compared by "
        "the F-test on their ratio, and called different only when the ratio's 95% CI "
        "excludes 1. The validation-set tables are descriptive: no sentence rests on their "
        "CIs overlapping or not. " + EXPLORER)

    def epochs() -> None:
        epochs_section(doc, tables["epochs"])
        crossed_section(doc, tables.get("crossed", {"rows": []}))

    def lr() -> None:
        lr_section(doc, tables["lr"], base.classes, tables["lr_scan"],
                    tables.get("lr_against"))
        lr_late_section(doc, tables["lr"], base)

    if sheets:
        doc.heading(2, "Answer sheets")
        doc.paragraph("Per question, the answer first, then the claims learners often bring, "
                      "each judged by the number beside it; the sections after these give "
                      "every table behind them.")
        render(doc, list(sheets), level=3)
    sections = {
        "samples": lambda: samples_section(doc, tables["samples"], tables["test_size"],
                                            tables["samples_scan"],
                                            tables.get("test_size_iid"),
                                            tables.get("samples_against")),
        "epochs": epochs,
        "lr": lr,
        "regularizers": lambda: regularizers_section(doc, tables["regularizers"]),
    }
    for name in STUDIES:
        doc.heading(2, QUESTIONS[name])
        if name in studies and (name != "epochs" or "epochs" in tables):
            sections[name]()
        else:
            doc.paragraph(f"Not studied in this run (xpnet study {name} answers it).")
    if "why" in tables:
        why_section(doc, tables["why"])
    if tables.get("panels") and "boundaries.png" in have:
        doc.heading(2, "Decision boundaries")
        doc.paragraph("One seed per picture (the tables above give the spread over seeds). "
                      "Each row contrasts two settings; the background is the class the "
                      "model predicts, the dots are its training data.")
        doc.items([f"{p['row']}: {p['label']} (seed {p['config']['seed']}, "
                   + (f"after {p['epoch']} epochs" if p["row"] != "epochs" else
                      f"{p['config']['train_samples']}/class, lr {p['config']['lr']:g}")
                   + ("; no validation accuracy: no model kept at this epoch)"
                      if math.isnan(p["val_acc"]) else
                      f"; validation accuracy {p['val_acc']:.3f})")
                   for p in tables["panels"]])
        doc.image("boundaries.png", "Decision regions of chosen settings.")
    doc.heading(2, "Data")
    doc.paragraph("results.csv holds every measurement (one row per trial, split, metric and "
                  "epoch or test set); results.sqlite also holds the configurations and the "
                  "saved parameters.")
    doc.blocks = [b for b in doc.blocks if b[0] != "image" or b[1] in have]
    return doc


def write_report(store: Store, out_dir: str | os.PathLike[str], studies: Sequence[str],
                 base: Base, *, keys: Iterable[str] | None = None,
                 inside: bool = True) -> tuple[Path, Path]:
    """Analyze ``store`` (its trials of ``keys`` only, if given), draw the plots, and write
    ``out_dir/report.md``, ``out_dir/report.html``, ``out_dir/answers.md`` (the answer
    sheets, also at the top of the report) and ``out_dir/results.csv``.

    Parameters
    ----------
    store : Store
        The study's results.
    out_dir : path
        Where the files go (the PNGs: samples, test_size, epochs, lr, boundaries).
    studies : sequence of str
        The studies to report ("samples", "epochs", "lr"; or "all").
    base : Base
        The base setting the studies vary (see :class:`~xpnet.experiments.analysis.Base`).
    keys : iterable of str, optional
        Restrict to these trials (a plan's keys), when the store holds others too.
    inside : bool
        Also answer questions 3 to 5 (Adam, softmax, a dense layer) from seeded runs of the
        base preset recorded in explain mode (a few seconds).

    Returns
    -------
    (Path, Path)
        The Markdown and HTML reports.
    """
    out = Path(out_dir)
    names = list(STUDIES) if studies == "all" or "all" in studies else list(studies)
    keys = None if keys is None else list(keys)
    tables = analyze(store, names, base, keys=keys)
    points = seed_points(load(store, keys), base)
    drawn = []
    if "samples" in tables and tables["samples"]["rows"]:
        drawn.append(plots.plot_samples(tables["samples"], out / "samples.png",
                                        points["samples"]))
    if "test_size" in tables and tables["test_size"]["rows"]:
        drawn.append(plots.plot_test_size(tables["test_size"], out / "test_size.png",
                                          tables.get("test_size_iid")))
    if "epochs" in tables and tables["epochs"]["rows"]:
        # every training size the epochs study ran long, as the answer discusses them
        drawn.append(plots.plot_epochs(tables["crossed"]["rows"] or [tables["epochs"]],
                                       out / "epochs.png", points.get("epochs")))
    if "lr" in tables and tables["lr"]["rows"]:
        drawn.append(plots.plot_lr(tables["lr"], out / "lr.png", points["lr"]))
    for panel in tables["panels"]:  # the pictures and the text give one accuracy
        panel["val_acc"] = plots.panel_accuracy(store, panel)
    picture = plots.plot_boundaries(store, base, tables["panels"], out / "boundaries.png")
    if picture is not None:
        drawn.append(picture)
    # the regularizers each trial trained with: trials of one size, rate and length differ
    # only there (the regularizers study's arms)
    wanted = None if keys is None else set(keys)
    trials = [t for t in store.trials() if wanted is None or t["key"] in wanted]
    settings = {}
    for t in trials:
        p = preset_of(t["config"])
        settings[t["key"]] = {"arm": arm_of(t["config"]), "dropout": p.dropout, "l2": p.l2,
                              "l1": p.l1, "decay": p.decay}
    store.export_csv(out / "results.csv", keys, settings)
    seeds = len({t["config"]["seed"] for t in trials})
    images = [p.name for p in drawn]
    sheets = answer_sheets(tables, base, inside=inside)
    for sheet in sheets:
        sheet.figures = [f for f in sheet.figures if f[0] in images]
    write_answers(sheets, out,
                  f"Answer sheets: preset {base.preset}, {seeds} seed{'s' if seeds != 1 else ''}",
                  provisional(base, seeds))
    doc = build_report(tables, names, base, seeds=seeds, images=images, sheets=sheets)
    md, page = out / "report.md", out / "report.html"
    atomic_write_bytes(md, doc.markdown().encode())
    atomic_write_bytes(page, doc.html(f"xpnet study: {base.preset}").encode())
    return md, page
