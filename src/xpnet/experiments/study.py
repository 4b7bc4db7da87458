"""A whole study, as ``xpnet study`` runs it: plan, run (resumably), export and report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import validate
from ..errors import StudyError
from ..files import FolderLock, atomic_write_bytes, output_folder
from .explorer import write_explorer
from .plan import GRIDS, Trial, plan, refine_lr, study_names
from .runner import Progress, run
from .store import Store

__all__ = ["PLAN_FILE", "describe", "finish", "refine_trials", "run_study"]

#: The plan's description, kept in the output folder so that --resume continues that plan.
PLAN_FILE = "study.json"


def run_study(
    studies: str | Sequence[str],
    out: str | os.PathLike[str] = "xpnet-study",
    *,
    preset: str = "ch15",
    quick: bool = False,
    seeds: int | None = None,
    train_samples: tuple[int, ...] | None = None,
    test_samples: tuple[int, ...] | None = None,
    epochs: int | None = None,
    lr: tuple[float, ...] | None = None,
    backend: str = "numpy",
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    group_size: int = 32,
) -> dict[str, Any]:
    """Run ``studies`` ("samples", "epochs", "lr", "regularizers" or "all") and write the
    results table, plots, report, answer sheets and explorer to ``out``; returns ``{"ran",
    "skipped", "stored", "outputs", "notes"}``.

    ``epochs`` is the length of the epochs study's runs; the other studies train for the
    preset's epochs (the quick grid's fewer). Once the lr study's trials are stored, its
    grid is refined around the best rate (:func:`refine_trials`) and those trials run too.
    With ``resume``, trials already stored in ``out`` are not run again; without it, a
    non-empty ``out`` is refused. ``out`` is locked while the study runs, and records its
    plan (``study.json``): a second run on it is refused. Resuming with a plan that adds
    trials to it (more seeds, training sizes or learning rates, another study) runs only
    the new ones, keeps the stored ones and records the larger plan (``notes`` says so);
    one that would change or drop stored trials (another preset, grid, epoch count or
    test sizes, fewer seeds) is refused.

    Every argument is checked before anything is written to ``out``.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong kind or out of range (the message says the fix).
    StudyError
        When ``out`` is in use by another run, holds trials and ``resume`` is False, or
        holds a plan this one does not extend (the message says what differs).
    """
    # every argument is checked here, before the folder, its lock or its database exist
    names = study_names(studies)
    quick = validate.flag("quick", quick)
    resume = validate.flag("resume", resume)
    if workers is not None:
        workers = validate.positive_int("workers", workers)
    group_size = validate.positive_int("group_size", group_size)
    if epochs is not None:  # named as given (plan() calls it long_epochs)
        epochs = validate.positive_int("epochs", epochs)
    if dask is not None and (not isinstance(dask, str) or not dask.strip()):
        msg = (f"dask must be 'local' or a scheduler's address such as 'tcp://HOST:8786', got "
               f"{validate.describe(dask)}; or leave it out (None) to run on this machine.")
        raise (ValueError if isinstance(dask, str) else TypeError)(msg)
    if progress is not None and not callable(progress):
        msg = (f"progress must be a function progress(done, total, trial), called after each "
               f"stored trial, got {validate.describe(progress)}; or leave it out (None).")
        raise TypeError(msg)
    outdir = output_folder("out", out)
    for given, value, study, what in (
            ("epochs", epochs, "epochs", "the length of the epochs study's long runs"),
            ("lr", lr, "lr", "the learning rates the lr study compares"),
            ("train_samples", train_samples, "samples",
             "the training sizes the samples study compares")):
        if value is not None and study not in names:
            msg = (f"{given} (--{given.replace('_', '-')}) sets {what}, but this run has no "
                   f"{study} study "
                   f"({', '.join(names)}): it would change nothing. Leave it out, or run "
                   f"'xpnet study {study}' (or 'all').")
            raise ValueError(msg)
    trials = plan(names, preset=preset, grid="quick" if quick else "default", seeds=seeds,
                  train_samples=train_samples, test_samples=test_samples, long_epochs=epochs,
                  lr=lr, backend=backend)
    with FolderLock(outdir) as lock, Store(outdir) as store:
        stored = store.keys()
        if stored and not resume:
            msg = (f"{str(outdir)!r} already holds {len(stored)} stored trials; pass "
                   "resume=True (--resume) to continue, skipping them, or choose another "
                   "output directory.")
            raise StudyError(msg)
        added = _check_plan(outdir, {"quick": quick, **describe(names, trials)},
                            fresh=not stored)
        if resume and not stored:  # a mistyped folder would otherwise pass unseen
            added = (f"nothing to resume in {str(outdir)!r} (no trials stored there): "
                     "a new study starts")
        counts = run(trials, store, workers=workers, dask=dask, progress=progress,
                     group_size=group_size)
        fine = refine_trials(store, trials, GRIDS["quick" if quick else "default"]["refine"])
        if fine:
            more = run(fine, store, workers=workers, dask=dask, progress=progress,
                       group_size=group_size)
            counts = {k: counts[k] + more[k] for k in counts}
        outputs = finish(store, outdir, names, trials + fine)
    return {**counts, "outputs": outputs,
            "notes": [note for note in (lock.note, added) if note]}


def refine_trials(store: Store, trials: Sequence[Trial], per_side: int) -> list[Trial]:
    """The lr study's second pass: ``per_side`` learning rates on each side of its best
    rate, between it and its neighbours (:func:`~xpnet.experiments.plan.refine_lr`), for
    every seed; tagged ``"refine"``. The best rate has the highest mean test accuracy on
    the largest fresh test sets over the stored runs that finished. Empty without lr
    trials or results (a rerun computes the same trials from the same stored results)."""
    from .frame import finished, largest_test, load

    coarse = [t for t in trials if "lr" in t.studies]
    if not coarse or per_side < 1:
        return []
    _, tests = largest_test(finished(load(store, [t.key for t in coarse])))
    by_lr: dict[float, list[float]] = {}
    for t in coarse:
        if t.key in tests.index:
            by_lr.setdefault(t.lr, []).append(float(tests.at[t.key, "acc"]))
    if not by_lr:
        return []
    best = max(by_lr, key=lambda lr: sum(by_lr[lr]) / len(by_lr[lr]))
    rates = refine_lr(best, tuple(sorted({t.lr for t in coarse})), per_side)
    base = {t.seed: t for t in coarse if t.lr == best}
    # test_points: only the base setting measures the test-set size's effect
    return [replace(t, lr=rate, test_points=0, studies=("lr", "refine"))
            for t in base.values() for rate in rates]


def describe(studies: Sequence[str], trials: Sequence[Trial]) -> dict[str, Any]:
    """What a plan is, read from its trials: the studies, preset, backend and the grid's
    values (what ``--resume`` must find unchanged)."""
    def values(field: str) -> list[Any]:
        return sorted({getattr(t, field) for t in trials})

    return {
        "studies": sorted(studies), "preset": values("preset"), "backend": values("backend"),
        "seeds": len(values("seed")), "train_samples": values("train_samples"),
        "lr": values("lr"), "epochs": values("epochs"),
        "test_samples": sorted({n for t in trials for n in t.test_samples}),
        "trials": sorted(t.key for t in trials),
    }


def _check_plan(outdir: Path, plan_now: dict[str, Any], fresh: bool) -> str | None:
    """Record the plan in ``outdir``, or refuse one that differs from the plan there
    (unless the folder is ``fresh``: no trial stored, nothing to mix).

    A plan that keeps every trial of the one there and adds others (more seeds, more
    training sizes or learning rates, another study) extends it: it is recorded, and the
    returned note says what it adds (the stored trials are kept and not run again). A plan
    that would change or drop stored trials (another epoch count, test sizes, preset,
    backend or grid) is refused."""
    path = outdir / PLAN_FILE
    if fresh:
        atomic_write_bytes(path, json.dumps(plan_now, indent=1).encode())
        return None
    try:
        before = json.loads(path.read_text())
    except FileNotFoundError:
        before = None
    except (OSError, ValueError) as exc:
        msg = (f"{str(path)!r} is not a readable study plan ({exc}); move {str(outdir)!r} "
               "away or choose another output directory (--out OTHER_DIR).")
        raise StudyError(msg) from exc
    if before is not None and "quick" not in before:  # a plan recorded before it said so
        plan_now = {k: v for k, v in plan_now.items() if k != "quick"}
    if before is not None and before != plan_now:
        differs = "; ".join(
            _difference(key, before.get(key), plan_now[key])
            for key in plan_now if key != "trials" and before.get(key) != plan_now[key])
        kept = set(before.get("trials") or ())
        if not kept or not kept <= set(plan_now["trials"]) or (
                before.get("quick") != plan_now.get("quick")):
            msg = (f"{str(outdir)!r} holds another study ({differs or 'other trials'}). "
                   "--resume can add trials to it (more --seeds, more --train-samples or "
                   "--lr values, another study) but not change or drop the stored ones: "
                   "resume it with the arguments that started it, or more of them, or write "
                   "this study to another folder (--out OTHER_DIR).")
            raise StudyError(msg)
        atomic_write_bytes(path, json.dumps(plan_now, indent=1).encode())
        new = len(plan_now["trials"]) - len(kept)
        return (f"the plan in {str(outdir)!r} is extended ({differs}): {new} new trial"
                f"{'s' if new != 1 else ''} beside its {len(kept)} planned ones, which are "
                "kept as stored")
    if before is None:
        atomic_write_bytes(path, json.dumps(plan_now, indent=1).encode())
    return None


def _difference(key: str, before: Any, now: Any) -> str:
    """One difference between two plans, by the argument that sets it: ``quick`` sets the
    grid, and with it the epochs, rates and test sizes (named after it, as consequences)."""
    if key == "quick":
        return f"quick (--quick): {before} there, {now} now"
    return f"{key}: {_brief(before)} there, {_brief(now)} now"


def _brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def finish(store: Store, outdir: Path, studies: Sequence[str],
           trials: Sequence[Trial]) -> list[Path]:
    """Write the results table (``results.csv``), the plots, the report (``report.md``,
    ``report.html``), the answer sheets (``answers.md``) and the explorer
    (``explorer.html``) of ``trials`` to ``outdir``; returns their paths."""
    # pandas, SciPy and matplotlib load when a report is written, not with every import of
    # the lab (the worker processes never need them)
    from .analysis import Base
    from .report import write_report

    md, html = write_report(store, outdir, studies, Base.from_plan(trials),
                            keys=[t.key for t in trials])
    explorer = write_explorer(store, outdir, trials)
    return [outdir / "results.csv", *sorted(outdir.glob("*.png")), outdir / "answers.md", md,
            html, explorer]
