"""The benchmark suite behind ``xpnet bench``: xpnet against the book's plain-NumPy code and
PyTorch (eager and ``torch.compile``) on the reference, wide and big workloads.

* :mod:`~xpnet.bench.workloads`: the cases and their analytic cost (FLOPs, bytes moved,
  bytes needed);
* :mod:`~xpnet.bench.contenders`: one training loop per contender;
* :mod:`~xpnet.bench.ceilings`: the machine's matrix-product and memory-bandwidth ceilings;
* :mod:`~xpnet.bench.harness`: :func:`run_suite`, the fair timing loop, returning a dict.

>>> from xpnet.bench import CASES
>>> list(CASES)
['reference', 'reference_dropout', 'wide', 'wide_dropout', 'big', 'big_dropout']
"""

from __future__ import annotations

from .ceilings import Ceilings
from .contenders import CONTENDERS, Unavailable
from .harness import run_suite, save
from .workloads import CASES, Workload

__all__ = ["CASES", "CONTENDERS", "Ceilings", "Unavailable", "Workload", "run_suite", "save"]
