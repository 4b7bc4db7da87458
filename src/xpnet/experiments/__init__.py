"""The experiment lab: sweeps over sample sizes, epochs and learning rates, repeated over
seeds, stored as they finish (resumable), run in parallel locally or on a Dask cluster.

>>> from xpnet.experiments import plan
>>> trials = plan(["lr"], grid="quick", seeds=2)
>>> len(trials), sorted({t.lr for t in trials})
(8, [0.001, 0.01, 0.05, 0.5])
"""

from __future__ import annotations

from .analysis import Base, analyze, load
from .plan import GRIDS, STUDIES, Trial, log_epochs, plan
from .report import write_report
from .runner import run
from .store import COLUMNS, Store
from .study import finish, run_study
from .trial import run_trial, run_trials

__all__ = ["COLUMNS", "GRIDS", "STUDIES", "Base", "Store", "Trial", "analyze", "finish", "load",
           "log_epochs", "plan", "run", "run_study", "run_trial", "run_trials", "write_report"]
