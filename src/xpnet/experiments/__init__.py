"""The experiment lab: sweeps over sample sizes, epochs and learning rates, repeated over
seeds, stored as they finish (resumable), run in parallel locally or on a Dask cluster.

>>> from xpnet.experiments import plan
>>> trials = plan(["lr"], grid="quick", seeds=2)
>>> len(trials), sorted({t.lr for t in trials})
(8, [0.001, 0.01, 0.05, 0.5])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# the plan is light, and imported here so that `plan` names the function, not its module
# (importing the module later would otherwise set the package's name to the module)
from .plan import GRIDS, STUDIES, Trial, log_epochs, plan

if TYPE_CHECKING:
    from .analysis import Base, analyze, load
    from .report import write_report
    from .runner import run
    from .store import COLUMNS, Store
    from .study import finish, run_study
    from .trial import run_trial, run_trials

#: where each name of the package lives: its modules load when a name is first used, so a
#: study's worker process, which needs only the trials, does not load the analysis (SciPy's
#: statistics, seconds on a busy machine) before its first trial
_MODULES = {"Base": "analysis", "analyze": "analysis", "load": "analysis",
            "write_report": "report", "run": "runner", "COLUMNS": "store",
            "Store": "store", "finish": "study", "run_study": "study", "run_trial": "trial",
            "run_trials": "trial"}

__all__ = ["COLUMNS", "GRIDS", "STUDIES", "Base", "Store", "Trial", "analyze", "finish", "load",
           "log_epochs", "plan", "run", "run_study", "run_trial", "run_trials", "write_report"]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
