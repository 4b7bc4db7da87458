"""A whole study, as ``xpnet study`` runs it: plan, run (resumably), export and report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .plan import STUDIES, Trial, plan
from .runner import Progress, run
from .store import Store

__all__ = ["finish", "run_study"]


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
    """Run ``studies`` ("samples", "epochs", "lr" or "all") and write the results table,
    plots and report to ``out``; returns ``{"ran", "skipped", "stored", "outputs"}``.

    ``epochs`` is the length of the epochs study's runs; the other studies train for the
    preset's epochs (the quick grid's fewer). With ``resume``, trials already stored in
    ``out`` are not run again; without it, a non-empty ``out`` is refused.
    """
    names = list(STUDIES) if studies == "all" else [studies] if isinstance(
        studies, str) else list(studies)
    trials = plan(names, preset=preset, grid="quick" if quick else "default", seeds=seeds,
                  train_samples=train_samples, test_samples=test_samples, long_epochs=epochs,
                  lr=lr, backend=backend)
    outdir = Path(out)
    with Store(outdir) as store:
        stored = store.keys()
        if stored and not resume:
            msg = (f"{str(outdir)!r} already holds {len(stored)} stored trials; pass "
                   "resume=True (--resume) to continue, skipping them, or choose another "
                   "output directory.")
            raise FileExistsError(msg)
        counts = run(trials, store, workers=workers, dask=dask, progress=progress,
                     group_size=group_size)
        outputs = finish(store, outdir, names, trials)
    return {**counts, "outputs": outputs}


def finish(store: Store, outdir: Path, studies: Sequence[str],
           trials: Sequence[Trial]) -> list[Path]:
    """Write the results table (``results.csv``), the plots and the report (``report.md``,
    ``report.html``) of ``trials`` to ``outdir``; returns their paths."""
    from .analysis import Base
    from .report import write_report

    md, html = write_report(store, outdir, studies, Base.from_plan(trials),
                            keys=[t.key for t in trials])
    return [outdir / "results.csv", *sorted(outdir.glob("*.png")), md, html]
